import { z } from 'zod';
import { IsoTimestampSchema, ModelNameSchema, ModelReferenceSchema, ModelVersionNumberSchema, ModelVersionRefSchema, RecordIdSchema } from '../identifiers';

/** Retraining DTOs: `POST /api/v1/retraining/jobs`, `GET /api/v1/retraining/jobs[/{id}]`. */

export const StartRetrainingRequestSchema = z.strictObject({
  /** The version to improve on, `name@version` or `name@alias` (usually `face-id@production`). */
  base: ModelReferenceSchema,
  /** Start a canary rollout of the candidate when it registers. */
  autoCanary: z.boolean().default(false),
});
export type StartRetrainingRequest = z.input<typeof StartRetrainingRequestSchema>;

export const RETRAINING_STEPS = ['build-dataset', 'train-head', 'calibrate', 'evaluate', 'register'] as const;
export const RETRAINING_STATUSES = ['queued', 'running', 'completed', 'failed'] as const;

export const RetrainingRunSchema = z.object({
  id: RecordIdSchema,
  modelName: ModelNameSchema,
  baseVersion: ModelVersionNumberSchema,
  trigger: z.enum(['manual', 'drift']),
  status: z.enum(RETRAINING_STATUSES),
  step: z.enum(RETRAINING_STEPS).nullable(),
  /** 0 … 1 over the whole flow. */
  progress: z.number().min(0).max(1),
  candidate: ModelVersionRefSchema.nullable(),
  error: z.string().nullable(),
  createdAt: IsoTimestampSchema,
  finishedAt: IsoTimestampSchema.nullable(),
});
export type RetrainingRun = z.infer<typeof RetrainingRunSchema>;
