import { z } from 'zod';
import { DeviceIdSchema, GroupSchema, IsoTimestampSchema, ModelReferenceSchema, ModelVersionRefSchema } from '../identifiers';

/** `GET /api/v1/metrics/predictions?model=face-id@7&device=…&group=…&from=…&to=…&bucket=minute`. */

export const METRIC_BUCKETS = ['minute', 'hour', 'day'] as const;

export const PredictionMetricsQuerySchema = z.strictObject({
  model: ModelReferenceSchema.optional(),
  device: DeviceIdSchema.optional(),
  group: GroupSchema.optional(),
  from: IsoTimestampSchema.optional(),
  to: IsoTimestampSchema.optional(),
  bucket: z.enum(METRIC_BUCKETS).default('minute'),
});
export type PredictionMetricsQuery = z.input<typeof PredictionMetricsQuerySchema>;

const quantiles = z.object({ p50: z.number().nonnegative(), p95: z.number().nonnegative() });

/** One aggregate row: a (model version, device, bucket) cell, or their roll-up over devices. */
export const PredictionMetricsRowSchema = z.object({
  bucketStart: IsoTimestampSchema,
  model: ModelVersionRefSchema,
  /** Null when the row rolls up several devices. */
  deviceId: DeviceIdSchema.nullable(),
  frames: z.number().int().nonnegative(),
  faces: z.number().int().nonnegative(),
  unknownRate: z.number().min(0).max(1),
  /** Share of frames with at least one face. */
  detectionRate: z.number().min(0).max(1),
  meanScore: z.number().nullable(),
  meanMargin: z.number().nullable(),
  latencyMs: z.object({ detect: quantiles, embed: quantiles, total: quantiles }),
  stats: z.object({ brightness: z.number(), contrast: z.number(), sharpness: z.number() }).nullable(),
});
export type PredictionMetricsRow = z.infer<typeof PredictionMetricsRowSchema>;

export const PredictionMetricsResponseSchema = z.object({ rows: z.array(PredictionMetricsRowSchema) });
export type PredictionMetricsResponse = z.infer<typeof PredictionMetricsResponseSchema>;
