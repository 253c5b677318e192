import type { BucketSpec } from './quota-buckets.repository';

interface Level {
  tokens: number;
  at: number;
}

/**
 * In-memory token buckets of one replica, the same rate and capacity as the Redis ones, filled as messages
 * arrive at this replica's broker. They see only this replica's arrivals, so when one is empty the device
 * sent more than its quota: the message can be dropped without asking Redis. Oldest entries go first past
 * `maxEntries` (a forgotten bucket starts full again, which only lets the next message through to Redis).
 */
export class ArrivalBuckets {
  private readonly levels = new Map<string, Level>();
  /** When this replica first saw a message of a (device, kind): its counters start there. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries: number) {}

  /** Takes from every bucket of the message, or from none: 0 when taken, else the ms until all could give. */
  take(key: string, now: number, buckets: readonly BucketSpec[]): number {
    if (!this.seen.has(key)) {
      this.seen.set(key, now);
      if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value!);
    }
    const levels: Level[] = [];
    let retryInMs = 0;
    for (const bucket of buckets) {
      const id = `${key}|${bucket.name}`;
      let level = this.levels.get(id);
      if (!level) {
        level = { tokens: bucket.capacity, at: now };
        this.levels.set(id, level);
        if (this.levels.size > this.maxEntries) this.levels.delete(this.levels.keys().next().value!);
      }
      level.tokens = Math.min(bucket.capacity, level.tokens + (Math.max(0, now - level.at) * bucket.rate) / 1000);
      level.at = now;
      if (level.tokens < bucket.cost) retryInMs = Math.max(retryInMs, Math.ceil(((bucket.cost - level.tokens) * 1000) / bucket.rate));
      levels.push(level);
    }
    if (retryInMs > 0) return retryInMs;
    levels.forEach((level, i) => (level.tokens -= buckets[i]!.cost));
    return 0;
  }

  firstSeen(key: string): number | undefined {
    return this.seen.get(key);
  }

  clear(): void {
    this.levels.clear();
  }

  /** Forgets the buckets of one (device, kind): they start full again. */
  forget(key: string): void {
    for (const id of this.levels.keys()) if (id.startsWith(`${key}|`)) this.levels.delete(id);
  }
}
