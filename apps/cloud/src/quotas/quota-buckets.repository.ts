import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { CloudConfig } from '../config/cloud.config';
import { QUOTA_KINDS, type QuotaKind } from './quota-settings';

/** One token bucket of a check: refilled at `rate` tokens a second up to `capacity`; the message costs `cost`. */
export interface BucketSpec {
  name: string;
  rate: number;
  capacity: number;
  cost: number;
}

export type TakeOutcome =
  | { outcome: 'allowed' }
  /** `retryInMs`: when the bucket that refused will hold enough for a message like this one. */
  | { outcome: 'dropped'; bucket: string; strikes: number; retryInMs: number }
  | { outcome: 'quarantined' };

/** What Redis knows of one device: drops per kind, invalid messages, when it was last throttled. */
export interface DeviceQuotaCounters {
  dropped: Record<QuotaKind, number>;
  invalid: number;
  lastDroppedAt: number | null;
  /** The first drop since the device's counters began (or since its quarantine was lifted). */
  firstDroppedAt: number | null;
  /** When the cloud first checked a message of the device against its quota (or since its quarantine was lifted). */
  since: number | null;
  strikes: number;
}

/**
 * Checks every bucket, then takes from all of them or from none. Time is Redis's own (TIME), so every
 * replica refills alike. Over quota, the device's strike counter (a fixed window of ARGV[2] seconds) and
 * its drop counters go up in the same call. Keys: quarantine flag, strikes, counters hash, buckets…
 */
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {2, 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[3])
redis.call('HSETNX', KEYS[3], 'since', now)
local levels = {}
for i = 1, n do
  local rate = tonumber(ARGV[1 + 3 * i])
  local capacity = tonumber(ARGV[2 + 3 * i])
  local cost = tonumber(ARGV[3 + 3 * i])
  local state = redis.call('HMGET', KEYS[3 + i], 't', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  local level = math.min(capacity, tokens + math.max(0, now - ts) * rate / 1000)
  if level < cost then
    local strikes = redis.call('INCR', KEYS[2])
    if strikes == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2])) end
    redis.call('HINCRBY', KEYS[3], 'dropped:' .. ARGV[1], 1)
    redis.call('HSET', KEYS[3], 'lastDroppedAt', now)
    redis.call('HSETNX', KEYS[3], 'firstDroppedAt', now)
    return {1, strikes, i, math.ceil((cost - level) * 1000 / rate)}
  end
  levels[i] = level
end
for i = 1, n do
  local rate = tonumber(ARGV[1 + 3 * i])
  local capacity = tonumber(ARGV[2 + 3 * i])
  local cost = tonumber(ARGV[3 + 3 * i])
  redis.call('HSET', KEYS[3 + i], 't', levels[i] - cost, 'ts', now)
  redis.call('PEXPIRE', KEYS[3 + i], math.ceil(capacity / rate * 1000) + 1000)
