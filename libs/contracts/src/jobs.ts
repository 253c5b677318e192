import { z } from 'zod';
import { describeZodError, fieldIssues, type ParseResult } from './parse';
import { DeviceIdSchema, EpochMsSchema, ModelNameSchema, ModelVersionNumberSchema, RecordIdSchema } from './identifiers';
import { HardExampleSchema, OutboxEpochSchema, PredictionBatchSchema } from './predictions';
import { MAX_INGEST_GROUP_BATCHES, MAX_INGEST_PAYLOAD_BASE64 } from './prediction-encoding';

/**
 * BullMQ queues and jobs. A job's name is `<queue>.<step>`; its payload is validated with the
 * schema below by the worker (an invalid payload is unrecoverable: the cloud throws BullMQ's
 * UnrecoverableError with the message from `parseJob`). Payloads carry ids, not blobs.
 */

export const QUEUE_NAMES = ['predictions', 'drift', 'webhooks', 'retraining', 'rollouts', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];
export const QUEUES: { readonly [Q in QueueName]: Q } = {
  predictions: 'predictions',
  drift: 'drift',
  webhooks: 'webhooks',
  retraining: 'retraining',
  rollouts: 'rollouts',
  maintenance: 'maintenance',
};

/** Redis key prefix every Queue, Worker and FlowProducer uses, so API replicas and workers meet. */
export const BULLMQ_PREFIX = 'edgeloop';

const retrainingStep = z.object({ runId: RecordIdSchema, modelName: ModelNameSchema, baseVersion: ModelVersionNumberSchema });

export const JOB_SCHEMAS = {
  /**
   * One MQTT prediction batch; job id `predictionsJobId(deviceId, seq, epoch)`. The job carries the MQTT
   * payload as it came (`payload`, base64 of JSON or the columns encoding), which the worker reads with
   * `predictionBatchOfJob` (fast check, same rules); jobs enqueued before that carry the parsed `batch`.
   */
  'predictions.ingest': z
    .object({
      deviceId: DeviceIdSchema,
      seq: z.number().int().positive(),
      epoch: OutboxEpochSchema.optional(),
      receivedAt: EpochMsSchema,
      batch: PredictionBatchSchema.optional(),
      payload: z.string().min(1).max(MAX_INGEST_PAYLOAD_BASE64).optional(),
    })
    .refine((job) => (job.batch === undefined) !== (job.payload === undefined), { message: 'a job carries either batch or payload', path: ['payload'] })
    .refine((job) => job.batch === undefined || (job.batch.deviceId === job.deviceId && job.batch.seq === job.seq), {
      message: 'deviceId and seq must equal the batch\'s own',
      path: ['batch'],
    }),
  /**
   * The MQTT prediction batches received together (one turn of the cloud's event loop, several devices), each as
   * its `predictions.ingest` fields with the payload; no job id — a redelivered batch is dropped by the SQL
   * dedupe on (device, epoch, seq). One job instead of one per batch: BullMQ's add, fetch and finish per job
   * cost more than decoding a batch. `predictionIngestGroups` splits what came in into jobs.
   */
  'predictions.ingest-group': z.object({
    batches: z
      .array(
        z.object({
          deviceId: DeviceIdSchema,
          seq: z.number().int().positive(),
          epoch: OutboxEpochSchema.optional(),
          receivedAt: EpochMsSchema,
          payload: z.string().min(1).max(MAX_INGEST_PAYLOAD_BASE64),
        }),
      )
      .min(1)
      .max(MAX_INGEST_GROUP_BATCHES),
  }),
  /** One MQTT hard example; job id `hardExampleJobId(deviceId, id)`. */
  'predictions.hard-example': z
    .object({ deviceId: DeviceIdSchema, receivedAt: EpochMsSchema, hardExample: HardExampleSchema })
    .refine((job) => job.hardExample.deviceId === job.deviceId, { message: 'deviceId must equal the hard example\'s own', path: ['hardExample'] }),
  /** Run the drift detectors for one model version on the window ending at `windowEnd` (default: the last closed window). */
  'drift.check': z.object({ modelName: ModelNameSchema, version: ModelVersionNumberSchema, windowEnd: EpochMsSchema.optional() }),
  /** Repeatable: enqueue a `drift.check` for every version that is active on a device. */
  'drift.sweep': z.object({}),
  /** POST one stored webhook delivery; retried with back-off by BullMQ. */
  'webhooks.deliver': z.object({ deliveryId: RecordIdSchema }),
  /** Retraining flow (FlowProducer), children first: build-dataset → train-head → calibrate → evaluate → register. */
  'retraining.build-dataset': retrainingStep,
  'retraining.train-head': retrainingStep,
  'retraining.calibrate': retrainingStep,
  'retraining.evaluate': retrainingStep,
  'retraining.register': retrainingStep.extend({ autoCanary: z.boolean().optional() }),
  /** Move a rollout on: publish the next batch, or check the health gate of the current one. */
  'rollouts.advance': z.object({ deploymentId: RecordIdSchema }),
  /** Put every device a rollout touched back on its previous version. */
  'rollouts.rollback': z.object({ deploymentId: RecordIdSchema, reason: z.string().min(1).max(1000) }),
  /** Repeatable: apply the retentions and caps of what devices send (dead letters, hard examples, raw payloads). */
  'maintenance.retention': z.object({}),
  /** Repeatable, embedded SQL (PGlite) only: the vacuum, analyze and checkpoint its single-user PostgreSQL never runs. */
  'maintenance.sql-vacuum': z.object({}),
} as const;

