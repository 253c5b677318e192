import { z } from 'zod';
import {
  GroupSchema,
  IsoTimestampSchema,
  ModelNameSchema,
  ModelReferenceSchema,
  ModelVersionNumberSchema,
  ModelVersionRefSchema,
  RecordIdSchema,
  Sha256Schema,
} from '../identifiers';

/**
 * Retraining DTOs: `POST /api/v1/retraining/jobs`, `GET /api/v1/retraining/jobs[/{id}]`,
 * `GET|PUT /api/v1/retraining/settings/{model}`.
 */

export const StartRetrainingRequestSchema = z.strictObject({
  /** The version to improve on, `name@version` or `name@alias` (usually `face-id@production`). */
  base: ModelReferenceSchema,
  /** Start a canary rollout of the candidate when it registers (automatic triggers use the model's setting instead). */
  autoCanary: z.boolean().default(false),
});
export type StartRetrainingRequest = z.input<typeof StartRetrainingRequestSchema>;

export const RETRAINING_STEPS = ['build-dataset', 'train-head', 'calibrate', 'evaluate', 'register'] as const;
export type RetrainingStep = (typeof RETRAINING_STEPS)[number];
/** `rejected`: the flow finished but the candidate did not pass the gate (kept with its report, not registered). */
export const RETRAINING_STATUSES = ['queued', 'running', 'completed', 'rejected', 'failed'] as const;
export type RetrainingStatus = (typeof RETRAINING_STATUSES)[number];
export const RETRAINING_TRIGGERS = ['manual', 'drift', 'labels'] as const;
export type RetrainingTrigger = (typeof RETRAINING_TRIGGERS)[number];
export const RETRAINING_STEP_STATUSES = ['pending', 'running', 'done', 'failed'] as const;

/** Share of the whole flow each step stands for (sums to 1). */
export const RETRAINING_STEP_WEIGHTS: Readonly<Record<RetrainingStep, number>> = Object.freeze({
  'build-dataset': 0.1,
  'train-head': 0.4,
  calibrate: 0.15,
  evaluate: 0.25,
  register: 0.1,
});

export const RetrainingStepStateSchema = z.object({
  status: z.enum(RETRAINING_STEP_STATUSES),
  /** Attempts the queue made (more than one after a retry or a restart mid-step). */
  attempts: z.number().int().nonnegative(),
  startedAt: IsoTimestampSchema.nullable(),
  finishedAt: IsoTimestampSchema.nullable(),
  durationMs: z.number().nonnegative().nullable(),
  /** Where the step's output is in object storage, and its sha256. */
  output: z.object({ key: z.string().min(1).max(512), sha256: Sha256Schema }).nullable(),
});
export type RetrainingStepState = z.infer<typeof RetrainingStepStateSchema>;

const count = z.number().int().nonnegative();

export const RetrainingDatasetSchema = z.object({
  digest: Sha256Schema,
  identities: count,
  examples: count,
  splits: z.object({ train: count, validation: count, calibration: count, holdout: count }),
  /** By kind (identity, stranger, not_a_face) and by source, as the training data reported them. */
  counts: z.record(z.string().min(1).max(64), count),
  notes: z.array(z.string().max(2000)).max(50),
});
export type RetrainingDataset = z.infer<typeof RetrainingDatasetSchema>;

const metricRecord = z.record(z.string().min(1).max(64), z.number());

/** The evaluation of candidate and production on the same frozen holdout, and the gate's verdict. */
export const RetrainingReportSchema = z.object({
  verdict: z.enum(['passed', 'rejected']),
  reasons: z.array(z.string().max(2000)).max(200),
  holdoutProbes: count,
  candidate: z.object({ metrics: metricRecord, thresholds: z.object({ match: z.number(), margin: z.number() }) }),
  production: z
    .object({ version: ModelVersionNumberSchema, metrics: metricRecord, thresholds: z.object({ match: z.number(), margin: z.number() }) })
    .nullable(),
  primary: z.object({ metric: z.string().min(1).max(64), candidate: z.number(), production: z.number().nullable(), delta: z.number().nullable() }),
  worseSlices: z.array(
    z.object({ kind: z.string().min(1).max(32), key: z.string().max(256), n: count, candidate: z.number(), production: z.number(), delta: z.number() }),
  ),
  mcnemar: z.object({ b: count, c: count, statistic: z.number(), pValue: z.number(), method: z.string().max(32) }).nullable(),
  /** Trainer method kept and its settings. */
  trainer: z.record(z.string().min(1).max(64), z.unknown()),
});
export type RetrainingReport = z.infer<typeof RetrainingReportSchema>;

