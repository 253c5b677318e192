import { topics } from '@edgeloop/contracts';
import { Logger } from '../logger';
import type { DeviceChannel } from '../agent/device-channel';
import type { Outbox, OutboxRow } from './outbox';

export interface OutboxSenderOptions {
  deviceId: string;
  /** Most rows published and not yet acknowledged at once (back-pressure on reconnect). */
  inflight: number;
}

/**
 * Drains the outbox in order over MQTT (QoS 1) while the broker is connected: up to `inflight` rows are
 * out at once; a row leaves the outbox only on its PUBACK (the mqtt.js publish callback). Rows in flight
 * when the connection drops are taken out of mqtt.js's session store by the channel (their publish fails):
 * they go back to the outbox and are sent again, in order, after the reconnect's control traffic. Never
 * blocks inference: draining is event-driven.
 */
export class OutboxSender {
  private readonly logger = new Logger(OutboxSender.name);
  private stopped = false;
  /** Rows acknowledged by the broker since start. */
  acknowledged = 0;
  /** Called after every acknowledgement, with the row. */
  onAcknowledged: ((row: OutboxRow) => void) | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly channel: DeviceChannel,
    private readonly options: OutboxSenderOptions,
  ) {}

  start(): void {
    this.channel.on('connected', () => this.drain());
  }

  stop(): void {
    this.stopped = true;
  }

  /** Sends what the window allows; call after appending to the outbox. */
  drain(): void {
    if (this.stopped || !this.channel.connected) return;
    const rows = this.outbox.nextToSend(this.options.inflight - this.outbox.inFlightCount);
    for (const row of rows) this.send(row);
  }

  private send(row: OutboxRow): void {
    this.outbox.markInFlight(row.id);
    const topic = row.kind === 'predictions' ? topics.predictions(this.options.deviceId) : topics.hardExamples(this.options.deviceId);
    this.channel.publish(topic, row.payload, { retain: false }).then(
      () => {
        this.outbox.acknowledge(row.id);
        this.acknowledged++;
        this.onAcknowledged?.(row);
        this.drain();
      },
      (err: unknown) => {
        this.outbox.giveBack(row.id);
        if (!this.stopped) this.logger.debug(`${row.kind} ${row.seq ?? row.id} not delivered (${(err as Error).message}); it stays in the outbox`);
      },
    );
  }
}
