import type { Logger } from '@nestjs/common';
import { MAX_ACKS_PER_MESSAGE, MESSAGE_VERSION, MQTT_QOS, topics, type AckedItem, type DeviceAck } from '@edgeloop/contracts';
import type { MqttClient } from 'mqtt';

/** How long an ack waits for others to the same device before it is published (a device's backlog flush acks in few messages). */
export const ACK_GATHER_MS = 5;

/**
 * The cloud's application acknowledgements (`…/{id}/acks`, QoS 1, not retained): once a device's batch or
 * hard example is durably accepted — a job in Redis, a duplicate of one, or dead-lettered in SQL — its key
 * is published to the device, which deletes the row from its outbox only then. The broker's PUBACK is not
 * enough for that: Mosquitto acknowledges, then drops, a message no subscriber takes (after a restart,
 * before the cloud has subscribed again).
 *
 * Acks to one device gathered within `ACK_GATHER_MS` (or up to `MAX_ACKS_PER_MESSAGE`) go out as one message.
 * An ack that cannot be published (the cloud's connection is down) is dropped: the device sends the row
 * again after its ack timeout, the cloud finds the duplicate and acknowledges it then.
 */
export class DeviceAcks {
  private readonly pending = new Map<string, AckedItem[]>();
  private timer: NodeJS.Timeout | undefined;
  readonly counters = { messages: 0, items: 0, notPublished: 0 };

  constructor(
    private readonly client: MqttClient,
    private readonly log: Logger,
  ) {}

  /** Queues the ack of one accepted message. */
  add(deviceId: string, item: AckedItem): void {
    let items = this.pending.get(deviceId);
    if (!items) this.pending.set(deviceId, (items = []));
    items.push(item);
    if (items.length >= MAX_ACKS_PER_MESSAGE) this.publish(deviceId, this.take(deviceId));
    else this.timer ??= setTimeout(() => this.flush(), ACK_GATHER_MS);
  }

  /** Publishes every queued ack now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const deviceId of [...this.pending.keys()]) this.publish(deviceId, this.take(deviceId));
  }

  /** Drops what is queued (shutdown: the devices send those rows again to whoever runs next). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const items of this.pending.values()) this.counters.notPublished += items.length;
    this.pending.clear();
  }

  private take(deviceId: string): AckedItem[] {
    const items = this.pending.get(deviceId) ?? [];
    this.pending.delete(deviceId);
    return items;
  }

  private publish(deviceId: string, acks: AckedItem[]): void {
    if (acks.length === 0) return;
    if (!this.client.connected) {
      this.counters.notPublished += acks.length;
      return;
    }
    const message: DeviceAck = { v: MESSAGE_VERSION, deviceId, ts: Date.now(), acks };
    this.counters.messages++;
    this.counters.items += acks.length;
    this.client.publish(topics.acks(deviceId), JSON.stringify(message), { qos: MQTT_QOS, retain: false }, (err) => {
      if (!err) return;
      this.counters.notPublished += acks.length;
      this.log.debug(`acks to ${deviceId} not published (${err.message}); the device sends those rows again`);
    });
  }
}