/** `pending`: the candidate registered with autoCanary and its canary deployment is being created. */
export const CANARY_STATES = ['none', 'pending', 'skipped', 'running', 'promoted', 'rolled_back'] as const;

export const RetrainingRunSchema = z.object({
  id: RecordIdSchema,
  modelName: ModelNameSchema,
  baseVersion: ModelVersionNumberSchema,
  trigger: z.enum(RETRAINING_TRIGGERS),
  status: z.enum(RETRAINING_STATUSES),
  step: z.enum(RETRAINING_STEPS).nullable(),
  /** 0 … 1 over the whole flow. */
  progress: z.number().min(0).max(1),
  steps: z.record(z.enum(RETRAINING_STEPS), RetrainingStepStateSchema),
  dataset: RetrainingDatasetSchema.nullable(),
  report: RetrainingReportSchema.nullable(),
  candidate: ModelVersionRefSchema.nullable(),
  autoCanary: z.boolean(),
  canary: z.object({ state: z.enum(CANARY_STATES), deploymentId: RecordIdSchema.nullable(), reason: z.string().nullable() }),
  error: z.string().nullable(),
  createdAt: IsoTimestampSchema,
  finishedAt: IsoTimestampSchema.nullable(),
});
export type RetrainingRun = z.infer<typeof RetrainingRunSchema>;

export const RetrainingRunListSchema = z.object({ runs: z.array(RetrainingRunSchema) });

/**
 * Per-model retraining settings (`PUT /api/v1/retraining/settings/{model}` replaces the stored ones;
 * every field is optional and falls back to the default shown by `GET`).
 */
export const RetrainingSettingsSchema = z.strictObject({
  /** Start a canary of each registered candidate; promote it to `production` when the canary completes. */
  autoCanary: z.boolean().default(false),
  /** Automatic triggers (drift, labels) wait this long after the model's last run; manual runs do not. */
  cooldownSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 86_400)
    .default(3600),
  /** Start a run once this many examples were labelled since the last run; null: never on labels alone. */
  labelsThreshold: z.number().int().positive().max(10_000_000).nullable().default(null),
  /** A `drift.detected` starts a run only with at least this many new labelled examples (else it only asks for labelling); null: never. */
  driftMinNewExamples: z.number().int().nonnegative().max(10_000_000).nullable().default(50),
  /**
   * Frames of one subject from one camera at most this far apart are near-duplicates: one block of the split,
   * never cut between train and holdout (60 s suits a fixed camera; a demo's passes a few seconds long can use less).
   */
  nearDuplicateSeconds: z.number().int().min(0).max(86_400).default(60),
  /** FPIR the match threshold and margin are calibrated for. */
  targetFpir: z.number().gt(0).lt(1).default(0.01),
  gate: z
    .strictObject({
      sliceTolerance: z.number().min(0).max(1).default(0.02),
      minSliceSize: z.number().int().positive().max(1_000_000).default(5),
      alpha: z.number().gt(0).lt(1).default(0.05),
      minImprovement: z.number().min(0).max(1).default(0),
    })
    .default({ sliceTolerance: 0.02, minSliceSize: 5, alpha: 0.05, minImprovement: 0 }),
  trainer: z
    .strictObject({
      method: z.enum(['auto', 'prototypes', 'logistic']).default('auto'),
      seed: z
        .number()
        .int()
        .min(0)
        .max(2 ** 31)
        .default(1),
    })
    .default({ method: 'auto', seed: 1 }),
  canary: z
    .strictObject({
      /** Devices of this group; default: the enabled devices that run the base version. */
      group: GroupSchema.optional(),
      percent: z.number().gt(0).max(100).default(10),
      batchSize: z.number().int().positive().max(10_000).default(10),
      observeSeconds: z.number().int().nonnegative().max(86_400).default(60),
      maxFailurePercent: z.number().min(0).max(100).default(0),
    })
    .default({ percent: 10, batchSize: 10, observeSeconds: 60, maxFailurePercent: 0 }),
});
export type RetrainingSettings = z.output<typeof RetrainingSettingsSchema>;
export type RetrainingSettingsInput = z.input<typeof RetrainingSettingsSchema>;
