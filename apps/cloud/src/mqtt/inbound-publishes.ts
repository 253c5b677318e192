import type { IPublishPacket, MqttClient } from 'mqtt';

/** What `client.handleMessage`'s callback is given to let mqtt.js read on without sending the PUBACK. */
const ACKNOWLEDGED_LATER = new Error('acknowledged once handled');

interface Received {
  packet: IPublishPacket;
  receivedAt: Date;
  /** The connection it came on: a PUBACK goes on that connection or not at all. */
  stream: MqttClient['stream'];
}

/** mqtt.js's own send path (not in its public typings): a PUBACK written there is ordered with its other packets. */
interface PacketSender {
  _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: (err?: Error) => void): void;
}

/** Messages of different devices handled at the same time at most. */
const MAX_IN_HAND = 32;

/**
 * A client's incoming PUBLISHes, each QoS 1 PUBACK sent only once its handler resolved — without holding the
 * client's reading of packets. The messages of one device (one topic prefix `…/devices/{id}/`) are handled one
 * at a time in arrival order; those of different devices at the same time (up to 32), so one Redis round trip
 * per message does not bound a replica's intake. PUBACKs go out in arrival order.
 *
 * Waiting messages are queued per device, and the devices with waiting messages take turns (one message each per
 * turn): a device with thousands of messages waiting (a flood the quotas do not refuse on arrival, such as garbage
 * from a group without quota, until its quarantine) delays another device's message by at most one of its own.
 * Before, the next message was looked for among the first 256 waiting, so another device's message behind a
 * longer backlog waited for all of it.
 *
 * mqtt.js reads the packets of a connection in order and reads the next one only when `handleMessage`'s
 * callback has been called (the callback sends the PUBACK, then reads on). Holding that callback until a
 * handler is done therefore also holds the SUBACK of a subscribe, the PINGRESP (after 1.5 × keep-alive the
 * client drops the connection: `Keepalive timeout`) and the PUBACKs of the client's own publishes. A handler
 * that waits for anything — Redis, the app's init hooks, a publish of its own — stalled the whole connection:
 * a cloud restarted while its persistent session held queued batches could not get its SUBACK and exited at
 * boot with `Connection closed`.
 *
 * Here the callback is called at once with an error, which makes mqtt.js read on without a PUBACK; the message
 * is queued and the PUBACK written when its handler resolved, on the connection it came on. A message whose
 * connection is gone by then is not acknowledged: the broker sends it again on the next connection of a
 * persistent session, or to another subscriber of a share group. The broker's in-flight window
 * (`max_inflight_messages`, the receive maximum) bounds how many wait here unacknowledged. QoS 0 messages are
 * handled in the same order; QoS 2 is not subscribed.
 */
export class InboundPublishes {
  /** Waiting messages per device, in arrival order; a device's place in the map is its turn. */
  private readonly waiting = new Map<string, Received[]>();
  private waitingCount = 0;
  /** Messages started, in arrival order, until acknowledged (or left unacknowledged). */
  private readonly started: Array<Received & { done: boolean; handled: boolean }> = [];
  /** Devices (topic prefixes) with a message in hand. */
  private readonly busy = new Set<string>();
  private readonly inHand = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly client: MqttClient,
    /** Resolves once the message may be acknowledged; rejects to leave it unacknowledged. */
    private readonly handle: (packet: IPublishPacket, receivedAt: Date) => Promise<void>,
  ) {
    client.handleMessage = (packet, readOn) => {
      const device = deviceOf(packet.topic);
      const queue = this.waiting.get(device);
      const received = { packet, receivedAt: new Date(), stream: client.stream };
      if (queue) queue.push(received);
      else this.waiting.set(device, [received]);
      this.waitingCount++;
      this.drain();
      readOn(packet.qos === 1 ? ACKNOWLEDGED_LATER : undefined);
    };
  }

  /** Messages received and not yet handled (those in hand excluded). */
  get depth(): number {
    return this.waitingCount;
  }

  /** Handles no further message; resolves once those in hand are done. Queued ones stay unacknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.clear();
    this.waitingCount = 0;
    await Promise.all([...this.inHand]);
  }

  /**
   * Starts the oldest waiting message of every device that has none in hand, devices in turn, up to `MAX_IN_HAND`.
   * A device started goes to the back of the turns; at most `MAX_IN_HAND` devices are busy, so the loop skips at most
   * that many.
   */
  private drain(): void {
    let skipped = 0;
    for (const [device, queue] of this.waiting) {
      if (this.inHand.size >= MAX_IN_HAND || this.stopped || skipped > MAX_IN_HAND) break;
      if (this.busy.has(device)) {
        skipped++;
        continue;
      }
      const next = queue.shift()!;
      this.waiting.delete(device);
      // its turn taken: to the back, after every device that has waited since (a Map iterates entries added meanwhile)
      if (queue.length > 0) this.waiting.set(device, queue);
      this.waitingCount--;
      this.busy.add(device);
      const entry = { ...next, done: false, handled: false };
      this.started.push(entry);
      const running: Promise<void> = this.handle(next.packet, next.receivedAt).then(
        () => {
          entry.handled = true;
        },
        () => undefined,
      );
      const tracked = running.finally(() => {
        entry.done = true;
        this.busy.delete(device);
        this.inHand.delete(tracked);
        this.acknowledgeInOrder();
        this.drain();
      });
      this.inHand.add(tracked);
    }
  }

  /** PUBACKs of the oldest started messages that are done, in arrival order. */
  private acknowledgeInOrder(): void {
    while (this.started.length > 0 && this.started[0]!.done) {
      const entry = this.started.shift()!;
      if (entry.handled) this.acknowledge(entry);
    }
  }

  private acknowledge({ packet, stream }: Received): void {
    if (packet.qos !== 1 || packet.messageId === undefined) return;
    // a later connection: the broker redelivers it there (or to another subscriber); a PUBACK sent there could
    // acknowledge another message that got the same id
    if (!this.client.connected || this.client.stream !== stream) return;
    (this.client as unknown as PacketSender)._sendPacket({ cmd: 'puback', messageId: packet.messageId });
  }
}

/** A device's messages share the topic up to their last level (`edgeloop/v1/devices/{id}/`); other topics are their own. */
function deviceOf(topic: string): string {
  return topic.slice(0, topic.lastIndexOf('/') + 1) || topic;
}
