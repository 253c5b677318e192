import { z } from 'zod';
import { DeviceIdSchema, IsoTimestampSchema } from '../identifiers';

/**
 * Device quota DTOs: `GET /api/v1/devices/{id}/quota`, `POST /api/v1/devices/{id}/quarantine/lift`, and the
 * `quota` of `GET /api/v1/devices/{id}`.
 */

const count = z.number().int().nonnegative();

/** The limits of one topic kind: a token bucket of messages and one of bytes, refilled per second (0: unlimited). */
export const KindLimitsSchema = z.object({ messagesPerSecond: z.number().nonnegative(), bytesPerSecond: z.number().nonnegative() });

/** A device's quota: per topic kind, plus the hard-example budgets per hour and per day. 0 means unlimited. */
export const QuotaLimitsSchema = z.object({
  kinds: z.record(z.string().min(1).max(64), KindLimitsSchema),
  burstSeconds: z.number().nonnegative(),
  hardExamplesPerHour: z.number().nonnegative(),
  cropBytesPerDay: z.number().nonnegative(),
});
export type QuotaLimitsResponse = z.infer<typeof QuotaLimitsSchema>;

export const QuarantineStateSchema = z.object({ reason: z.string(), strikes: z.number().int(), quarantinedAt: IsoTimestampSchema });

/** Whether the cloud is dropping a device's messages, what it dropped per kind, and its quarantine. */
export const DeviceQuotaStatusSchema = z.object({
  throttled: z.boolean(),
  dropped: z.record(z.string().min(1).max(64), count),
  invalid: count,
  lastDroppedAt: IsoTimestampSchema.nullable(),
  firstDroppedAt: IsoTimestampSchema.nullable(),
  /** Since when the cloud checks this device's messages (the counters' start). */
  countingSince: IsoTimestampSchema.nullable(),
  quarantined: QuarantineStateSchema.nullable(),
});
export type DeviceQuotaStatus = z.infer<typeof DeviceQuotaStatusSchema>;

export const DeviceQuotaResponseSchema = DeviceQuotaStatusSchema.extend({ deviceId: DeviceIdSchema, limits: QuotaLimitsSchema });
export type DeviceQuotaResponse = z.infer<typeof DeviceQuotaResponseSchema>;

/** A quarantine as stored: open until lifted. */
export const QuarantineRecordSchema = QuarantineStateSchema.extend({
  deviceId: DeviceIdSchema,
  liftedAt: IsoTimestampSchema.nullable(),
  liftedBy: z.string().nullable(),
});
export type QuarantineRecordResponse = z.infer<typeof QuarantineRecordSchema>;

/** `POST /api/v1/devices/{id}/quarantine/lift`: the quarantine that was lifted. */
export const LiftQuarantineResponseSchema = z.object({ quarantine: QuarantineRecordSchema });
export type LiftQuarantineResponse = z.infer<typeof LiftQuarantineResponseSchema>;
