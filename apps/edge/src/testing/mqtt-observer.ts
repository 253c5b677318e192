import { decodePredictionBatch, looseAckedItem, MESSAGE_VERSION, PAYLOAD_LIMITS, predictionBatchEncoding, topics, type DeviceAck } from '@edgeloop/contracts';
import { connect, type MqttClient } from 'mqtt';

export interface ObservedMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** The payload as a value: JSON parsed, a prediction batch in the `columns` encoding decoded (undefined when unreadable). */
  json: unknown;
}

/** What a device sent, as the value it encodes: JSON, or a `columns` batch decoded as the cloud decodes it. */
function readPayload(payload: Buffer): unknown {
  if (payload.length === 0) return undefined;
  if (predictionBatchEncoding(payload) === 'columns') {
    const batch = decodePredictionBatch(payload, PAYLOAD_LIMITS.predictions);
    return batch.ok ? batch.value : undefined;
  }
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Plays the cloud on the broker in edge tests: publishes desired states and collects what devices
 * publish, with waits on a predicate. A persistent session (clean: false) keeps QoS 1 messages queued
 * for it across a broker restart. Like the cloud, it acknowledges every prediction batch and hard example
 * it receives on the device's `acks` topic (unless `ack: false`), which is what empties a device's outbox.
 */
export class MqttObserver {
  readonly messages: ObservedMessage[] = [];
  private readonly waiters: Array<() => void> = [];

  /** Acks published (one per batch or hard example received). */
  acked = 0;

  private constructor(
    readonly client: MqttClient,
    private readonly ack: boolean,
  ) {
    client.on('message', (topic, payload, packet) => {
      if (this.ack) this.acknowledge(topic, payload);
      this.messages.push({ topic, payload, retain: packet.retain, json: readPayload(payload) });
      for (const wake of this.waiters.splice(0)) wake();
    });
    client.on('error', () => undefined);
  }

  static async connect(url: string, filters: string[], options: { clientId?: string; clean?: boolean; ack?: boolean } = {}): Promise<MqttObserver> {
    const client = connect(url, {
      clientId: options.clientId ?? `edge-test-observer-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
      clean: options.clean ?? true,
      reconnectPeriod: 200,
    });
    const observer = new MqttObserver(client, options.ack ?? true);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 });
    return observer;
  }

  publish(topic: string, payload: string | Buffer, retain = true): Promise<void> {
    return this.client.publishAsync(topic, payload, { qos: 1, retain }).then(() => undefined);
  }

  on(topic: string): ObservedMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Resolves with the first message (from the start, or after `since`) on `topic` that satisfies `test`. */
  async waitFor<T = unknown>(topic: string, test: (json: T) => boolean, timeoutMs = 20_000, since = 0): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(since).find((m) => m.topic === topic && m.json !== undefined && test(m.json as T));
      if (found) return found.json as T;
      const left = deadline - Date.now();
      if (left <= 0) {
        const last = this.on(topic).at(-1);
        throw new Error(`no message on ${topic} matched within ${timeoutMs} ms; last: ${last ? last.payload.toString().slice(0, 600) : 'none'}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private acknowledge(topic: string, payload: Buffer): void {
    const received = looseAckedItem(topic, payload);
    if (!received) return;
    const message: DeviceAck = { v: MESSAGE_VERSION, deviceId: received.deviceId, ts: Date.now(), acks: [received.item] };
    this.acked++;
    this.client.publish(topics.acks(received.deviceId), JSON.stringify(message), { qos: 1, retain: false }, () => undefined);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}
