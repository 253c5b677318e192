import { z } from 'zod';
import { MESSAGE_VERSION } from './protocol';
import { DeviceIdSchema, EpochMsSchema, IdentityLabelSchema, ModelVersionRefSchema, RecordIdSchema } from './identifiers';

/** Edge → cloud telemetry: `…/{id}/predictions` and `…/{id}/hard-examples`, QoS 1, not retained. */

export const MAX_BATCH_ITEMS = 500;
export const MAX_FACES_PER_FRAME = 32;
export const EMBEDDING_DIMENSION = 512;
/** Base64 characters of a face crop: 65,536 characters ≈ 48 KiB of JPEG. */
export const MAX_CROP_BASE64_CHARS = 65_536;
export const MAX_CROP_SIDE = 512;

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const millis = z.number().nonnegative();
const probability = z.number().min(0).max(1);

/** A box in pixels of the source frame: top-left corner, width and height. */
export const FaceBoxSchema = z.object({ x: z.number(), y: z.number(), width: z.number().nonnegative(), height: z.number().nonnegative() });

export const FacePredictionSchema = z.object({
  /** The matched identity, or null when the top-1 score is below the match threshold (unknown). */
  identity: IdentityLabelSchema.nullable(),
  /**
   * Top-1 identity score: a cosine for the built-in head, so about [-1, 1] (float rounding may pass
   * 1); null when the model has no head.
   */
  score: z.number().nullable(),
  /** Top-1 minus top-2 score; null when the model has no head (or a single label: then it is the score). */
  margin: z.number().nonnegative().nullable(),
  /** Detector confidence. */
  detScore: probability,
  box: FaceBoxSchema.optional(),
});
export type FacePrediction = z.infer<typeof FacePredictionSchema>;

/**
 * Input statistics used for drift, computed on the whole frame (as libs/vision computes them:
 * brightness = mean luma 0..255, contrast = luma standard deviation, sharpness = Laplacian variance).
 */
export const FrameStatsSchema = z.object({
  brightness: z.number().min(0).max(255),
  contrast: z.number().nonnegative(),
  sharpness: z.number().nonnegative(),
  width: z.number().int().positive().optional(),
  height: z.number().int().positive().optional(),
});
export type FrameStats = z.infer<typeof FrameStatsSchema>;

/** Per-stage milliseconds for one frame; stages that did not run (no face) are 0. */
export const StageTimingsSchema = z.object({
  decode: millis.optional(),
  detect: millis,
  align: millis,
  embed: millis,
  head: millis,
  total: millis,
});
export type StageTimings = z.infer<typeof StageTimingsSchema>;

export const FrameResultSchema = z.object({
  ts: EpochMsSchema,
  faces: z.array(FacePredictionSchema).max(MAX_FACES_PER_FRAME),
  stats: FrameStatsSchema,
  timings: StageTimingsSchema,
});
export type FrameResult = z.infer<typeof FrameResultSchema>;

const embedding = z.array(z.number()).length(EMBEDDING_DIMENSION, `an embedding has exactly ${EMBEDDING_DIMENSION} numbers`);

/**
 * The epoch of a device's outbox: a random id (8–64 of `A-Z a-z 0-9 _ -`, no `.` or `:` so it can be part
 * of a BullMQ job id) made once when the outbox is created. A device whose state is wiped starts its seq
 * at 1 again under a new epoch.
 */
export const OutboxEpochSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'an outbox epoch is 8-64 of A-Z a-z 0-9 _ -');

/**
 * A batch of frame results. `seq` counts batches per outbox from 1, persisted across restarts and never
 * reused within an `epoch`: the cloud's dedupe key is (deviceId, epoch, seq), and a gap within an epoch
 * means batches were dropped.
 *
 * Schema history inside `v: 1` (fields are only added, optional): `epoch` was added so that a device whose
 * state folder is wiped loses nothing; a batch without it (an older edge) is still accepted and deduped
 * on (deviceId, seq) as before, as if its epoch were the empty string.
 */
export const PredictionBatchSchema = z
  .object({
    v: z.literal(MESSAGE_VERSION),
    deviceId: DeviceIdSchema,
    seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    /** The outbox epoch (absent from batches of edges older than the field). */
    epoch: OutboxEpochSchema.optional(),
    model: ModelVersionRefSchema,
    window: z.object({ start: EpochMsSchema, end: EpochMsSchema }),
    items: z.array(FrameResultSchema).max(MAX_BATCH_ITEMS),
    /** Frames of this window that produced no item. */
    dropped: z.object({
      /** Skipped because inference was slower than the source (newest frame wins). */
      skipped: count,
      /** Failed to decode or to run through the pipeline. */
      failed: count,
    }),
    /** Mean of the face embeddings of this window (for centroid drift); absent when no face. */
    embeddingCentroid: z.object({ count: z.number().int().positive(), mean: embedding }).optional(),
  })
  .superRefine((batch, ctx) => {
    if (batch.window.start > batch.window.end) {
      ctx.addIssue({ code: 'custom', path: ['window', 'end'], message: 'window.end is before window.start' });
      return;
    }
    batch.items.forEach((item, index) => {
      if (item.ts < batch.window.start || item.ts > batch.window.end) {
        ctx.addIssue({ code: 'custom', path: ['items', index, 'ts'], message: 'frame ts is outside the batch window' });
      }
    });
  });
export type PredictionBatch = z.infer<typeof PredictionBatchSchema>;

/** The cloud's dedupe key of a batch, `device|epoch|seq` (an empty epoch for batches without one). */
export function predictionBatchKey(batch: { deviceId: string; seq: number; epoch?: string | undefined }): string {
  return `${batch.deviceId}|${batch.epoch ?? ''}|${batch.seq}`;
}

export const HARD_EXAMPLE_REASONS = ['low_score', 'small_margin', 'unknown'] as const;
export type HardExampleReason = (typeof HARD_EXAMPLE_REASONS)[number];

/** A JPEG face crop: sent only when the device's privacy policy allows crops to leave it. */
export const FaceCropSchema = z.object({
  format: z.literal('jpeg'),
  data: z
    .base64()
    .max(MAX_CROP_BASE64_CHARS, `a crop is at most ${MAX_CROP_BASE64_CHARS} base64 characters`)
    .refine((data) => data.startsWith('/9j/'), 'crop data is not a base64 JPEG'),
  width: z.number().int().positive().max(MAX_CROP_SIDE),
  height: z.number().int().positive().max(MAX_CROP_SIDE),
});
export type FaceCrop = z.infer<typeof FaceCropSchema>;

/** One low-confidence face. `id` is minted by the device; the cloud dedupes on (deviceId, id). */
export const HardExampleSchema = z.object({
  v: z.literal(MESSAGE_VERSION),
  deviceId: DeviceIdSchema,
  id: RecordIdSchema,
  ts: EpochMsSchema,
  model: ModelVersionRefSchema,
  reason: z.enum(HARD_EXAMPLE_REASONS),
  /** The top-1 candidate label (even when below threshold), or null for a head with no labels. */
  candidate: IdentityLabelSchema.nullable(),
  score: z.number().nullable(),
  margin: z.number().nonnegative().nullable(),
  detScore: probability,
  embedding,
  stats: FrameStatsSchema.optional(),
  crop: FaceCropSchema.optional(),
});
export type HardExample = z.infer<typeof HardExampleSchema>;
