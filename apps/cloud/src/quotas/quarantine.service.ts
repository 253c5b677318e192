import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';
import { ConflictError, NotFoundError } from '../errors/domain.errors';
import { DomainEvents } from '../events/domain-events';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { AuditRepository } from '../repositories/audit.repository';
import { QuotaBucketsRepository } from './quota-buckets.repository';
import { QuotaRepository, type QuarantineRecord } from './quota.repository';
import { BUCKET_NAMES } from './quota-settings';

/** How long a replica drops a device it quarantined without asking Redis (the time a lift elsewhere takes to reach it). */
const KNOWN_QUARANTINED_MS = 10_000;
/** Devices a replica remembers as quarantined at most; the oldest goes first. */
const KNOWN_QUARANTINED_MAX = 10_000;

/**
 * Quarantine: a device past its strike threshold loses its broker access through the path disabling uses
 * (Mosquitto dynamic security `disableClient`; the embedded broker closes its connection, and its
 * authentication refuses a device with an open quarantine), its messages still in flight are dropped (the
 * Redis flag), and `device.quarantined` goes to the live stream and to webhooks. Only an operator lifts it.
 */
@Injectable()
export class QuarantineService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(QuarantineService.name);
  private readonly pending = new Map<string, Promise<void>>();
  /** Devices this replica quarantined (or is quarantining) and until when it drops their messages without asking Redis. */
  private readonly known = new Map<string, number>();

  constructor(
    private readonly config: CloudConfig,
    private readonly repository: QuotaRepository,
    private readonly buckets: QuotaBucketsRepository,
    private readonly endpoint: MqttEndpoint,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {
    // the embedded broker refuses the connects and publishes of a device this replica is cutting off
    endpoint.refuseDevice = (deviceId) => this.isQuarantined(deviceId);
  }

  /** Open quarantines hold their Redis flag even when Redis lost it. */
  async onApplicationBootstrap(): Promise<void> {
    await this.buckets.connect();
    for (const open of await this.repository.openQuarantines()) await this.buckets.flagQuarantined(open.deviceId);
  }

  /**
   * Quarantines in the background (the channel goes on with the next message); one at a time per device. From
   * this call on, this replica drops the device's messages still arriving, of every kind, without any I/O
   * (`isQuarantined`) — for `KNOWN_QUARANTINED_MS`, or until the quarantine fails or is lifted here.
   */
  trigger(deviceId: string, reason: 'over_quota' | 'invalid_messages', strikes: number): void {
    if (this.pending.has(deviceId)) return;
    this.remember(deviceId);
    // cut off at the broker at once, not after the Redis flag and the SQL row: every millisecond of a flood is
    // messages queued for the cloud's connection ahead of the other devices' (docs/quotas.md)
    const cutOff = this.endpoint.disableDevice(deviceId);
    cutOff.catch(() => undefined); // awaited in quarantine(); not when another replica holds the lock
    const done = this.quarantine(deviceId, reason, strikes, cutOff)
      .catch(async (err: Error) => {
        this.known.delete(deviceId);
        this.logger.error(`quarantining ${deviceId} failed: ${err.message}`);
        // no quarantine after all: broker access back, unless the device is disabled
        const device = await this.repository.deviceGroup(deviceId).catch(() => undefined);
        if (device && !device.disabled && !(await this.repository.openQuarantineOf(deviceId).catch(() => null)))
          await this.endpoint.enableDevice(deviceId).catch(() => undefined);
      })
      .finally(() => this.pending.delete(deviceId));
    this.pending.set(deviceId, done);
  }

  /**
   * True while this replica knows the device is quarantined: it quarantined it less than `KNOWN_QUARANTINED_MS`
   * ago (a lift on another replica reaches this one within that time; one here at once). Synchronous, no I/O.
   */
  isQuarantined(deviceId: string, now = Date.now()): boolean {
    const until = this.known.get(deviceId);
    if (until === undefined) return false;
    if (now < until) return true;
    this.known.delete(deviceId);
    return false;
  }

  private remember(deviceId: string): void {
    this.known.set(deviceId, Date.now() + KNOWN_QUARANTINED_MS);
    if (this.known.size > KNOWN_QUARANTINED_MAX) this.known.delete(this.known.keys().next().value!);
  }

  /** The rest of a quarantine, once `trigger` has cut the device off (`cutOff`: that broker command). */
  private async quarantine(deviceId: string, reason: 'over_quota' | 'invalid_messages', strikes: number, cutOff: Promise<void>): Promise<void> {
    // the flag is the lock: the replica that sets it quarantines, the others only drop (and cut off)
    if (!(await this.buckets.flagQuarantined(deviceId))) return;
    try {
      if (!(await this.repository.deviceGroup(deviceId))) return;
      const opened = await this.repository.openQuarantine(deviceId, reason, strikes);
      await cutOff;
      if (!opened) return;
      const windowSeconds = this.config.quotas.quarantine.windowSeconds;
      this.logger.warn(`${deviceId} quarantined: ${reason}, ${strikes} strikes within ${windowSeconds} s`);
      await this.audit.record({ actor: null, action: 'device.quarantine', subject: deviceId, details: { reason, strikes, windowSeconds } });
      await this.events.emit('device.quarantined', { deviceId, reason, strikes, windowSeconds, quarantinedAt: new Date().toISOString() });
      await this.events.emit('device.changed', { deviceId });
    } catch (err) {
      // no half quarantine: the next strike tries again
      await this.buckets.clearQuarantine(deviceId, []).catch(() => undefined);
      throw err;
    }
  }

  /** Set by QuotaService: forgets what this replica counted of the device in memory when its quarantine is lifted here. */
  onLifted: ((deviceId: string) => void) | undefined;

  /** Lifts an open quarantine: buckets and strikes reset, broker access back unless the device is disabled. */
  async lift(deviceId: string, actor: string | null): Promise<QuarantineRecord> {
    const device = await this.repository.deviceGroup(deviceId);
    if (!device) throw new NotFoundError(`device ${deviceId}`);
    const lifted = await this.repository.liftQuarantine(deviceId, actor);
    if (!lifted) throw new ConflictError(`device ${deviceId} is not quarantined`);
    this.known.delete(deviceId);
    this.onLifted?.(deviceId);
    await this.buckets.clearQuarantine(deviceId, BUCKET_NAMES);
    if (!device.disabled) await this.endpoint.enableDevice(deviceId);
    await this.audit.record({ actor, action: 'device.quarantine.lift', subject: deviceId, details: { reason: lifted.reason, strikes: lifted.strikes } });
    await this.events.emit('device.changed', { deviceId });
    return lifted;
  }

  list(): Promise<QuarantineRecord[]> {
    return this.repository.openQuarantines();
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.pending.values());
  }
}
