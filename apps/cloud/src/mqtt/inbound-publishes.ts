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

/**
 * A client's incoming PUBLISHes, handled one at a time in arrival order, each QoS 1 PUBACK sent only once its
 * handler resolved — without holding the client's reading of packets.
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
  private readonly waiting: Received[] = [];
  private draining: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly client: MqttClient,
    /** Resolves once the message may be acknowledged; rejects to leave it unacknowledged. */
    private readonly handle: (packet: IPublishPacket, receivedAt: Date) => Promise<void>,
  ) {
    client.handleMessage = (packet, readOn) => {
      this.waiting.push({ packet, receivedAt: new Date(), stream: client.stream });
      this.drain();
      readOn(packet.qos === 1 ? ACKNOWLEDGED_LATER : undefined);
    };
  }

  /** Messages received and not yet handled (the one in hand excluded). */
  get depth(): number {
    return this.waiting.length;
  }

  /** Handles no further message; resolves once the one in hand is done. Queued ones stay unacknowledged. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.length = 0;
    await this.draining;
  }

  private drain(): void {
    if (this.draining || this.stopped) return;
    this.draining = (async () => {
      for (let next = this.waiting.shift(); next && !this.stopped; next = this.waiting.shift()) {
        const handled = await this.handle(next.packet, next.receivedAt).then(
          () => true,
          () => false,
        );
        if (handled) this.acknowledge(next);
      }
    })().finally(() => {
      this.draining = undefined;
    });
  }

  private acknowledge({ packet, stream }: Received): void {
    if (packet.qos !== 1 || packet.messageId === undefined) return;
    // a later connection: the broker redelivers it there (or to another subscriber); a PUBACK sent there could
    // acknowledge another message that got the same id
    if (!this.client.connected || this.client.stream !== stream) return;
    (this.client as unknown as PacketSender)._sendPacket({ cmd: 'puback', messageId: packet.messageId });
  }
}