export type JobName = keyof typeof JOB_SCHEMAS;
export const JOB_NAMES = Object.keys(JOB_SCHEMAS) as JobName[];
export type JobPayload<N extends JobName> = z.output<(typeof JOB_SCHEMAS)[N]>;

/** The queue of a job name: the part before the first dot. */
export type QueueOfJob<N extends JobName> = N extends `${infer Q extends QueueName}.${string}` ? Q : never;

export function queueOfJob<N extends JobName>(name: N): QueueOfJob<N> {
  return name.slice(0, name.indexOf('.')) as QueueOfJob<N>;
}

export function jobNamesOfQueue(queue: QueueName): JobName[] {
  return JOB_NAMES.filter((name) => queueOfJob(name) === queue);
}

/** A parsed job: a union discriminated by `name`, so a `switch (job.name)` narrows the payload. */
export type TypedJob = { [N in JobName]: { name: N; payload: JobPayload<N> } }[JobName];

/**
 * One handler per job name of queue `Q` (every queue by default); a processor built from this map cannot
 * miss a job of its queue or have two handlers for one.
 */
export type JobHandlers<Q extends QueueName = QueueName> = {
  [N in JobName as QueueOfJob<N> extends Q ? N : never]: (payload: JobPayload<N>) => Promise<unknown>;
};

export type JobErrorCode = 'unknown_job' | 'invalid_payload';

function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOB_SCHEMAS, name);
}

export function parseJob(name: string, data: unknown): ParseResult<TypedJob, JobErrorCode> {
  if (!isJobName(name)) {
    return { ok: false, error: { code: 'unknown_job', message: `"${name.slice(0, 80)}" is not an edgeloop job name`, details: [] } };
  }
  const parsed = (JOB_SCHEMAS[name] as z.ZodType).safeParse(data);
  if (!parsed.success) {
    return {
      ok: false,
      error: { code: 'invalid_payload', message: `invalid ${name} payload: ${describeZodError(parsed.error)}`, details: fieldIssues(parsed.error) },
    };
  }
  return { ok: true, value: { name, payload: parsed.data } as TypedJob };
}

/**
 * BullMQ job id of a prediction batch (ids may not contain `:`); device ids and epochs have no `.`, so it
 * is unique: `device.seq` for a batch without an epoch, `device.epoch.seq` for one with.
 */
export function predictionsJobId(deviceId: string, seq: number, epoch?: string): string {
  return epoch === undefined ? `${deviceId}.${seq}` : `${deviceId}.${epoch}.${seq}`;
}

export function hardExampleJobId(deviceId: string, id: string): string {
  return `${deviceId}.${id}`;
}
