import { z } from 'zod';
import { MESSAGE_VERSION } from './protocol';
import { DeviceIdSchema, EpochMsSchema, ModelVersionRefSchema, RecordIdSchema } from './identifiers';

/** Edge → cloud state: `…/{id}/reported` (retained, after every change and as a heartbeat) and `…/{id}/status`. */

export const DEVICE_STATES = ['idle', 'downloading', 'verifying', 'warming', 'active', 'failed'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** Why applying a desired state failed; the edge keeps running its previous version. */
export const DEPLOY_FAILURE_CODES = [
  'invalid_desired',
  'wrong_device',
  'signature_invalid',
  'unsupported_manifest',
  'downgrade_refused',
  'download_failed',
  'checksum_mismatch',
  'storage_failed',
  'load_failed',
  'warmup_failed',
  'internal',
] as const;
export type DeployFailureCode = (typeof DEPLOY_FAILURE_CODES)[number];

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const nonNegative = z.number().nonnegative();

export const DeviceHealthSchema = z.object({
  /** Frames processed per second over the last reporting interval. */
  fps: nonNegative,
  /** Whole-pipeline latency per frame in milliseconds. */
  latencyMs: z.object({ p50: nonNegative, p95: nonNegative }),
  rssBytes: count,
  /** Prediction batches waiting in the on-disk outbox. */
  outboxDepth: count,
  /** Batches dropped by the outbox's drop-oldest policy since the worker first started (cumulative). */
  outboxDropped: count,
  /** Frames skipped because inference was slower than the source (cumulative). */
  droppedFrames: count,
});
export type DeviceHealth = z.infer<typeof DeviceHealthSchema>;

export const ReportedStateSchema = z
  .object({
    v: z.literal(MESSAGE_VERSION),
    deviceId: DeviceIdSchema,
    ts: EpochMsSchema,
    agentVersion: z.string().min(1).max(64),
    state: z.enum(DEVICE_STATES),
    /** Set exactly when `state` is `failed`. */
    failure: z.object({ code: z.enum(DEPLOY_FAILURE_CODES), message: z.string().max(1000) }).nullable(),
    /** The deployment of the desired state this report answers; null before any. */
    deploymentId: RecordIdSchema.nullable(),
    /** The version serving frames now; null only before any model was ever installed. */
    running: ModelVersionRefSchema.nullable(),
    /** The version the worker falls back to when the running one cannot start. */
    lastKnownGood: ModelVersionRefSchema.nullable(),
    /** The version being applied (downloading … warming) or that failed; null when none. */
    target: ModelVersionRefSchema.nullable(),
    health: DeviceHealthSchema,
  })
  .superRefine((reported, ctx) => {
    if ((reported.state === 'failed') !== (reported.failure !== null)) {
      ctx.addIssue({ code: 'custom', path: ['failure'], message: 'failure is set exactly when state is "failed"' });
    }
    if (reported.state === 'active' && reported.running === null) {
      ctx.addIssue({ code: 'custom', path: ['running'], message: 'an active device reports the version it runs' });
    }
  });
export type ReportedState = z.infer<typeof ReportedStateSchema>;

export const PRESENCE_STATUSES = ['online', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];

/**
 * Presence on `…/{id}/status`, retained. The device publishes `online` after connecting and sets
 * `offline` as its last will, composed at connect time: a will's `ts` is the start of the session
 * it ends, so the cloud takes "last seen" from its own clock when the will arrives.
 */
export const DeviceStatusSchema = z.object({
  v: z.literal(MESSAGE_VERSION),
  status: z.enum(PRESENCE_STATUSES),
  ts: EpochMsSchema,
  agentVersion: z.string().min(1).max(64).optional(),
});
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

export function statusMessage(status: PresenceStatus, ts: number, agentVersion?: string): DeviceStatus {
  return agentVersion === undefined ? { v: MESSAGE_VERSION, status, ts } : { v: MESSAGE_VERSION, status, ts, agentVersion };
}
