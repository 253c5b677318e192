import { Injectable, Logger, Optional } from '@nestjs/common';
import { type CustomTransportStrategy, MqttContext, ServerMqtt } from '@nestjs/microservices';
import {
  ackedItemOf,
  cloudSubscriptions,
  decodeDeviceMessage,
  looseAckedItem,
  MQTT_QOS,
  topicFilters,
  topics,
  type AckedItem,
  type DecodedDeviceMessage,
  type DesiredState,
} from '@edgeloop/contracts';
import mqtt, { type IConnackPacket, type IPublishPacket, type ISubscriptionMap, type MqttClient } from 'mqtt';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { isObservable, lastValueFrom } from 'rxjs';
import { CloudConfig } from '../config/cloud.config';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { QuotaService } from '../quotas/quota.service';
import { DeviceAcks } from './device-acks';
import { InboundPublishes } from './inbound-publishes';
import { MqttEndpoint } from './mqtt-endpoint';

/**
 * Packets mqtt.js reads in a row before the channel lets the event loop run its timers and other I/O (the Redis
 * answers another device's message waits for among them). 256 held a 1 ms timer up to 37-46 ms while a 20,000-message
 * backlog was read, 64 up to 16-24 ms, at the same CPU per message (docs/quotas.md).
 */
const PACKETS_PER_TURN = 64;

/**
 * Invalid messages of one device acknowledged on arrival whose dead letter is still being written; past it, its
 * invalid messages wait their turn in the channel like any other (and hold the broker's window as before).
 */
const INVALID_AHEAD_MAX = 1000;

/** About ten minutes of back-off (the 5 s ceiling): long enough to ride out a Redis or SQL restart. */
const HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER = 125;

/** The device topics an API replica leaves to the worker replicas with `EDGELOOP_PREDICTION_INTAKE=false`. */
const INTAKE_FILTERS: ReadonlySet<string> = new Set([topicFilters.predictions, topicFilters.hardExamples]);

/** What an `@EventPattern(topicFilters.<kind>)` handler receives: the message decoded with the contracts. */
export interface DeviceMessageEvent {
  message: DecodedDeviceMessage;
  receivedAt: Date;
}

/** The event map of the device topics, for typed `@EventPattern<DeviceMessageEvents>(topicFilters.<kind>)`. */
export type DeviceMessageEvents = Record<string, DeviceMessageEvent>;

/**
 * The cloud's MQTT connection, as a Nest microservice transport (`app.connectMicroservice({ strategy })`):
 * device messages go to `@EventPattern(topicFilters.<kind>)` handlers in the feature modules' controllers,
 * and the same client publishes retained desired states. It extends Nest's `ServerMqtt` (topic matching,
 * `$share/…` handler keys, the handler registry) but replaces how a message is handled, because
 * `ServerMqtt` acknowledges a QoS 1 PUBLISH as it arrives and does not wait for — nor see the failure of —
 * an event handler:
 *
 * - one device's messages are handled one at a time in arrival order (different devices' at the same time, up
 *   to 32), PUBACKs go out in arrival order, and a QoS 1 PUBACK is sent only once the
 *   handler's Promise/Observable completed (a prediction batch is a job in Redis) — through `InboundPublishes`,
 *   which does so without holding mqtt.js's reading of packets, so the SUBACK, PINGRESP and the PUBACKs of the
 *   cloud's own publishes are read while a message waits;
 * - a handler that fails is retried with back-off (100 ms doubling to 5 s), holding the PUBACK — and the
 *   messages behind it — so nothing is acknowledged that was not stored; after `HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER` failures the message is dead-lettered in SQL
 *   (then acknowledged) so one poison message cannot stop the channel for ever;
 * - at shutdown a message in hand is left unacknowledged, so a persistent session (fixed MQTT_CLIENT_ID,
 *   `clean: false`) gets it again; otherwise the broker redelivers it to another subscriber of the share group;
 * - payloads are plain JSON (no Nest envelope): each is decoded with the contracts as it arrives, and an invalid
 *   one is acknowledged then, counted and dead-lettered after, never thrown; over quota, it is dropped before
 *   decoding (counted);
 * - a prediction batch or hard example accepted (its handler resolved, a duplicate included) or
 *   dead-lettered is acknowledged to the device on its `acks` topic (`DeviceAcks`), which is what lets the
 *   device delete it from its outbox; one dropped over quota is not, so the device sends it again later.
 *
 * Subscriptions are those of `cloudSubscriptions` for the kinds that have a handler; `predictions` and
 * `hard-examples` through `$share/<MQTT_SHARE_GROUP>/…` when a share group is set, and not at all with
 * `EDGELOOP_PREDICTION_INTAKE=false` (API replicas: their event loop then serves HTTP, not the fleet's batches).
 */
