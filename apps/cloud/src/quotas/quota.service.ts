import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { parseTopic } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { QuarantineService } from './quarantine.service';
import { QuotaBucketsRepository, type BucketSpec } from './quota-buckets.repository';
import { ArrivalBuckets } from './arrival-buckets';
import { QuotaRepository } from './quota.repository';
import { applyOverride, QUOTA_KINDS, type QuotaKind, type QuotaLimits, type QuotaOverride } from './quota-settings';

/** How long a replica trusts its copy of a device's group and of the group overrides. */
const LIMITS_TTL_MS = 10_000;
/** Devices whose limits a replica keeps in memory; the oldest entry goes first. */
const LIMITS_CACHE_SIZE = 10_000;
/** One log line per device per this long while it is throttled. */
const LOG_EVERY_MS = 10_000;
/** The longest a replica drops a device's messages on its own, without asking Redis again. */
const LOCAL_DENY_MAX_MS = 1000;
/** How often locally decided drops are added to the Redis counters. */
const FLUSH_EVERY_MS = 250;

/** A device (and kind) this replica knows to be over quota until `until`; drops meanwhile cost no Redis call. */
interface LocalDeny {
  until: number;
  quarantined: boolean;
  /** Strikes Redis reported, plus the local drops since. */
  strikes: number;
  pending: number;
  /** When the first and the last of the `pending` drops happened (the device's record shows them). */
  firstPendingAt?: number;
  lastPendingAt?: number;
}

/** A device counts as throttled this long after its last dropped message. */
const THROTTLED_FOR_MS = 60_000;

/** A device's quota state, as `GET /devices/{id}` and `GET /devices/{id}/quota` show it. */
export interface DeviceQuotaStatus {
  throttled: boolean;
  dropped: Record<QuotaKind, number>;
  invalid: number;
  lastDroppedAt: string | null;
  firstDroppedAt: string | null;
  /** Since when the cloud checks this device's messages (the counters' start). */
  countingSince: string | null;
  quarantined: { reason: string; strikes: number; quarantinedAt: string } | null;
}

const KINDS: ReadonlySet<string> = new Set(QUOTA_KINDS);

/**
 * Per-device quotas, enforced before a message is decoded: token buckets in Redis (messages and bytes per
 * second per topic kind, hard examples per hour, hard-example bytes per day), limits from EDGELOOP_QUOTA_*
 * with the device group's override laid over them. A message over quota is dropped and counted — the
 * channel then acknowledges it: the device learns nothing, and the cloud keeps no queue for it. Strikes
 * (dropped or invalid messages) past EDGELOOP_QUARANTINE_STRIKES in the window quarantine the device.
 */
