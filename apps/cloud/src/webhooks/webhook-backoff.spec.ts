import { nominalBackoffMs, WEBHOOK_MAX_BACKOFF_MS, webhookBackoffMs, webhookRetrySchedule } from './webhook-backoff';

describe('webhook back-off', () => {
  it('doubles the nominal wait after each failed attempt, up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => nominalBackoffMs(n, 1000))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 64_000]);
    expect(nominalBackoffMs(30, 1000)).toBe(WEBHOOK_MAX_BACKOFF_MS);
    expect(() => nominalBackoffMs(0, 1000)).toThrow(RangeError);
  });

  it('jitters each wait uniformly between half and all of the nominal wait', () => {
    expect(webhookBackoffMs(3, 1000, () => 0)).toBe(2000);
    expect(webhookBackoffMs(3, 1000, () => 0.5)).toBe(3000);
    expect(webhookBackoffMs(3, 1000, () => 0.999999)).toBe(4000);
    const samples = Array.from({ length: 2000 }, () => webhookBackoffMs(4, 1000));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(4000);
    expect(Math.max(...samples)).toBeLessThanOrEqual(8000);
    // spread out: not all retries of a burst land in the same instant
    expect(new Set(samples).size).toBeGreaterThan(500);
  });

  it('lists the default schedule: 8 attempts, 7 waits of 0.5-1 s up to 32-64 s', () => {
    expect(webhookRetrySchedule(8, 1000)).toEqual([
      { beforeAttempt: 2, minMs: 500, maxMs: 1000 },
      { beforeAttempt: 3, minMs: 1000, maxMs: 2000 },
      { beforeAttempt: 4, minMs: 2000, maxMs: 4000 },
      { beforeAttempt: 5, minMs: 4000, maxMs: 8000 },
      { beforeAttempt: 6, minMs: 8000, maxMs: 16_000 },
      { beforeAttempt: 7, minMs: 16_000, maxMs: 32_000 },
      { beforeAttempt: 8, minMs: 32_000, maxMs: 64_000 },
    ]);
    expect(webhookRetrySchedule(1, 1000)).toEqual([]);
  });
});
