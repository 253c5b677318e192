import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
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
import { MqttEndpoint } from './mqtt-endpoint';

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
  readonly counters = { received: 0, invalid: 0, handlerErrors: 0 };

  constructor(
    private readonly config: CloudConfig,
    private readonly endpoint: MqttEndpoint,
    private readonly deadLetters: DeadLetterRepository,
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
    // mqtt.js hands each PUBLISH to handleMessage and sends the PUBACK when it calls back: handling one
    // message at a time and acknowledging only after the handler persisted it (a prediction batch in Redis)
    client.handleMessage = (packet, done) => {
      const receivedAt = new Date();
      this.queue = this.dispatch(packet.topic, packet.payload as Buffer, receivedAt).then(
        () => done(),
        () => done(),
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
    await this.queue.catch(() => undefined);
    await this.client?.endAsync().catch(() => undefined);
  }

  private async dispatch(topic: string, payload: Buffer, receivedAt: Date): Promise<void> {
    this.counters.received++;
    const decoded = decodeDeviceMessage(topic, payload);
    if (!decoded.ok) {
      this.counters.invalid++;
      this.logger.warn(`invalid message on ${topic.slice(0, 200)}: ${decoded.error.code}: ${decoded.error.message.slice(0, 300)}`);
      await this.deadLetters
        .record({ source: 'mqtt', topic, code: decoded.error.code, message: decoded.error.message, payload })
        .catch((err: Error) => this.logger.error(`could not dead-letter a message: ${err.message}`));
      return;
    }
    const handler = this.handlers.get(decoded.value.kind);
    if (!handler) return;
    try {
      await handler(decoded.value, receivedAt);
    } catch (err) {
      this.counters.handlerErrors++;
      this.logger.error(`handling ${decoded.value.kind} from ${decoded.value.deviceId} failed: ${(err as Error).stack ?? err}`);
    }
  }
}
