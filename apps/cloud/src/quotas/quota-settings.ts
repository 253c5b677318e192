import { envTypes } from '@edgeloop/config';
import { z } from 'zod';

const { bool } = envTypes;

/** The device-to-cloud topic kinds a quota applies to. */
export const QUOTA_KINDS = ['predictions', 'hard-examples', 'reported', 'status'] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];

/** Every token bucket a device may have (`bucketsFor` in quota.service.ts), so a lift can reset them all. */
export const BUCKET_NAMES = [...QUOTA_KINDS.flatMap((kind) => [`${kind}:m`, `${kind}:B`]), 'hard-examples:hour', 'hard-examples:day'];

/** The limits of one topic kind: a token bucket of messages and one of bytes, refilled per second. */
export interface KindLimits {
  messagesPerSecond: number;
  bytesPerSecond: number;
}

/** A device's quota: per kind, plus the hard-example budgets per hour and per day. 0 means unlimited. */
export interface QuotaLimits {
  kinds: Record<QuotaKind, KindLimits>;
  /** How many seconds of the rate a bucket holds: the burst a quiet device may send at once. */
  burstSeconds: number;
  hardExamplesPerHour: number;
  /** Bytes of hard-example messages per day (the crop is most of one: base64 in JSON, ≥ 4/3 of the JPEG). */
  cropBytesPerDay: number;
}

/** What an operator may override per device group (`PUT /api/v1/quotas/groups/{group}`): any subset. */
const kindOverride = z.strictObject({
  messagesPerSecond: z.number().min(0).max(1_000_000).optional(),
  bytesPerSecond: z
    .number()
    .int()
    .min(0)
    .max(10 * 1024 ** 3)
    .optional(),
});
export const QuotaOverrideSchema = z.strictObject({
  kinds: z
    .strictObject({
      predictions: kindOverride.optional(),
      'hard-examples': kindOverride.optional(),
      reported: kindOverride.optional(),
      status: kindOverride.optional(),
    })
    .optional(),
  burstSeconds: z.number().min(1).max(3600).optional(),
  hardExamplesPerHour: z.number().int().min(0).max(10_000_000).optional(),
  cropBytesPerDay: z
    .number()
    .int()
    .min(0)
    .max(10 * 1024 ** 4)
    .optional(),
});
export type QuotaOverride = z.infer<typeof QuotaOverrideSchema>;

/** Limits with a group's override laid over them. */
export function applyOverride(base: QuotaLimits, override: QuotaOverride | undefined): QuotaLimits {
  if (!override) return base;
  const kinds = { ...base.kinds };
  for (const kind of QUOTA_KINDS) kinds[kind] = { ...base.kinds[kind], ...(override.kinds?.[kind] ?? {}) };
  return {
    kinds,
    burstSeconds: override.burstSeconds ?? base.burstSeconds,
    hardExamplesPerHour: override.hardExamplesPerHour ?? base.hardExamplesPerHour,
    cropBytesPerDay: override.cropBytesPerDay ?? base.cropBytesPerDay,
  };
}

const rate = z.coerce.number().min(0).max(1_000_000);
const bytes = z.coerce
  .number()
  .int()
  .min(0)
  .max(10 * 1024 ** 3);
const count = (max: number) => z.coerce.number().int().min(0).max(max);

/**
 * EDGELOOP_QUOTA_*, EDGELOOP_QUARANTINE_*, EDGELOOP_DEAD_LETTER_* and the retention caps, spread into the
 * cloud's environment schema. The defaults sit well above what our edge worker sends (a batch every
 * ≤ 10 s, 6 hard examples a minute, a report on change) and well below what one device could cost the cloud.
 */
