import { deviceClientId, MQTT_QOS, statusMessage, topics } from '@edgeloop/contracts';
import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import { EventEmitter } from 'node:events';
import type { MqttSettings } from '../config/edge.config';
import { Logger } from '../logger';

export interface DeviceChannelEvents {
  /** Connected (again): the session's queued publishes were handed to the broker first. */
  connected: [];
  disconnected: [];
  /**
   * A message on the device's desired topic. Call `done` once it is handled (persisted): the PUBACK goes
   * out then, so a crash before it gets the message delivered again.
   */
  desired: [payload: Buffer, done: () => void];
  /** A message on a topic the device never subscribed to (counted, dropped). */
  unexpected: [topic: string];
}

/**
 * The device's MQTT session (mqtt.js), the worker's only MQTT I/O. Persistent session (clean: false) with
 * client id = username = device id, QoS 1, a retained `offline` last will composed at each connect, retained
 * `online` after each connect, and its own `desired` subscribed after each connect (so the retained desired
 * state is delivered again). mqtt.js reconnects by itself.
 */
export class DeviceChannel extends EventEmitter<DeviceChannelEvents> {
  private readonly logger = new Logger(DeviceChannel.name);
  private client: MqttClient | undefined;
  private readonly desiredTopic: string;
  private readonly statusTopic: string;
  private lastError = '';

  constructor(
    private readonly settings: MqttSettings,
    private readonly deviceId: string,
    private readonly agentVersion: string,
  ) {
    super();
    this.desiredTopic = topics.desired(deviceId);
    this.statusTopic = topics.status(deviceId);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  start(): void {
    const client = connect(this.settings.url, {
      clientId: deviceClientId(this.deviceId),
      username: this.settings.username,
      ...(this.settings.password !== undefined ? { password: this.settings.password } : {}),
      clean: false,
      resubscribe: false,
      reconnectPeriod: this.settings.reconnectMs,
      connectTimeout: 10_000,
      keepalive: this.settings.keepaliveS,
      will: { topic: this.statusTopic, payload: this.willPayload(), qos: MQTT_QOS, retain: true },
    });
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.onPublish(packet, done);
    client.on('connect', () => this.onConnect(client));
    client.on('reconnect', () => {
      // The will names the start of the session it ends.
      if (client.options.will) client.options.will.payload = this.willPayload();
    });
    client.on('close', () => {
      if (this.listenerCount('disconnected') > 0) this.emit('disconnected');
    });
    client.on('offline', () => this.logger.warn(`broker ${this.settings.url} unreachable; reconnecting every ${this.settings.reconnectMs} ms`));
    client.on('error', (err: Error & { code?: unknown }) => {
      const text = `mqtt: ${err.message}${err.code !== undefined ? ` (code ${String(err.code)})` : ''}`;
      if (text !== this.lastError) this.logger.warn(text);
      this.lastError = text;
    });
  }

  /** Publishes with QoS 1; resolves on the broker's PUBACK. */
  publish(topic: string, payload: string | Buffer, options: { retain: boolean }): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the MQTT channel is not started'));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: MQTT_QOS, retain: options.retain }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Publishes `offline` (a clean disconnect does not fire the will), then ends the session. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    if (client.connected) {
      await withTimeout(
        new Promise<void>((resolve) =>
          client.publish(this.statusTopic, JSON.stringify(statusMessage('offline', Date.now(), this.agentVersion)), { qos: MQTT_QOS, retain: true }, () => resolve()),
        ),
        2_000,
      );
    }
    await withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), 3_000);
    client.end(true);
    client.removeAllListeners();
    client.on('error', () => undefined);
  }

  private onConnect(client: MqttClient): void {
    this.lastError = '';
    this.logger.info(`connected to ${this.settings.url} as ${this.deviceId}`);
    const online = JSON.stringify(statusMessage('online', Date.now(), this.agentVersion));
    client.publish(this.statusTopic, online, { qos: MQTT_QOS, retain: true }, () => undefined);
    this.emit('connected');
    client.subscribe(this.desiredTopic, { qos: MQTT_QOS }, (err, granted) => {
      if (err) this.logger.warn(`subscribe ${this.desiredTopic}: ${err.message}`);
      else if (granted?.some((g) => g.qos > 2)) this.logger.error(`the broker refused the subscription to ${this.desiredTopic}`);
    });
  }

  private onPublish(packet: IPublishPacket, done: (error?: Error) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic !== this.desiredTopic) {
      this.emit('unexpected', packet.topic);
      done();
      return;
    }
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      done();
    };
    if (this.listenerCount('desired') === 0) once();
    else this.emit('desired', payload, once);
  }

  private willPayload(): string {
    return JSON.stringify(statusMessage('offline', Date.now(), this.agentVersion));
  }
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
