import { deviceClientId, MQTT_QOS, statusMessage, topics } from '@edgeloop/contracts';
import type { Socket } from 'node:net';
import { connect, type IPublishPacket, type MqttClient } from 'mqtt';
import { EventEmitter } from 'node:events';
import type { MqttSettings } from '../config/edge.config';
import { Logger } from '../logger';

export interface DeviceChannelEvents {
  /**
   * Connected (again), before any data moves: `online` is out and `desired` subscribed. Publish control
   * state (the reported state) here; `connected` follows and releases the outbox.
   */
  control: [];
  /** Connected (again), after `control`: data (the outbox) may flow. */
  connected: [];
  disconnected: [];
  /**
   * A message on the device's desired topic. Call `done` once it is handled (persisted): the PUBACK goes
   * out then, so a crash before it gets the message delivered again.
   */
  desired: [payload: Buffer, done: () => void];
  /**
   * A message on the device's acks topic: the cloud's acknowledgement of outbox rows, handled synchronously
   * by the listener (rows deleted); its PUBACK goes out when the listener returns.
   */
  ack: [payload: Buffer];
  /** A message on a topic the device never subscribed to (counted, dropped). */
  unexpected: [topic: string];
}

/** Rejects a publish that never reached mqtt.js (the link was down or went down first). */
export class ChannelClosedError extends Error {
  constructor(message = 'the MQTT connection is down') {
    super(message);
    this.name = 'ChannelClosedError';
  }
}

interface DataPublish {
  topic: string;
  payload: string | Buffer;
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The device's MQTT session (mqtt.js), the worker's only MQTT I/O. Persistent session (clean: false) with
 * client id = username = device id, QoS 1, a retained `offline` last will composed at each connect, retained
 * `online` after each connect, and its own `desired` and `acks` subscribed after each connect (so the retained
 * desired state is delivered again). mqtt.js reconnects by itself.
 *
 * Weak links: nothing is queued while the link is down, and nothing written into a dead link is replayed.
 * A publish while disconnected is refused; when a connection closes, every publish still awaiting its
 * PUBACK is taken out of mqtt.js's session store and its caller told (`Message removed`): state is
 * republished fresh on the next connect (latest wins), outbox rows go back to the outbox and are sent again
 * after the control traffic. So a reconnect is CONNACK → `online`, SUBSCRIBE, reported → outbox, with no
 * resent backlog in front. Data (non-retained publishes) goes through a window of at most
 * `dataWindowBytes` unacknowledged bytes, so a control message never waits behind more than that.
 */
export class DeviceChannel extends EventEmitter<DeviceChannelEvents> {
  private readonly logger = new Logger(DeviceChannel.name);
  private client: MqttClient | undefined;
  private readonly desiredTopic: string;
  private readonly acksTopic: string;
  private readonly statusTopic: string;
  private lastError = '';
  private readonly dataQueue: DataPublish[] = [];
  private dataInFlightBytes = 0;

