import { parseDeviceMessage, topics } from '@edgeloop/contracts';
import { Logger } from '../logger';
import type { DeviceChannel } from '../agent/device-channel';
import type { AckedRow, Outbox, OutboxRow } from './outbox';

export interface OutboxSenderOptions {
  deviceId: string;
  /** Most rows out at once, published or awaiting the cloud's ack (back-pressure on reconnect and on a weak link). */
  inflight: number;
  /** A row the broker acknowledged and the cloud has not after this long is sent again. */
  ackTimeoutMs: number;
}

/** What the sender counts about the cloud's acks. */
export interface OutboxAckCounters {
  /** Ack messages read (valid). */
  messages: number;
  /** Acked items that matched no row: acked before, dropped meanwhile, or of another epoch. */
  unmatched: number;
  /** Ack messages refused (not JSON, not the schema, another device's): logged, counted, ignored. */
  invalid: number;
  /** Rows sent again because their ack was overdue or a newer row's ack overtook them. */
  resent: number;
}

/**
 * Drains the outbox in order over MQTT (QoS 1) while the broker is connected, and deletes a row only when
 * the cloud acknowledges it on the device's `acks` topic — not on the broker's PUBACK: a broker acknowledges
 * and then drops a message no subscriber takes (Mosquitto after a restart, before the cloud's shared
 * subscription is back), so a PUBACK proves nothing about the cloud.
 *
 * - Up to `inflight` rows are out at once, counting both rows awaiting their PUBACK and rows awaiting the
 *   cloud's ack, so a cloud that does not answer stops the flow at `inflight` rows instead of flooding a link.
 * - A row whose publish fails (the connection dropped) goes back to the outbox; so do the rows awaiting an
 *   ack, on every reconnect: all are sent again, in order, after the reconnect's control traffic.
 * - A row awaiting its ack for `ackTimeoutMs` is sent again (in order); so are rows awaiting their ack since
 *   over `ackTimeoutMs / 10` before a newer row that the cloud acked (their message most likely never
 *   reached the cloud, and the cloud is evidently back). A duplicate this makes is deduplicated and acked
 *   again by the cloud.
 * - An invalid ack is logged, counted and ignored.
 *
 * Never blocks inference: draining is event-driven.
 */
export class OutboxSender {
  private readonly logger = new Logger(OutboxSender.name);
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** Rows acknowledged by the cloud since start. */
  acknowledged = 0;
  readonly acks: OutboxAckCounters = { messages: 0, unmatched: 0, invalid: 0, resent: 0 };
  /** Called after every acknowledgement by the cloud, with the row. */
  onAcknowledged: ((row: AckedRow) => void) | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly channel: DeviceChannel,
    private readonly options: OutboxSenderOptions,
  ) {}

  start(): void {
    this.channel.on('connected', () => {
      this.outbox.giveBackAwaiting();
      this.drain();
    });
    this.channel.on('ack', (payload) => this.onAck(payload));
    const tick = Math.max(50, Math.min(1000, Math.floor(this.options.ackTimeoutMs / 4)));
    this.timer = setInterval(() => this.resendOverdue(), tick);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** Sends what the window allows; call after appending to the outbox. */
  drain(): void {
    if (this.stopped || !this.channel.connected) return;
    const rows = this.outbox.nextToSend(this.options.inflight - this.outbox.inFlightCount);
    for (const row of rows) this.send(row);
  }

  /** Reads one ack message from the cloud: the rows it names leave the outbox. Never throws. */
  onAck(payload: Buffer | string): void {
    if (this.stopped) return;
    const parsed = parseDeviceMessage('acks', payload);
    if (!parsed.ok || parsed.value.deviceId !== this.options.deviceId) {
      this.acks.invalid++;
      const reason = parsed.ok ? `names device "${parsed.value.deviceId}"` : `${parsed.error.code}: ${parsed.error.message.slice(0, 300)}`;
      this.logger.warn(`ack ignored (${reason}); ${this.acks.invalid} ignored so far`);
      return;
    }
    this.acks.messages++;
    let newestPublishedAt: number | undefined;
    for (const item of parsed.value.acks) {
      const acked = this.outbox.acknowledgeItem(item);
      if (!acked) {
        this.acks.unmatched++;
        continue;
      }
      if (acked.publishedAt !== undefined) newestPublishedAt = Math.max(newestPublishedAt ?? acked.publishedAt, acked.publishedAt);
      this.acknowledged++;
      this.onAcknowledged?.(acked.row);
    }
    // rows PUBACKed well before one the cloud has acked were most likely dropped on the way: send them again now
    if (newestPublishedAt !== undefined) this.resend(this.outbox.giveBackAwaiting(newestPublishedAt - this.options.ackTimeoutMs / 10));
    this.drain();
  }

  private resendOverdue(): void {
    if (this.stopped || !this.channel.connected) return;
    this.resend(this.outbox.giveBackAwaiting(Date.now() - this.options.ackTimeoutMs));
    this.drain();
  }

  private resend(rows: number): void {
    if (rows === 0) return;
    this.acks.resent += rows;
    this.logger.info(`${rows} row(s) sent but not acknowledged by the cloud: sending them again`);
  }

  private send(row: OutboxRow): void {
    this.outbox.markInFlight(row.id);
    const topic = row.kind === 'predictions' ? topics.predictions(this.options.deviceId) : topics.hardExamples(this.options.deviceId);
    this.channel.publish(topic, row.payload, { retain: false }).then(
      // the broker has it: the row stays until the cloud's ack (which may already have come)
      () => this.outbox.markPublished(row.id),
      (err: unknown) => {
        if (this.outbox.inFlightStage(row.id)?.stage === 'publishing') this.outbox.giveBack(row.id);
        if (!this.stopped) this.logger.debug(`${row.kind} ${row.seq ?? row.id} not delivered (${(err as Error).message}); it stays in the outbox`);
      },
    );
  }
}