@Injectable()
export class QuotaService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(QuotaService.name);
  private readonly limits = new Map<string, { limits: QuotaLimits; at: number }>();
  private overrides: { map: Map<string, QuotaOverride>; at: number } | undefined;
  private readonly loggedAt = new Map<string, number>();
  private readonly denied = new Map<string, LocalDeny>();
  /** In-memory copies of the buckets, fed by the broker's early check (`dropEarly`) as messages arrive. */
  private readonly arrivals = new ArrivalBuckets(LIMITS_CACHE_SIZE);
  private readonly prefetching = new Set<string>();
  /** Devices sending invalid messages: their strikes as Redis last said, plus those counted here since. */
  private readonly invalidStrikes = new Map<string, { known: number; pending: number }>();
  private readonly flushTimer = setInterval(() => void this.flushDrops(), FLUSH_EVERY_MS).unref();
  /** This replica's decisions (Prometheus `edgeloop_quota_checks`); `droppedEarly`: those of `dropped` and `droppedQuarantined` the broker decided. */
  readonly counters = { allowed: 0, dropped: 0, droppedQuarantined: 0, checkErrors: 0, droppedEarly: 0 };

  constructor(
    private readonly config: CloudConfig,
    private readonly buckets: QuotaBucketsRepository,
    private readonly repository: QuotaRepository,
    private readonly quarantine: QuarantineService,
    private readonly endpoint: MqttEndpoint,
  ) {}

  /** The embedded broker asks `dropEarly` before it forwards a device's message to the cloud. */
  onModuleInit(): void {
    this.endpoint.dropBeforeCloud = (topic, bytes) => this.dropEarly(topic, bytes);
    this.endpoint.holdDevice = (deviceId, topic) => this.holdFor(deviceId, topic);
    this.quarantine.onLifted = (deviceId) => this.forgetDevice(deviceId);
  }

  /**
   * A lifted quarantine starts the device afresh here, as in Redis: its local refusals, strikes and arrival buckets
   * go. Kept, a strike counted before the quarantine quarantined it again at its first message after the lift.
   */
  private forgetDevice(deviceId: string): void {
    for (const kind of KINDS) {
      this.denied.delete(`${deviceId}|${kind}`);
      this.arrivals.forget(`${deviceId}|${kind}`);
    }
    this.invalidStrikes.delete(deviceId);
  }

  /** Holds of over-quota devices' connections this replica's embedded broker started (`holdFor`). */
  get readHolds(): number {
    return this.endpoint.counters.readHolds;
  }

  /**
   * How long the embedded broker may stop reading a device's connection as it publishes on `topic`: while this
   * replica drops the device's messages of that kind without asking (Redis or its arrival buckets refused it a
   * moment ago), until that bucket can have refilled, at most EDGELOOP_QUOTA_HOLD_MAX_MS; 0 otherwise. Synchronous, no I/O.
   * The longest hold is long enough that a flood waits in TCP's buffers instead of costing the cloud a read, a PUBACK
   * and a drop per message, and short enough that the device's other messages (reported state) wait little behind it.
   */
  holdFor(deviceId: string, topic: string, now = Date.now()): number {
    if (!this.config.quotas.enabled || this.config.quotas.holdMaxMs === 0) return 0;
    const parsed = parseTopic(topic);
    if (!parsed || parsed.deviceId !== deviceId || !KINDS.has(parsed.kind)) return 0;
    const deny = this.denied.get(`${deviceId}|${parsed.kind}`);
    if (!deny || deny.quarantined || now >= deny.until) return 0;
    return Math.min(deny.until - now, this.config.quotas.holdMaxMs);
  }

  /**
   * True when the message may be handled. Redis unreachable fails open (counted, logged): the ingest path
   * needs Redis anyway, and reported state and presence should not stop with the quota store.
   */
  async admit(topic: string, bytes: number): Promise<boolean> {
    const settings = this.config.quotas;
    if (!settings.enabled) return true;
    const parsed = parseTopic(topic);
    if (!parsed || !KINDS.has(parsed.kind)) return true;
    const kind = parsed.kind as QuotaKind;
    const denyKey = `${parsed.deviceId}|${kind}`;
    const now = Date.now();
    if (this.dropQuarantined(parsed.deviceId, now) || this.dropLocally(parsed.deviceId, denyKey, now)) return false;
    try {
      const limits = await this.limitsOf(parsed.deviceId);
      const buckets = bucketsFor(kind, bytes, limits);
      if (buckets.length === 0) {
        // no quota on this kind for the device's group: nothing to ask Redis (a quarantine still cuts it off at the broker)
        this.counters.allowed++;
        return true;
      }
      const result = await this.buckets.take(parsed.deviceId, kind, buckets, settings.quarantine.windowSeconds);
      if (result.outcome === 'allowed') {
        this.counters.allowed++;
        return true;
      }
      if (result.outcome === 'quarantined') {
        this.counters.droppedQuarantined++;
        this.deny(denyKey, { until: now + LOCAL_DENY_MAX_MS, quarantined: true, strikes: 0, pending: 0 });
        return false;
      }
      this.counters.dropped++;
      this.deny(denyKey, { until: now + Math.min(result.retryInMs, LOCAL_DENY_MAX_MS), quarantined: false, strikes: result.strikes, pending: 0 });
      this.logThrottled(parsed.deviceId, `${parsed.deviceId} over its ${result.bucket} quota: ${kind} message dropped (${result.strikes} strikes)`);
      this.maybeQuarantine(parsed.deviceId, 'over_quota', result.strikes);
      return false;
    } catch (err) {
      this.counters.checkErrors++;
      this.logThrottled('', `quota check failed, message let through: ${(err as Error).message}`);
      return true;
    }
  }

  /**
   * The broker's early check, as a device's message arrives (the embedded broker asks it before it forwards
   * the message to the cloud's connection): synchronous, no I/O. It drops the message when this replica
   * already knows it is over quota — Redis refused this device and kind a moment ago and the bucket cannot
   * have refilled yet, the device is quarantined, or the device's own arrivals at this broker have emptied
   * an in-memory copy of its message or byte bucket (same rate and burst as in Redis, measured when the
   * device sends rather than when the cloud gets to the message). A drop is counted like one Redis decides;
   * a message that passes still goes through Redis in the channel, so nothing passes that Redis refuses.
   */
  dropEarly(topic: string, bytes: number): boolean {
    if (!this.config.quotas.enabled) return false;
    const parsed = parseTopic(topic);
    if (!parsed || !KINDS.has(parsed.kind)) return false;
    const kind = parsed.kind as QuotaKind;
    const denyKey = `${parsed.deviceId}|${kind}`;
    const now = Date.now();
    let dropped = this.dropQuarantined(parsed.deviceId, now) || this.dropLocally(parsed.deviceId, denyKey, now);
    if (!dropped) {
      const limits = this.limits.get(parsed.deviceId)?.limits;
      if (!limits) {
        // not looked up yet: this message goes to the channel (which asks Redis), the next ones are checked here
        this.prefetchLimits(parsed.deviceId);
        return false;
      }
      const retryInMs = this.arrivals.take(denyKey, now, bucketsFor(kind, bytes, limits));
      if (retryInMs === 0) return false;
      const previous = this.denied.get(denyKey);
      this.deny(denyKey, { until: now + Math.min(retryInMs, LOCAL_DENY_MAX_MS), quarantined: false, strikes: previous?.strikes ?? 0, pending: 0 });
      dropped = this.dropLocally(parsed.deviceId, denyKey, now);
    }
    if (dropped) this.counters.droppedEarly++;
    return dropped;
  }

  /**
   * The cloud's own check as a message arrives on its MQTT connection, before it is queued behind the others:
   * synchronous, no I/O, so a flood the cloud already knows about is dropped (and acknowledged) as fast as it is
   * read and never delays another device's messages. On the embedded broker the arrival buckets were already
   * taken from in `dropEarly`, so only what became known since (a quarantine, a refusal from Redis) is checked
   * here; on an external broker (Mosquitto) this is the first look at the message, so it is `dropEarly` itself —
   * the arrival buckets then measure the device's rate as the broker hands its messages over, which is no
   * earlier than the Redis buckets measure it. What passes still goes through `admit`.
   */
  dropOnArrival(topic: string, bytes: number): boolean {
    if (this.endpoint.mode !== 'embedded') return this.dropEarly(topic, bytes);
    if (!this.config.quotas.enabled) return false;
    const parsed = parseTopic(topic);
    if (!parsed || !KINDS.has(parsed.kind)) return false;
    const now = Date.now();
    const dropped = this.dropQuarantined(parsed.deviceId, now) || this.dropLocally(parsed.deviceId, `${parsed.deviceId}|${parsed.kind}`, now);
    if (dropped) this.counters.droppedEarly++;
    return dropped;
  }

  /** This replica quarantined the device moments ago: its messages still arriving are dropped, whatever their kind. */
  private dropQuarantined(deviceId: string, now: number): boolean {
    if (!this.quarantine.isQuarantined(deviceId, now)) return false;
    this.counters.droppedQuarantined++;
    return true;
  }

  /** Redis said no, and the bucket cannot have refilled yet: drop here, count later (flushDrops). */
  private dropLocally(deviceId: string, denyKey: string, now: number): boolean {
    const deny = this.denied.get(denyKey);
    if (!deny || now >= deny.until) return false;
    if (deny.quarantined) {
      this.counters.droppedQuarantined++;
    } else {
      this.counters.dropped++;
      deny.pending++;
      deny.strikes++;
      deny.firstPendingAt ??= now;
      deny.lastPendingAt = now;
      this.maybeQuarantine(deviceId, 'over_quota', deny.strikes);
    }
    return true;
  }

  /**
   * An invalid message from a device: a strike against it. While a device keeps sending invalid messages its
   * strikes are counted here and added to Redis every 250 ms (the first one asks Redis at once), like the
   * drops decided locally, so a flood of garbage costs no Redis call per message. The ones that arrive while
   * the first one's call is under way are counted here too (the channel counts them as they arrive, without
   * waiting), so the threshold is crossed at the message that crosses it. Never rejects.
   */
  async invalid(topic: string): Promise<void> {
    const parsed = parseTopic(topic);
    if (!this.config.quotas.enabled || !parsed) return;
    const local = this.invalidStrikes.get(parsed.deviceId);
    if (local) {
      local.pending++;
      this.maybeQuarantine(parsed.deviceId, 'invalid_messages', local.known + local.pending);
      return;
    }
    const entry = { known: 0, pending: 0 };
    this.invalidStrikes.set(parsed.deviceId, entry);
    try {
      const strikes = await this.buckets.strike(parsed.deviceId, this.config.quotas.quarantine.windowSeconds);
      // a flush meanwhile may have added this entry's pending strikes and set `known` from a later count
      entry.known = Math.max(entry.known, strikes);
      this.maybeQuarantine(parsed.deviceId, 'invalid_messages', entry.known + entry.pending);
    } catch (err) {
      if (this.invalidStrikes.get(parsed.deviceId) === entry && entry.pending === 0) this.invalidStrikes.delete(parsed.deviceId);
      this.logThrottled('', `could not count an invalid message against ${parsed.deviceId}: ${(err as Error).message}`);
    }
  }

  async status(deviceId: string): Promise<DeviceQuotaStatus> {
    const [counters, quarantine] = await Promise.all([this.buckets.counters(deviceId), this.repository.openQuarantineOf(deviceId)]);
    return {
      throttled: counters.lastDroppedAt !== null && Date.now() - counters.lastDroppedAt < THROTTLED_FOR_MS,
      dropped: counters.dropped,
      invalid: counters.invalid,
      lastDroppedAt: counters.lastDroppedAt === null ? null : new Date(counters.lastDroppedAt).toISOString(),
      firstDroppedAt: counters.firstDroppedAt === null ? null : new Date(counters.firstDroppedAt).toISOString(),
      countingSince: counters.since === null ? null : new Date(counters.since).toISOString(),
      quarantined: quarantine ? { reason: quarantine.reason, strikes: quarantine.strikes, quarantinedAt: quarantine.quarantinedAt } : null,
    };
  }

  /** Keeps the pending drops of an entry it replaces, so none goes uncounted. */
  private deny(denyKey: string, entry: LocalDeny): void {
    const previous = this.denied.get(denyKey);
    if (previous && previous.pending > 0) {
      entry.pending += previous.pending;
      entry.firstPendingAt = previous.firstPendingAt;
      entry.lastPendingAt = previous.lastPendingAt;
    }
    this.denied.set(denyKey, entry);
  }

  /** Adds the drops decided locally and the invalid messages counted here to the device's Redis counters and strikes; forgets expired entries. */
  async flushDrops(): Promise<void> {
    const now = Date.now();
    const windowSeconds = this.config.quotas.quarantine.windowSeconds;
    for (const [denyKey, entry] of this.denied) {
      const pending = entry.pending;
      if (pending === 0 && now >= entry.until) this.denied.delete(denyKey);
      if (pending === 0) continue;
      entry.pending = 0;
      const at = denyKey.lastIndexOf('|');
      const [deviceId, kind] = [denyKey.slice(0, at), denyKey.slice(at + 1) as QuotaKind];
      try {
        const strikes = await this.buckets.recordDrops(deviceId, kind, pending, windowSeconds, {
          firstAt: entry.firstPendingAt ?? now,
          lastAt: entry.lastPendingAt ?? now,
          seenSince: this.arrivals.firstSeen(denyKey),
        });
        entry.strikes = Math.max(entry.strikes, strikes + entry.pending);
        entry.firstPendingAt = entry.lastPendingAt = undefined;
        this.maybeQuarantine(deviceId, 'over_quota', entry.strikes);
      } catch (err) {
        entry.pending += pending;
        this.logThrottled('', `could not count ${pending} dropped message(s) of ${deviceId}: ${(err as Error).message}`);
        return;
      }
    }
    for (const [deviceId, entry] of this.invalidStrikes) {
      const pending = entry.pending;
      if (pending === 0) {
        this.invalidStrikes.delete(deviceId);
        continue;
      }
      entry.pending = 0;
      // still counted while Redis adds them: the strikes arriving meanwhile are checked against the whole count
      entry.known += pending;
      try {
        entry.known = Math.max(entry.known, await this.buckets.recordInvalid(deviceId, pending, windowSeconds));
        this.maybeQuarantine(deviceId, 'invalid_messages', entry.known + entry.pending);
      } catch (err) {
        entry.known -= pending;
        entry.pending += pending;
        this.logThrottled('', `could not count ${pending} invalid message(s) of ${deviceId}: ${(err as Error).message}`);
        return;
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushDrops();
  }

  /** The limits that apply to a device now. */
  async limitsOf(deviceId: string): Promise<QuotaLimits> {
    const now = Date.now();
    const cached = this.limits.get(deviceId);
    if (cached && now - cached.at < LIMITS_TTL_MS) return cached.limits;
    const [device, overrides] = await Promise.all([this.repository.deviceGroup(deviceId), this.groupOverrides(now)]);
    const limits = applyOverride(this.config.quotas.defaults, device?.group ? overrides.get(device.group) : undefined);
    this.limits.delete(deviceId);
    this.limits.set(deviceId, { limits, at: now });
    if (this.limits.size > LIMITS_CACHE_SIZE) this.limits.delete(this.limits.keys().next().value!);
    return limits;
  }

  private prefetchLimits(deviceId: string): void {
    if (this.prefetching.has(deviceId) || this.prefetching.size > 1000) return;
    this.prefetching.add(deviceId);
    void this.limitsOf(deviceId)
      .catch(() => undefined)
      .finally(() => this.prefetching.delete(deviceId));
  }

  /** Forgets cached limits (this replica; the others within LIMITS_TTL_MS). */
  forgetLimits(): void {
    this.limits.clear();
    this.arrivals.clear();
    this.overrides = undefined;
  }

  private async groupOverrides(now: number): Promise<Map<string, QuotaOverride>> {
    if (!this.overrides || now - this.overrides.at >= LIMITS_TTL_MS) this.overrides = { map: await this.repository.overrides(), at: now };
    return this.overrides.map;
  }

  private maybeQuarantine(deviceId: string, reason: 'over_quota' | 'invalid_messages', strikes: number): void {
    const threshold = this.config.quotas.quarantine.strikes;
    if (threshold > 0 && strikes >= threshold) this.quarantine.trigger(deviceId, reason, strikes);
  }

  private logThrottled(subject: string, line: string): void {
    const now = Date.now();
    if (now - (this.loggedAt.get(subject) ?? 0) < LOG_EVERY_MS) return;
    if (this.loggedAt.size > LIMITS_CACHE_SIZE) this.loggedAt.clear();
    this.loggedAt.set(subject, now);
    this.logger.warn(line);
  }
}

/** The buckets one message draws from; a limit of 0 is no bucket (unlimited). */
export function bucketsFor(kind: QuotaKind, bytes: number, limits: QuotaLimits): BucketSpec[] {
  const { messagesPerSecond, bytesPerSecond } = limits.kinds[kind];
  const burst = limits.burstSeconds;
  const buckets: BucketSpec[] = [];
  if (messagesPerSecond > 0) buckets.push({ name: `${kind}:m`, rate: messagesPerSecond, capacity: Math.max(1, messagesPerSecond * burst), cost: 1 });
  if (bytesPerSecond > 0) buckets.push({ name: `${kind}:B`, rate: bytesPerSecond, capacity: bytesPerSecond * burst, cost: bytes });
  if (kind === 'hard-examples') {
    const perHour = limits.hardExamplesPerHour;
    if (perHour > 0) buckets.push({ name: 'hard-examples:hour', rate: perHour / 3600, capacity: perHour, cost: 1 });
    const perDay = limits.cropBytesPerDay;
    if (perDay > 0) buckets.push({ name: 'hard-examples:day', rate: perDay / 86_400, capacity: perDay, cost: bytes });
  }
  return buckets;
}