@Injectable()
export class DeviceChannel extends ServerMqtt implements CustomTransportStrategy {
  private readonly log = new Logger(DeviceChannel.name);
  private client: MqttClient | undefined;
  private inbound: InboundPublishes | undefined;
  private acks: DeviceAcks | undefined;
  readonly counters = { received: 0, invalid: 0, handlerErrors: 0, handlerRetries: 0, overQuota: 0 };
  private closing = false;
  /** The filters subscribed in `listen`; empty until then. */
  private filters: string[] = [];

  private wake: (() => void) | undefined;
  /** A message decoded as it arrived, for its handler (decoded once). */
  private readonly decodedOnArrival = new WeakMap<IPublishPacket, DecodedDeviceMessage>();
  /** Per device: its invalid messages acknowledged on arrival and not yet dead-lettered, and the last one's work. */
  private readonly invalidAhead = new Map<string, { count: number; tail: Promise<void> }>();

  constructor(
    private readonly config: CloudConfig,
    private readonly endpoint: MqttEndpoint,
    private readonly deadLetters: DeadLetterRepository,
    @Optional() private readonly quotas?: QuotaService,
  ) {
    super({ subscribeOptions: { qos: MQTT_QOS } });
  }

  /** The topic filters this process subscribed to (empty before it connected). */
  get subscribedFilters(): readonly string[] {
    return this.filters;
  }

  /**
   * Connects (starting the embedded broker or the dynamic-security admin first) and subscribes; called by
   * Nest's `startAllMicroservices()`, before the app's own init hooks, so that a rollout resumed there can
   * publish. Messages are handled from the start: a handler that fails or waits because a part is not up
   * yet is retried like any other failure, its message unacknowledged meanwhile, while the SUBACK (and
   * everything else the broker sends) is read behind it (`InboundPublishes`).
   */
  override async listen(callback: (err?: unknown) => void): Promise<void> {
    try {
      await this.endpoint.start();
      this.mqttClient = this.client = await this.createMqttClient();
      await this.subscribe(this.client);
      callback();
    } catch (err) {
      callback(err);
    }
  }

