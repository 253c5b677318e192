import { DEVICE_ID_PATTERN, IDENTITY_LABEL_PATTERN, MODEL_NAME_PATTERN } from './identifiers';
import { MESSAGE_VERSION } from './protocol';
import { EMBEDDING_DIMENSION, MAX_BATCH_ITEMS, MAX_FACES_PER_FRAME, type PredictionBatch } from './predictions';

/**
 * The hot-path validator of `PredictionBatchSchema`: plain loops, no allocation, no issue list. It only
 * answers yes or no, and it never says yes to a batch the zod schema refuses (a property test in
 * prediction-check.spec.ts holds it to that); a no sends the caller to the zod schema for the field-level
 * message. Unknown keys are ignored, as zod ignores them.
 */
export function isValidPredictionBatch(value: unknown): value is PredictionBatch {
  if (!isRecord(value)) return false;
  if (value.v !== MESSAGE_VERSION) return false;
  if (typeof value.deviceId !== 'string' || !DEVICE_ID_PATTERN.test(value.deviceId)) return false;
  if (!isSafeInt(value.seq) || value.seq < 1) return false;
  if (value.epoch !== undefined && (typeof value.epoch !== 'string' || !EPOCH_PATTERN.test(value.epoch))) return false;
  const model = value.model;
  if (!isRecord(model) || typeof model.name !== 'string' || !MODEL_NAME_PATTERN.test(model.name) || !isSafeInt(model.version) || model.version < 1)
    return false;
  const window = value.window;
  if (!isRecord(window) || !isEpochMs(window.start) || !isEpochMs(window.end) || window.start > window.end) return false;
  const dropped = value.dropped;
  if (!isRecord(dropped) || !isCount(dropped.skipped) || !isCount(dropped.failed)) return false;
  const centroid = value.embeddingCentroid;
  if (centroid !== undefined) {
    if (!isRecord(centroid) || !isSafeInt(centroid.count) || centroid.count < 1) return false;
    const mean = centroid.mean;
    if (!Array.isArray(mean) || mean.length !== EMBEDDING_DIMENSION) return false;
    for (let i = 0; i < EMBEDDING_DIMENSION; i++) if (!isFiniteNumber(mean[i])) return false;
  }
  const items = value.items;
  if (!Array.isArray(items) || items.length > MAX_BATCH_ITEMS) return false;
  for (let i = 0; i < items.length; i++) {
    if (!isValidFrame(items[i], window.start, window.end)) return false;
  }
  return true;
}

/** `OutboxEpochSchema`'s rule. */
const EPOCH_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

function isValidFrame(frame: unknown, start: number, end: number): boolean {
  if (!isRecord(frame)) return false;
  const ts = frame.ts;
  if (!isEpochMs(ts) || ts < start || ts > end) return false;
  const stats = frame.stats;
  if (!isRecord(stats)) return false;
  const { brightness, contrast, sharpness, width, height } = stats;
  if (!isFiniteNumber(brightness) || brightness < 0 || brightness > 255) return false;
  if (!isNonNegative(contrast) || !isNonNegative(sharpness)) return false;
  if (width !== undefined && (!isSafeInt(width) || width < 1)) return false;
  if (height !== undefined && (!isSafeInt(height) || height < 1)) return false;
  const timings = frame.timings;
  if (!isRecord(timings)) return false;
  if (timings.decode !== undefined && !isNonNegative(timings.decode)) return false;
  if (!isNonNegative(timings.detect) || !isNonNegative(timings.align) || !isNonNegative(timings.embed)) return false;
  if (!isNonNegative(timings.head) || !isNonNegative(timings.total)) return false;
  const faces = frame.faces;
  if (!Array.isArray(faces) || faces.length > MAX_FACES_PER_FRAME) return false;
  for (let i = 0; i < faces.length; i++) if (!isValidFace(faces[i])) return false;
  return true;
}

function isValidFace(face: unknown): boolean {
  if (!isRecord(face)) return false;
  const { identity, score, margin, detScore, box } = face;
  if (identity !== null && (typeof identity !== 'string' || !IDENTITY_LABEL_PATTERN.test(identity))) return false;
  if (score !== null && !isFiniteNumber(score)) return false;
  if (margin !== null && !isNonNegative(margin)) return false;
  if (!isFiniteNumber(detScore) || detScore < 0 || detScore > 1) return false;
  if (box !== undefined) {
    if (!isRecord(box) || !isFiniteNumber(box.x) || !isFiniteNumber(box.y) || !isNonNegative(box.width) || !isNonNegative(box.height)) return false;
  }
  return true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isNonNegative(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isSafeInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isCount(value: unknown): value is number {
  return isSafeInt(value) && value >= 0;
}

/** `EpochMsSchema`: an integer from 0 to 8.64e15. */
function isEpochMs(value: unknown): value is number {
  return isSafeInt(value) && value >= 0 && value <= 8.64e15;
}