export const quotaEnvShape = {
  EDGELOOP_QUOTAS_ENABLED: bool.default(true),
  EDGELOOP_QUOTA_BURST_SECONDS: z.coerce.number().min(1).max(3600).default(10),
  EDGELOOP_QUOTA_PREDICTIONS_PER_SECOND: rate.default(20),
  EDGELOOP_QUOTA_PREDICTIONS_BYTES_PER_SECOND: bytes.default(1024 * 1024),
  EDGELOOP_QUOTA_HARD_EXAMPLES_PER_SECOND: rate.default(5),
  EDGELOOP_QUOTA_HARD_EXAMPLES_BYTES_PER_SECOND: bytes.default(512 * 1024),
  EDGELOOP_QUOTA_REPORTED_PER_SECOND: rate.default(2),
  EDGELOOP_QUOTA_REPORTED_BYTES_PER_SECOND: bytes.default(64 * 1024),
  EDGELOOP_QUOTA_STATUS_PER_SECOND: rate.default(1),
  EDGELOOP_QUOTA_STATUS_BYTES_PER_SECOND: bytes.default(8 * 1024),
  EDGELOOP_QUOTA_HARD_EXAMPLES_PER_HOUR: count(10_000_000).default(600),
  EDGELOOP_QUOTA_CROP_BYTES_PER_DAY: count(10 * 1024 ** 4).default(512 * 1024 ** 2),
  EDGELOOP_QUOTA_HOLD_MAX_MS: count(1000).default(250),
  EDGELOOP_QUARANTINE_STRIKES: count(100_000_000).default(1000),
  EDGELOOP_QUARANTINE_WINDOW_SECONDS: count(86_400).min(1).default(60),
  EDGELOOP_DEAD_LETTER_SAMPLE: count(1_000_000).default(20),
  EDGELOOP_DEAD_LETTER_WINDOW_SECONDS: count(86_400).min(1).default(3600),
  EDGELOOP_DEAD_LETTER_RETENTION_DAYS: z.coerce.number().min(0).max(3650).default(7),
  EDGELOOP_DEAD_LETTER_MAX_ROWS: count(100_000_000).min(1).default(100_000),
  EDGELOOP_HARD_EXAMPLE_RETENTION_DAYS: z.coerce.number().min(0).max(3650).default(90),
  EDGELOOP_HARD_EXAMPLE_MAX_ROWS: count(1_000_000_000).min(1).default(500_000),
  EDGELOOP_RAW_MAX_ROWS: count(1_000_000_000).min(0).default(1_000_000),
  EDGELOOP_RETENTION_SWEEP_SECONDS: count(86_400).min(1).default(300),
};

type QuotaEnv = { [K in keyof typeof quotaEnvShape]: z.output<(typeof quotaEnvShape)[K]> };

export interface QuotaSettings {
  enabled: boolean;
  defaults: QuotaLimits;
  /** The longest the embedded broker stops reading an over-quota device's connection at a time; 0 never. */
  holdMaxMs: number;
  /** Strikes (dropped over-quota or invalid messages) within the window that quarantine a device; 0 never. */
  quarantine: { strikes: number; windowSeconds: number };
  /** The first `sample` dead letters per (device, code, window) are kept in full, the rest only counted. */
  deadLetters: { sample: number; windowSeconds: number; retentionDays: number; maxRows: number };
  /** Unlabelled hard examples (rows and crops) older than the retention, or past the cap, are deleted. */
  hardExamples: { retentionDays: number; maxRows: number };
  /** Raw prediction payloads kept at most (the oldest beyond are cleared); their age limit is EDGELOOP_RAW_RETENTION_HOURS. */
  rawMaxRows: number;
  retentionSweepSeconds: number;
}

export function quotaSettings(env: QuotaEnv): QuotaSettings {
  return {
    enabled: env.EDGELOOP_QUOTAS_ENABLED,
    defaults: {
      kinds: {
        predictions: { messagesPerSecond: env.EDGELOOP_QUOTA_PREDICTIONS_PER_SECOND, bytesPerSecond: env.EDGELOOP_QUOTA_PREDICTIONS_BYTES_PER_SECOND },
        'hard-examples': { messagesPerSecond: env.EDGELOOP_QUOTA_HARD_EXAMPLES_PER_SECOND, bytesPerSecond: env.EDGELOOP_QUOTA_HARD_EXAMPLES_BYTES_PER_SECOND },
        reported: { messagesPerSecond: env.EDGELOOP_QUOTA_REPORTED_PER_SECOND, bytesPerSecond: env.EDGELOOP_QUOTA_REPORTED_BYTES_PER_SECOND },
        status: { messagesPerSecond: env.EDGELOOP_QUOTA_STATUS_PER_SECOND, bytesPerSecond: env.EDGELOOP_QUOTA_STATUS_BYTES_PER_SECOND },
      },
      burstSeconds: env.EDGELOOP_QUOTA_BURST_SECONDS,
      hardExamplesPerHour: env.EDGELOOP_QUOTA_HARD_EXAMPLES_PER_HOUR,
      cropBytesPerDay: env.EDGELOOP_QUOTA_CROP_BYTES_PER_DAY,
    },
    holdMaxMs: env.EDGELOOP_QUOTA_HOLD_MAX_MS,
    quarantine: { strikes: env.EDGELOOP_QUARANTINE_STRIKES, windowSeconds: env.EDGELOOP_QUARANTINE_WINDOW_SECONDS },
    deadLetters: {
      sample: env.EDGELOOP_DEAD_LETTER_SAMPLE,
      windowSeconds: env.EDGELOOP_DEAD_LETTER_WINDOW_SECONDS,
      retentionDays: env.EDGELOOP_DEAD_LETTER_RETENTION_DAYS,
      maxRows: env.EDGELOOP_DEAD_LETTER_MAX_ROWS,
    },
    hardExamples: { retentionDays: env.EDGELOOP_HARD_EXAMPLE_RETENTION_DAYS, maxRows: env.EDGELOOP_HARD_EXAMPLE_MAX_ROWS },
    rawMaxRows: env.EDGELOOP_RAW_MAX_ROWS,
    retentionSweepSeconds: env.EDGELOOP_RETENTION_SWEEP_SECONDS,
  };
}
