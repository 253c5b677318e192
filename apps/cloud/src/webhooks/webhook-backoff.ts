/**
 * Retry schedule of a webhook delivery: exponential back-off with "equal jitter". After the n-th
 * failed attempt the next one waits a uniformly random time in [d/2, d], d = base · 2^(n−1),
 * capped at one hour: the delays double, and receivers that failed together (an outage) are not
 * all retried in the same instant.
 */
export const WEBHOOK_MAX_BACKOFF_MS = 60 * 60 * 1000;

/** The upper bound d of the wait after `failedAttempts` failures (1 → base, 2 → 2·base, …). */
export function nominalBackoffMs(failedAttempts: number, baseMs: number): number {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) throw new RangeError(`failedAttempts must be a positive integer, not ${failedAttempts}`);
  return Math.min(baseMs * 2 ** (failedAttempts - 1), WEBHOOK_MAX_BACKOFF_MS);
}

/** The wait before the next attempt, in whole milliseconds; `random` returns [0, 1) like Math.random. */
export function webhookBackoffMs(failedAttempts: number, baseMs: number, random: () => number = Math.random): number {
  const nominal = nominalBackoffMs(failedAttempts, baseMs);
  return Math.round(nominal / 2 + random() * (nominal / 2));
}

/** The bounds of every wait for a delivery of `maxAttempts` attempts: `maxAttempts − 1` entries. */
export function webhookRetrySchedule(maxAttempts: number, baseMs: number): Array<{ beforeAttempt: number; minMs: number; maxMs: number }> {
  return Array.from({ length: Math.max(0, maxAttempts - 1) }, (_, i) => {
    const maxMs = nominalBackoffMs(i + 1, baseMs);
    return { beforeAttempt: i + 2, minMs: Math.round(maxMs / 2), maxMs };
  });
}