  constructor(
    private readonly settings: MqttSettings,
    private readonly deviceId: string,
    private readonly agentVersion: string,
  ) {
    super();
    this.desiredTopic = topics.desired(deviceId);
    this.acksTopic = topics.acks(deviceId);
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
      // mqtt-packet's cache of a 2-byte Buffer for each of the 65,536 message ids held ≈ 8 MB of V8 heap for a
      // device that sends a few packets a second; each id is written into a new 2-byte Buffer instead.
      writeCache: false,
    });
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, done: (error?: Error) => void) => this.onPublish(packet, done);
    // Nagle's algorithm off (mqtt.js has no option for it): a publish written right after a PUBACK waited for the
    // broker's delayed ACK, up to 40 ms on Linux
    client.on('connect', () => (client.stream as Partial<Socket>).setNoDelay?.(true));
    client.on('connect', () => this.onConnect(client));
    client.on('reconnect', () => {
      // The will names the start of the session it ends.
      if (client.options.will) client.options.will.payload = this.willPayload();
    });
    client.on('close', () => {
      this.dropInFlight(client);
      if (this.listenerCount('disconnected') > 0) this.emit('disconnected');
    });
    client.on('offline', () => this.logger.warn(`broker ${this.settings.url} unreachable; reconnecting every ${this.settings.reconnectMs} ms`));
    client.on('error', (err: Error & { code?: unknown }) => {
      const text = `mqtt: ${err.message}${err.code !== undefined ? ` (code ${String(err.code)})` : ''}`;
      if (text !== this.lastError) this.logger.warn(text);
      this.lastError = text;
    });
  }

  /**
   * Publishes with QoS 1; resolves on the broker's PUBACK. Retained (state) messages go out at once; others
   * (data) wait for room in the data window. Refused while disconnected; rejected if the connection closes
   * before the PUBACK (nothing is resent by mqtt.js on the next connect).
   */
  publish(topic: string, payload: string | Buffer, options: { retain: boolean }): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('the MQTT channel is not started'));
    if (!client.connected) return Promise.reject(new ChannelClosedError());
    if (options.retain) return publishNow(client, topic, payload, true);
    return new Promise((resolve, reject) => {
      this.dataQueue.push({ topic, payload, bytes: Buffer.byteLength(payload), resolve, reject });
      this.pumpData();
    });
  }

  /** Bytes of data publishes handed to mqtt.js and not yet acknowledged. */
  get dataInFlight(): number {
    return this.dataInFlightBytes;
  }

  private pumpData(): void {
    const client = this.client;
    if (!client?.connected) return;
    const window = this.settings.dataWindowBytes;
    while (this.dataQueue.length > 0) {
      const next = this.dataQueue[0];
      if (this.dataInFlightBytes > 0 && this.dataInFlightBytes + next.bytes > window) return;
      this.dataQueue.shift();
      this.dataInFlightBytes += next.bytes;
      publishNow(client, next.topic, next.payload, false).then(
        () => {
          this.dataInFlightBytes -= next.bytes;
          next.resolve();
          this.pumpData();
        },
        (err: Error) => {
          this.dataInFlightBytes -= next.bytes;
          next.reject(err);
        },
      );
    }
  }

  /**
   * The connection closed: publishes still awaiting a PUBACK leave mqtt.js's session store (their callers
   * get an error), and data never handed over is refused, so the next connect starts with control traffic.
   */
  private dropInFlight(client: MqttClient): void {
    for (const id of Object.keys(client.outgoing)) {
      const entry = client.outgoing[Number(id)];
      if (entry?.cmd === 'publish') client.removeOutgoingMessage(Number(id));
    }
    for (const waiting of this.dataQueue.splice(0)) waiting.reject(new ChannelClosedError());
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
    // acks before the outbox flows: the cloud's acks of what it sends next must find the subscription
    client.subscribe([this.desiredTopic, this.acksTopic], { qos: MQTT_QOS }, (err, granted) => {
      if (err) this.logger.warn(`subscribe ${this.desiredTopic}, ${this.acksTopic}: ${err.message}`);
      for (const g of granted ?? []) if (g.qos > 2) this.logger.error(`the broker refused the subscription to ${g.topic}`);
    });
    // control first (reported state), then data (the outbox)
    this.emit('control');
    this.emit('connected');
    this.pumpData();
  }

  private onPublish(packet: IPublishPacket, done: (error?: Error) => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (packet.topic === this.acksTopic) {
      try {
        this.emit('ack', payload);
      } catch (err) {
        this.logger.error(`handling an ack failed: ${(err as Error).message}`);
      }
      done();
      return;
    }
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

function publishNow(client: MqttClient, topic: string, payload: string | Buffer, retain: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: MQTT_QOS, retain }, (err) => (err ? reject(err) : resolve()));
  });
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
