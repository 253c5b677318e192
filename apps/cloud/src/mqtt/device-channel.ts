import { Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import {
  cloudSubscriptions,
  decodeDeviceMessage,
  MQTT_QOS,
  topics,
  type DecodedDeviceMessage,
  type DesiredState,
} from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { QuotaService } from '../quotas/quota.service';
import { MqttEndpoint } from './mqtt-endpoint';

/** About ten minutes of back-off (the 5 s ceiling): long enough to ride out a Redis or SQL restart. */
const HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER = 125;

export type DeviceMessageHandler = (message: DecodedDeviceMessage, receivedAt: Date) => Promise<void>;

/**
 * The cloud's MQTT client: publishes retained desired states and reads devices' reported state and
 * presence. Plain mqtt.js (payloads are plain JSON, not Nest's microservice envelope); every message is
 * decoded with the contracts, and an invalid one is counted and dead-lettered, never thrown.
 */
@Injectable()
export class DeviceChannel implements OnApplicationShutdown {
  private readonly logger = new Logger(DeviceChannel.name);
  private client: MqttClient | undefined;
  private readonly handlers = new Map<string, DeviceMessageHandler>();
  private queue: Promise<void> = Promise.resolve();
  readonly counters = { received: 0, invalid: 0, handlerErrors: 0, handlerRetries: 0, overQuota: 0 };
  private closing = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly config: CloudConfig,
    private readonly endpoint: MqttEndpoint,
    private readonly deadLetters: DeadLetterRepository,
    @Optional() private readonly quotas?: QuotaService,
  ) {}

  /** Registers the handler of one message kind (`reported`, `status`, `predictions`, …). */
  on(kind: DecodedDeviceMessage['kind'], handler: DeviceMessageHandler): void {
    this.handlers.set(kind, handler);
  }

  async connect(): Promise<void> {
    const { url, username, password } = await this.endpoint.cloudCredentials();
    const client = mqtt.connect(url, {
      clientId: this.config.mqttClientId ?? `edgeloop-cloud-${randomBytes(6).toString('hex')}`,
      username,
      password,
      // a persistent session (fixed client id) keeps QoS 1 messages queued at the broker while the cloud restarts
      clean: this.config.mqttClientId === undefined,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.on('error', (err) => this.logger.warn(`MQTT: ${err.message}`));
    client.on('reconnect', () => this.logger.debug('MQTT: reconnecting'));
    // mqtt.js hands each PUBLISH to handleMessage and sends the PUBACK only when it calls back without an
    // error: handling one
    // message at a time and acknowledging only after the handler persisted it (a prediction batch in Redis).
    // A handler that fails is retried here with back-off, holding the PUBACK (and, through mqtt.js's
    // one-at-a-time delivery, the messages behind it at the broker); at shutdown the message is left
    // unacknowledged, so a persistent session gets it again.
    client.handleMessage = (packet, done) => {
      const receivedAt = new Date();
      this.queue = this.handleUntilDone(packet.topic, packet.payload as Buffer, receivedAt).then(
        () => done(),
        (err: Error) => done(err),
      );
    };
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const kinds = new Set(this.handlers.keys());
    const subscriptions = cloudSubscriptions(this.config.mqttShareGroup ? { shareGroup: this.config.mqttShareGroup } : {}).filter((s) =>
      [...kinds].some((kind) => s.filter.endsWith(`/${kind}`)),
    );
    if (subscriptions.length > 0) {
      await client.subscribeAsync(subscriptions.map((s) => s.filter), { qos: MQTT_QOS });
    }
    this.logger.log(`connected to ${url}; subscribed to ${subscriptions.map((s) => s.filter).join(', ') || 'nothing'}`);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Publishes (retained, QoS 1) or clears (empty retained payload) a device's desired state. */
  async publishDesired(deviceId: string, desired: DesiredState | null): Promise<void> {
    if (!this.client) throw new Error('the MQTT channel is not connected');
    const payload = desired === null ? '' : JSON.stringify(desired);
    await this.client.publishAsync(topics.desired(deviceId), payload, { qos: MQTT_QOS, retain: true });
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.queue.catch(() => undefined);
    await this.client?.endAsync().catch(() => undefined);
  }

  private async dispatch(topic: string, payload: Buffer, receivedAt: Date): Promise<void> {
    const decoded = decodeDeviceMessage(topic, payload);
    if (!decoded.ok) {
      this.counters.invalid++;
      await this.quotas?.invalid(topic);
      // logged like it is kept: the sampled ones (a flood of garbage is counted, not written out line by line)
      const kept = await this.deadLetters
        .record({ source: 'mqtt', topic, code: decoded.error.code, message: decoded.error.message, payload })
        .catch((err: Error) => {
          this.logger.error(`could not dead-letter a message: ${err.message}`);
          return true;
        });
      if (kept) this.logger.warn(`invalid message on ${topic.slice(0, 200)}: ${decoded.error.code}: ${decoded.error.message.slice(0, 300)}`);
      return;
    }
    const handler = this.handlers.get(decoded.value.kind);
    if (!handler) return;
    await handler(decoded.value, receivedAt);
  }

  /**
   * Runs the handler until it succeeds. Failures are retried with back-off (100 ms doubling to 5 s); after
   * `HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER` failures the message is dead-lettered with the error (kept in SQL
   * for an operator, then acknowledged) so one poison message cannot stop a device's channel for ever —
   * unless dead-lettering fails too, in which case it keeps retrying. Rejects only at shutdown (no PUBACK).
   */
  private async handleUntilDone(topic: string, payload: Buffer, receivedAt: Date): Promise<void> {
    this.counters.received++;
    // over quota (or quarantined): dropped before it is decoded, counted, then acknowledged (docs/quotas.md)
    if (this.quotas && !(await this.quotas.admit(topic, payload.length))) {
      this.counters.overQuota++;
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.dispatch(topic, payload, receivedAt);
        if (attempt > 1) this.logger.log(`${topic.slice(0, 200)} handled after ${attempt} attempts`);
        return;
      } catch (err) {
        this.counters.handlerErrors++;
        const message = (err as Error).message ?? String(err);
        if (this.closing) throw new Error(`not acknowledged at shutdown: ${message}`);
        if (attempt === 1 || attempt % 10 === 0) this.logger.warn(`handling ${topic.slice(0, 200)} failed (attempt ${attempt}), retrying: ${message.slice(0, 300)}`);
        if (attempt >= HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER) {
          const recorded = await this.deadLetters
            .record({ source: 'mqtt', topic, code: 'handler_failed', message: `${attempt} attempts failed; last: ${message}`, payload })
            .then(
              () => true,
              () => false,
            );
          if (recorded) {
            this.logger.error(`${topic.slice(0, 200)} dead-lettered after ${attempt} failed attempts: ${message.slice(0, 300)}`);
            return;
          }
        }
        this.counters.handlerRetries++;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(5000, 100 * 2 ** Math.min(attempt - 1, 6)));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }
}
