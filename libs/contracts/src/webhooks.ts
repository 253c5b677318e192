import { z } from 'zod';
import {
  DeviceIdSchema,
  IsoTimestampSchema,
  ModelNameSchema,
  ModelVersionNumberSchema,
  ModelVersionRefSchema,
  RecordIdSchema,
  Sha256Schema,
} from './identifiers';
import { ModelFileRoleSchema } from './manifest';

/**
 * Webhook events: the JSON body POSTed to subscribers is `{ id, type, createdAt, data }` with the
 * `data` of its type. Bodies use ISO 8601 UTC timestamps.
 */

export const WEBHOOK_EVENT_TYPES = [
  'drift.detected',
  'model.version.created',
  'deployment.completed',
  'deployment.failed',
  'deployment.rolled_back',
  'retraining.completed',
  'retraining.failed',
  'device.quarantined',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
export const WebhookEventTypeSchema = z.enum(WEBHOOK_EVENT_TYPES);

/** The detectors' metric names, as stored with a drift event and sent in its evidence. */
export const DRIFT_METRICS = [
  'score_psi',
  'score_ks',
  'margin_psi',
  'margin_ks',
  'unknown_rate',
  'faces_per_frame_shift',
  'brightness_shift',
  'contrast_shift',
  'sharpness_shift',
  'embedding_centroid_shift',
] as const;
export type DriftMetric = (typeof DRIFT_METRICS)[number];

const windowSchema = z.object({ start: IsoTimestampSchema, end: IsoTimestampSchema });

export const DriftEvidenceSchema = z.object({
  metric: z.enum(DRIFT_METRICS),
  value: z.number(),
  threshold: z.number(),
  /** For the statistical tests (KS, two-proportion). */
  pValue: z.number().min(0).max(1).optional(),
});
export type DriftEvidence = z.infer<typeof DriftEvidenceSchema>;

export const DriftDetectedSchema = z.object({
  driftEventId: RecordIdSchema,
  model: ModelVersionRefSchema,
  window: windowSchema,
  /** The reference the window was compared with: a window of live traffic, or the statistics recorded at training time. */
  reference: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('window'), start: IsoTimestampSchema, end: IsoTimestampSchema }),
    z.object({ kind: z.literal('training') }),
  ]),
  devices: z.array(DeviceIdSchema).max(10_000),
  evidence: z.array(DriftEvidenceSchema).min(1),
});

export const ModelVersionCreatedSchema = z.object({
  model: ModelVersionRefSchema,
  parent: ModelVersionNumberSchema.nullable(),
  files: z.array(z.object({ role: ModelFileRoleSchema, sha256: Sha256Schema, size: z.number().int().nonnegative() })).min(1),
  createdBy: z.string().min(1).max(128),
});

const deviceCounts = z.object({
  total: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
});

const deploymentOutcome = z.object({ deploymentId: RecordIdSchema, model: ModelVersionRefSchema, devices: deviceCounts });

export const DeploymentCompletedSchema = deploymentOutcome;
export const DeploymentFailedSchema = deploymentOutcome.extend({ reason: z.string().min(1).max(1000) });
export const DeploymentRolledBackSchema = deploymentOutcome.extend({
  reason: z.string().min(1).max(1000),
  /** True when the health gate triggered it, false when an operator asked. */
  automatic: z.boolean(),
});

const evaluationMetrics = z.record(z.string().min(1).max(64), z.number());

/** The gate's verdict on a candidate, sent with both retraining events when the flow got that far. */
const retrainingVerdict = z.object({
  verdict: z.enum(['passed', 'rejected']),
  reasons: z.array(z.string().max(2000)).max(200),
  primary: z.object({ metric: z.string().min(1).max(64), candidate: z.number(), production: z.number().nullable(), delta: z.number().nullable() }),
  datasetDigest: Sha256Schema,
});

export const RetrainingCompletedSchema = z.object({
  runId: RecordIdSchema,
  modelName: ModelNameSchema,
  baseVersion: ModelVersionNumberSchema,
  /** The version registered as `candidate`, or null when it was not better than production. */
  candidate: ModelVersionRefSchema.nullable(),
  metrics: z.object({ candidate: evaluationMetrics, production: evaluationMetrics }),
  /** The evaluation report's verdict (added with the retraining flow; absent from older senders). */
  report: retrainingVerdict.optional(),
});

export const RetrainingFailedSchema = z.object({
  runId: RecordIdSchema,
  modelName: ModelNameSchema,
  baseVersion: ModelVersionNumberSchema,
  step: z.string().min(1).max(64),
  error: z.string().min(1).max(2000),
  /** The gate's verdict when the evaluation finished before the failing step. */
  report: retrainingVerdict.optional(),
});

/** A device kept exceeding its quota or sending invalid messages: its broker access is cut until an operator lifts it. */
export const DeviceQuarantinedSchema = z.object({
  deviceId: DeviceIdSchema,
  reason: z.enum(['over_quota', 'invalid_messages']),
  /** Dropped over-quota plus invalid messages counted in the window when the threshold was reached. */
  strikes: z.number().int().nonnegative(),
  windowSeconds: z.number().int().positive(),
  quarantinedAt: IsoTimestampSchema,
});

export const WEBHOOK_EVENT_SCHEMAS = {
  'drift.detected': DriftDetectedSchema,
  'model.version.created': ModelVersionCreatedSchema,
  'deployment.completed': DeploymentCompletedSchema,
  'deployment.failed': DeploymentFailedSchema,
  'deployment.rolled_back': DeploymentRolledBackSchema,
  'retraining.completed': RetrainingCompletedSchema,
  'retraining.failed': RetrainingFailedSchema,
  'device.quarantined': DeviceQuarantinedSchema,
} as const satisfies Record<WebhookEventType, z.ZodType>;

export type WebhookEventData<T extends WebhookEventType> = z.output<(typeof WEBHOOK_EVENT_SCHEMAS)[T]>;

const envelope = <T extends WebhookEventType>(type: T) =>
  z.object({ id: RecordIdSchema, type: z.literal(type), createdAt: IsoTimestampSchema, data: WEBHOOK_EVENT_SCHEMAS[type] });

/** The body of a delivery, discriminated by `type`. */
export const WebhookEventSchema = z.discriminatedUnion('type', [
  envelope('drift.detected'),
  envelope('model.version.created'),
  envelope('deployment.completed'),
  envelope('deployment.failed'),
  envelope('deployment.rolled_back'),
  envelope('retraining.completed'),
  envelope('retraining.failed'),
  envelope('device.quarantined'),
]);
export type WebhookEvent = z.output<typeof WebhookEventSchema>;