  override async createMqttClient(): Promise<MqttClient> {
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
    client.on('error', (err) => this.log.warn(`MQTT: ${err.message}`));
    client.on('reconnect', () => {
      this._status$.next('reconnecting' as never);
      this.log.debug('MQTT: reconnecting');
    });
    client.on('close', () => this._status$.next('closed' as never));
    client.on('connect', (connack) => {
      // Nagle's algorithm off (mqtt.js has no option for it): an ack published right after a turn's PUBACKs waited
      // for the broker's delayed ACK of them, 40 ms on Linux — a device's publish → its ack took 45 ms idle
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      this._status$.next('connected' as never);
      this.restoreSharedSubscriptions(client, connack);
    });
    this.acks = new DeviceAcks(client, this.log);
    // installed before the connection opens: a persistent session's queued messages arrive at once
    this.inbound = new InboundPublishes(client, (packet, receivedAt) => this.handleUntilDone(packet, receivedAt));
    this.screenOnArrival(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    return client;
  }

  /**
   * A message the quotas already refuse without I/O (its device quarantined here, refused by Redis a moment ago,
   * or past its arrival buckets: `QuotaService.dropOnArrival`) is dropped as mqtt.js reads it — counted, and
   * acknowledged at once rather than queued: a flood the cloud knows about then costs it a packet parse and a
   * PUBACK, and queues nothing ahead of the other devices' messages. On Mosquitto, which hands the cloud a
   * flood as fast as it arrives, this is what keeps a well-behaved device's batches from waiting behind it.
   *
   * The others are decoded here. An invalid one is acknowledged at once too, and counted and dead-lettered after
   * (`takeInvalid`): held until then, a device flooding garbage filled the broker's in-flight window (Mosquitto's
   * `max_inflight_messages`, shared by every device's messages to the cloud) with messages handled one at a time,
   * and the broker sent the cloud nothing else until that device was quarantined (docs/quotas.md, Tests). A valid
   * one is queued with its decoded value, for its handler.
   *
   * mqtt.js reads the packets already buffered on the socket one after the other on `process.nextTick`, which
   * runs before any timer or other I/O: a backlog of thousands of packets (a flood the cloud's process was not
   * scheduled for a while to read) kept `/health` and everything else waiting for seconds. Every
   * `PACKETS_PER_TURN` packets, the next one is read on `setImmediate`, after the event loop's other work. The
   * PUBACKs written meanwhile go out together when the turn ends (the socket corked): one write for a turn's
   * worth, where each took a system call of its own (a fifth of the CPU of reading a dropped flood).
   */
  private screenOnArrival(client: MqttClient): void {
    const quotas = this.quotas;
    const queue = client.handleMessage.bind(client);
    let inARow = 0;
    let corked: MqttClient['stream'] | undefined;
    const uncork = () => {
      corked?.uncork();
      corked = undefined;
    };
    const readOnInTurn = (readOn: (err?: Error) => void, err?: Error) => {
      if (++inARow < PACKETS_PER_TURN) return readOn(err);
      inARow = 0;
      uncork();
      setImmediate(() => readOn(err));
    };
    client.handleMessage = (packet, readOn) => {
      if (corked === undefined && typeof client.stream?.cork === 'function') {
        corked = client.stream;
        corked.cork();
        setImmediate(uncork);
      }
      const payload = packet.payload as Buffer;
      if (quotas?.dropOnArrival(packet.topic, payload.length)) {
        this.counters.received++;
        this.counters.overQuota++;
        return readOnInTurn(readOn);
      }
      const decoded = decodeDeviceMessage(packet.topic, payload);
      if (decoded.ok) this.decodedOnArrival.set(packet, decoded.value);
      else if (this.takeInvalid(packet, decoded.error)) return readOnInTurn(readOn);
      return queue(packet, (err) => readOnInTurn(readOn, err));
    };
  }

  /**
   * An invalid message, acknowledged as it arrives and counted against its device at once (`QuotaService.invalid`
   * counts in memory past a device's first, so a device flooding garbage is quarantined at its threshold-th
   * message, not once its backlog is worked through). Its dead letter follows in the background, one at a time per
   * device (the first few of a device write SQL rows: many at once would hold the event loop), then the device is
   * told it may delete it, as before. It is not checked against the Redis buckets: its strike counts against the
   * device in Redis either way, and this replica's arrival buckets (`dropOnArrival`, and aedes's `dropEarly`) hold
   * it to the device's rate before it gets here. An invalid message never becomes valid, and one whose dead letter
   * could not be written was acknowledged before as well; what this gives up is the dead letter of a message the
   * process dies before writing. False when the device already has `INVALID_AHEAD_MAX` such messages waiting: it
   * is then queued and acknowledged once handled.
   */
  private takeInvalid(packet: IPublishPacket, error: { code: string; message: string }): boolean {
    if (this.closing) return false;
    const device = deviceKeyOf(packet.topic);
    const ahead = this.invalidAhead.get(device) ?? { count: 0, tail: Promise.resolve() };
    if (ahead.count >= INVALID_AHEAD_MAX) return false;
    const { topic } = packet;
    const payload = packet.payload as Buffer;
    this.counters.received++;
    this.counters.invalid++;
    void this.quotas?.invalid(topic);
    ahead.count++;
    ahead.tail = ahead.tail
      .then(async () => this.acknowledgeToDevice(await this.deadLetterInvalid(topic, payload, error)))
      .finally(() => {
        if (--ahead.count === 0 && this.invalidAhead.get(device) === ahead) this.invalidAhead.delete(device);
      });
    this.invalidAhead.set(device, ahead);
    return true;
  }

  /** Not used: subscriptions are made in `listen`, and messages arrive through `InboundPublishes`. */
  override bindEvents(): void {}

  /** Messages received and waiting for their turn (the one in hand excluded). */
  get backlog(): number {
    return this.inbound?.depth ?? 0;
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

  /** Called by Nest when the app closes: the message in hand is left unacknowledged, then the client ends. */
  override async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.inbound?.stop();
    // invalid messages acknowledged on arrival: their dead letters and device acks still go out
    await Promise.all([...this.invalidAhead.values()].map((ahead) => ahead.tail));
    this.acks?.flush();
    this.acks?.stop();
    await this.client?.endAsync().catch(() => undefined);
  }

  private async subscribe(client: MqttClient): Promise<void> {
    // without prediction intake (an API replica) the devices' predictions and hard examples are left to the others
    const patterns = [...this.messageHandlers.keys()].filter((pattern) => this.config.predictionIntake || !INTAKE_FILTERS.has(pattern));
    const subscriptions = cloudSubscriptions(this.config.mqttShareGroup ? { shareGroup: this.config.mqttShareGroup } : {}).filter((s) =>
      patterns.some((pattern) => s.filter === pattern || s.filter.endsWith(`/${pattern}`)),
    );
    this.filters = subscriptions.map((s) => s.filter);
    if (subscriptions.length > 0) await this.subscribeUntilDone(client, this.filters);
    const { url } = await this.endpoint.cloudCredentials();
    this.log.log(`connected to ${url}; subscribed to ${subscriptions.map((s) => s.filter).join(', ') || 'nothing'}`);
  }

  /**
   * A subscription lost with its connection is made again on the next one, for up to 30 s: on Mosquitto with
   * dynamic security, another cloud process giving the shared user its role at boot drops every connection of
   * that user, this one included, before its SUBACK (the compose stack's two cloud services starting at once).
   * A refused filter is not an error here (its grant says 128); only a lost connection is retried.
   */
  private async subscribeUntilDone(client: MqttClient, filters: string[]): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await client.subscribeAsync(filters, { qos: MQTT_QOS });
        return;
      } catch (err) {
        if (this.closing || Date.now() > deadline) throw err;
        this.log.warn(`MQTT: subscribing failed (${(err as Error).message}); subscribing again on the next connection`);
        if (!client.connected) await onceConnected(client, deadline - Date.now());
      }
    }
  }

  /**
   * Mosquitto 2.0 restores a persistent session from its persistence file after a restart (CONNACK with
   * sessionPresent) but not the session's `$share/…` subscriptions; mqtt.js resubscribes only when there is
   * no session, so the cloud would be subscribed to nothing and the broker would acknowledge and discard
   * every prediction batch until the process restarts. On every CONNACK with a session, the shared filters
   * are subscribed again (`resubscribe: true` makes mqtt.js send a filter it already knows). Without a
   * session mqtt.js resubscribes every filter itself; the plain ones are restored with the session, and
   * subscribing them again would resend their retained messages.
   */
  private restoreSharedSubscriptions(client: MqttClient, connack: IConnackPacket): void {
    const plain = new Set<string>(Object.values(topicFilters));
    const shared = this.filters.filter((filter) => !plain.has(filter));
    if (!connack.sessionPresent || shared.length === 0 || this.closing) return;
    const request: ISubscriptionMap = Object.assign(Object.fromEntries(shared.map((filter) => [filter, { qos: MQTT_QOS }])), { resubscribe: true });
    client.subscribeAsync(request).then(
      (granted) => {
        const refused = granted.filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) this.log.error(`MQTT: the broker refused the shared subscriptions ${refused.join(', ')}`);
        else this.log.log(`MQTT: session resumed; subscribed again to ${shared.join(', ')}`);
      },
      // the connection went again: the next CONNACK tries again
      (err: Error) => this.log.warn(`MQTT: subscribing again to ${shared.join(', ')} failed: ${err.message}`),
    );
  }

  /** Application acks published so far (messages, items in them, items that could not be published). */
  get ackCounters(): Readonly<DeviceAcks['counters']> {
    return this.acks?.counters ?? { messages: 0, items: 0, notPublished: 0 };
  }

  /** Handles one message; resolves with what to acknowledge to the device once it is accepted (null: nothing). */
  private async dispatch(packet: IPublishPacket, receivedAt: Date): Promise<{ deviceId: string; item: AckedItem } | null> {
    const { topic } = packet;
    const payload = packet.payload as Buffer;
    const onArrival = this.decodedOnArrival.get(packet);
    const decoded = onArrival ? ({ ok: true, value: onArrival } as const) : decodeDeviceMessage(topic, payload);
    if (!decoded.ok) {
      this.counters.invalid++;
      await this.quotas?.invalid(topic);
      return this.deadLetterInvalid(topic, payload, decoded.error);
    }
    const handler = this.getHandlerByPattern(topic);
    if (!handler) return null;
    const event: DeviceMessageEvent = { message: decoded.value, receivedAt };
    // Nest's handler proxy: a Promise, or an Observable that errors when the handler threw (see DeviceMessageErrors)
    const result: unknown = await handler(event, new MqttContext([topic, packet]));
    if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
    const item = ackedItemOf(decoded.value);
    return item && { deviceId: decoded.value.deviceId, item };
  }

  /** Dead-letters an invalid message (sampled); resolves with what to acknowledge to the device. Never rejects. */
  private async deadLetterInvalid(topic: string, payload: Buffer, error: { code: string; message: string }): Promise<{ deviceId: string; item: AckedItem } | null> {
    // logged like it is kept: the sampled ones (a flood of garbage is counted, not written out line by line)
    const kept = await this.deadLetters.record({ source: 'mqtt', topic, code: error.code, message: error.message, payload }).catch((err: Error) => {
      this.log.error(`could not dead-letter a message: ${err.message}`);
      return true;
    });
    if (kept) this.log.warn(`invalid message on ${topic.slice(0, 200)}: ${error.code}: ${error.message.slice(0, 300)}`);
    // dead-lettered: the device may delete it (sending it again would only dead-letter it again)
    return looseAckedItem(topic, payload);
  }

  private acknowledgeToDevice(ack: { deviceId: string; item: AckedItem } | null): void {
    if (ack) this.acks?.add(ack.deviceId, ack.item);
  }

  /**
   * Runs the handler until it succeeds. Failures are retried with back-off (100 ms doubling to 5 s); after
   * `HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER` failures the message is dead-lettered with the error (kept in SQL
   * for an operator, then acknowledged) so one poison message cannot stop a device's channel for ever —
   * unless dead-lettering fails too, in which case it keeps retrying. Rejects only at shutdown (no PUBACK).
   */
  private async handleUntilDone(packet: IPublishPacket, receivedAt: Date): Promise<void> {
    const { topic } = packet;
    const payload = packet.payload as Buffer;
    this.counters.received++;
    // over quota (or quarantined): dropped before it is decoded, counted, then acknowledged (docs/quotas.md)
    if (this.quotas && !(await this.quotas.admit(topic, payload.length))) {
      this.counters.overQuota++;
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        this.acknowledgeToDevice(await this.dispatch(packet, receivedAt));
        if (attempt > 1) this.log.log(`${topic.slice(0, 200)} handled after ${attempt} attempts`);
        return;
      } catch (err) {
        this.counters.handlerErrors++;
        const message = errorMessage(err);
        if (this.closing) throw new Error(`not acknowledged at shutdown: ${message}`);
        if (attempt === 1 || attempt % 10 === 0) this.log.warn(`handling ${topic.slice(0, 200)} failed (attempt ${attempt}), retrying: ${message.slice(0, 300)}`);
        if (attempt >= HANDLER_ATTEMPTS_BEFORE_DEAD_LETTER) {
          const recorded = await this.deadLetters
            .record({ source: 'mqtt', topic, code: 'handler_failed', message: `${attempt} attempts failed; last: ${message}`, payload })
            .then(
              () => true,
              () => false,
            );
          if (recorded) {
            this.log.error(`${topic.slice(0, 200)} dead-lettered after ${attempt} failed attempts: ${message.slice(0, 300)}`);
            const decoded = decodeDeviceMessage(topic, payload);
            const item = decoded.ok ? ackedItemOf(decoded.value) : null;
            this.acknowledgeToDevice(decoded.ok ? item && { deviceId: decoded.value.deviceId, item } : looseAckedItem(topic, payload));
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

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}

/** Resolves at the client's next CONNACK; rejects after `ms`. */
function onceConnected(client: MqttClient, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('connect', connected);
      reject(new Error(`MQTT: not connected again within ${Math.round(ms / 1000)} s`));
    }, Math.max(0, ms));
    const connected = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('connect', connected);
  });
}

/** A device's messages share the topic up to their last level (`edgeloop/v1/devices/{id}/`); other topics are their own. */
function deviceKeyOf(topic: string): string {
  return topic.slice(0, topic.lastIndexOf('/') + 1) || topic;
}