end
return {0, 0, 0}
`;

/** An invalid message: one strike, one count. Keys: strikes, counters hash. */
const STRIKE = `
local strikes = redis.call('INCR', KEYS[1])
if strikes == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
redis.call('HINCRBY', KEYS[2], 'invalid', 1)
return strikes
`;

/** Sets each field (ARGV pairs) of the hash KEYS[1] that is absent or later than the value given. */
const SET_EARLIER = `
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  if not current or current > tonumber(ARGV[i + 1]) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
`;

type QuotaRedis = Redis & {
  quotaSetEarlier(...args: Array<string | number>): Promise<number>;
  quotaTake(...args: Array<string | number>): Promise<[number, number, number, number?]>;
  quotaStrike(...args: Array<string | number>): Promise<number>;
};

/** Redis keys of one device share a hash tag, so the scripts stay correct on Redis Cluster. */
const key = (deviceId: string, part: string) => `edgeloop:quota:{${deviceId}}:${part}`;
const DROPPED_TOTALS = 'edgeloop:quota:dropped';
const DROPPED_BY_DEVICE = 'edgeloop:quota:dropped-by-device';

/**
 * Token buckets, strikes, quarantine flags and drop counters in Redis: every cloud replica reads and
 * writes the same state, so a device's quota is one quota however many replicas share its messages.
 */
@Injectable()
export class QuotaBucketsRepository implements OnApplicationShutdown {
  private readonly logger = new Logger(QuotaBucketsRepository.name);
  private readonly redis: QuotaRedis;

  constructor(config: CloudConfig) {
    this.redis = new Redis(config.redisUrl!, { maxRetriesPerRequest: 2, connectionName: 'edgeloop-quotas', lazyConnect: true }) as QuotaRedis;
    this.redis.on('error', (err: Error) => this.logger.warn(`redis: ${err.message}`));
    this.redis.defineCommand('quotaTake', { lua: TAKE });
    this.redis.defineCommand('quotaStrike', { lua: STRIKE });
    this.redis.defineCommand('quotaSetEarlier', { lua: SET_EARLIER, numberOfKeys: 1 });
  }

  async take(deviceId: string, kind: QuotaKind, buckets: BucketSpec[], strikeWindowSeconds: number): Promise<TakeOutcome> {
    const keys = [key(deviceId, 'quarantined'), key(deviceId, 'strikes'), key(deviceId, 'counters'), ...buckets.map((b) => key(deviceId, `b:${b.name}`))];
    const args: Array<string | number> = [kind, strikeWindowSeconds, buckets.length];
    for (const b of buckets) args.push(b.rate, b.capacity, b.cost);
    const [code, strikes, index, retryInMs] = await this.redis.quotaTake(keys.length, ...keys, ...args);
    if (code === 2) return { outcome: 'quarantined' };
    if (code === 0) return { outcome: 'allowed' };
    // cluster-wide totals for Prometheus: other hash slots than the device's, so outside the script
    await this.redis.pipeline().hincrby(DROPPED_TOTALS, kind, 1).hincrby(DROPPED_BY_DEVICE, `${deviceId}|${kind}`, 1).exec();
    return { outcome: 'dropped', bucket: buckets[index - 1]!.name, strikes, retryInMs: retryInMs ?? 1000 };
  }

  /**
   * Drops a replica decided on its own: struck and counted like the others. `firstAt`/`lastAt` bound when they
   * happened; `seenSince`, when this replica first saw a message of the device (its broker's early check).
   */
  async recordDrops(
    deviceId: string,
    kind: QuotaKind,
    dropped: number,
    strikeWindowSeconds: number,
    drops: { firstAt: number; lastAt: number; seenSince?: number },
  ): Promise<number> {
    // first: a reader that sees the drops counted also sees when they started
    await this.redis.quotaSetEarlier(
      key(deviceId, 'counters'),
      'firstDroppedAt',
      drops.firstAt,
      ...(drops.seenSince === undefined ? [] : ['since', drops.seenSince]),
    );
    // a pipeline, not MULTI: the totals live in other hash slots than the device's keys
    const results = await this.redis
      .pipeline()
      .incrby(key(deviceId, 'strikes'), dropped)
      .expire(key(deviceId, 'strikes'), strikeWindowSeconds, 'NX')
      .hset(key(deviceId, 'counters'), 'lastDroppedAt', drops.lastAt)
      .hincrby(key(deviceId, 'counters'), `dropped:${kind}`, dropped)
      .hincrby(DROPPED_TOTALS, kind, dropped)
      .hincrby(DROPPED_BY_DEVICE, `${deviceId}|${kind}`, dropped)
      .exec();
    return Number(results?.[0]?.[1] ?? 0);
  }

  /** Invalid messages a replica counted on its own: struck and counted like the others; returns the device's strikes. */
  async recordInvalid(deviceId: string, invalid: number, strikeWindowSeconds: number): Promise<number> {
    const results = await this.redis
      .pipeline()
      .incrby(key(deviceId, 'strikes'), invalid)
      .expire(key(deviceId, 'strikes'), strikeWindowSeconds, 'NX')
      .hincrby(key(deviceId, 'counters'), 'invalid', invalid)
      .exec();
    return Number(results?.[0]?.[1] ?? 0);
  }

  /** Counts an invalid message against the device; returns its strikes in the current window. */
  strike(deviceId: string, strikeWindowSeconds: number): Promise<number> {
    return this.redis.quotaStrike(2, key(deviceId, 'strikes'), key(deviceId, 'counters'), strikeWindowSeconds);
  }

  /** Sets the quarantine flag; true when this call set it (one replica quarantines, the others see it set). */
  async flagQuarantined(deviceId: string): Promise<boolean> {
    return (await this.redis.set(key(deviceId, 'quarantined'), '1', 'NX')) === 'OK';
  }

  /** Clears the flag, the strikes and the buckets: a lifted device starts with full buckets. */
  async clearQuarantine(deviceId: string, bucketNames: string[]): Promise<void> {
    await this.redis.del(key(deviceId, 'quarantined'), key(deviceId, 'strikes'), ...bucketNames.map((name) => key(deviceId, `b:${name}`)));
    if (bucketNames.length > 0) await this.redis.hdel(key(deviceId, 'counters'), 'firstDroppedAt', 'since');
  }

  async counters(deviceId: string): Promise<DeviceQuotaCounters> {
    const [hash, strikes] = await Promise.all([this.redis.hgetall(key(deviceId, 'counters')), this.redis.get(key(deviceId, 'strikes'))]);
    const dropped = Object.fromEntries(QUOTA_KINDS.map((kind) => [kind, Number(hash[`dropped:${kind}`] ?? 0)])) as Record<QuotaKind, number>;
    return {
      dropped,
      invalid: Number(hash.invalid ?? 0),
      lastDroppedAt: hash.lastDroppedAt ? Number(hash.lastDroppedAt) : null,
      firstDroppedAt: hash.firstDroppedAt ? Number(hash.firstDroppedAt) : null,
      since: hash.since ? Number(hash.since) : null,
      strikes: Number(strikes ?? 0),
    };
  }

  /** Dropped messages by kind, cluster-wide. */
  async droppedTotals(): Promise<Record<QuotaKind, number>> {
    const hash = await this.redis.hgetall(DROPPED_TOTALS);
    return Object.fromEntries(QUOTA_KINDS.map((kind) => [kind, Number(hash[kind] ?? 0)])) as Record<QuotaKind, number>;
  }

  /** The `limit` (device, kind) pairs with the most dropped messages. */
  async topDropped(limit: number): Promise<Array<{ deviceId: string; kind: string; dropped: number }>> {
    const hash = await this.redis.hgetall(DROPPED_BY_DEVICE);
    return Object.entries(hash)
      .map(([field, value]) => {
        const at = field.lastIndexOf('|');
        return { deviceId: field.slice(0, at), kind: field.slice(at + 1), dropped: Number(value) };
      })
      .sort((a, b) => b.dropped - a.dropped)
      .slice(0, limit);
  }

  async connect(): Promise<void> {
    if (this.redis.status === 'wait') await this.redis.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
