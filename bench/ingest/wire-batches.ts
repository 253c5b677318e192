import { EMBEDDING_DIMENSION, encodePredictionColumns, type PredictionBatch, type PredictionBatchEncoding } from '@edgeloop/contracts';
import { makeBatch, seededRandom, type TrafficProfile } from '../../apps/cloud/src/testing/prediction-batches';

export interface WireBatchOptions {
  frames: number;
  /** Add the window's embedding centroid (512 numbers), as the edge worker does whenever a face was seen. */
  centroid: boolean;
  /** The batch window's end; default now. */
  end?: number;
  /** Spread the frames evenly over the last `spanMs` before `end` (default: 100 ms apart, as `makeBatch`). */
  spanMs?: number;
}

/**
 * A prediction batch as the edge worker puts it on the wire: `makeBatch` frames (one face each) with the
 * edge's rounding (scores 4 digits, input statistics and timings 2, box 1), a face box, and the mean
 * embedding of the window rounded to 5 digits.
 */
export function wireBatch(deviceId: string, seq: number, model: { name: string; version: number }, profile: TrafficProfile, options: WireBatchOptions): PredictionBatch {
  const random = seededRandom(seq * 7919 + deviceId.length * 31 + 17);
  const batch = makeBatch(deviceId, seq, model, profile, { frames: options.frames, end: options.end, random });
  if (options.spanMs !== undefined) {
    const span = options.spanMs;
    batch.window.start = batch.window.end - span;
    batch.items.forEach((item, i) => (item.ts = batch.window.start + Math.floor((i * span) / batch.items.length)));
  }
  for (const item of batch.items) {
    for (const face of item.faces) {
      face.score = face.score === null ? null : round(face.score, 4);
      face.margin = face.margin === null ? null : round(face.margin, 4);
      face.detScore = round(face.detScore, 4);
      face.box = { x: round(180 + random() * 40, 1), y: round(90 + random() * 30, 1), width: round(150 + random() * 20, 1), height: round(190 + random() * 20, 1) };
    }
    item.stats = { brightness: round(item.stats.brightness, 2), contrast: round(item.stats.contrast, 2), sharpness: round(item.stats.sharpness, 2), width: 720, height: 576 };
    const t = item.timings;
    item.timings = { decode: 4.8, detect: round(t.detect, 2), align: round(t.align, 2), embed: round(t.embed, 2), head: round(t.head, 2), total: round(t.total + 4.8, 2) };
  }
  if (options.centroid) batch.embeddingCentroid = { count: batch.items.length, mean: windowCentroid(profile.unknownShare, random) };
  return batch;
}

const ENROLLED_DIRECTION = unitVector(seededRandom(101));
const STRANGER_DIRECTION = unitVector(seededRandom(202));

/**
 * The mean embedding of a window: the enrolled person's direction blended with strangers' by the share of
 * strangers, plus a little noise, normalised and rounded as the edge sends it. Stable traffic gives a
 * stable centroid; more strangers turn it away.
 */
function windowCentroid(strangerShare: number, random: () => number): number[] {
  const mixed = ENROLLED_DIRECTION.map((v, i) => (1 - strangerShare) * v + strangerShare * STRANGER_DIRECTION[i] + (random() - 0.5) * 0.01);
  const norm = Math.hypot(...mixed);
  return mixed.map((v) => round(v / norm, 5));
}

function unitVector(random: () => number): number[] {
  const v = Array.from({ length: EMBEDDING_DIMENSION }, () => random() - 0.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/**
 * A batch's JSON with its `seq` left out, so a publisher can send the same frames under many sequence
 * numbers by concatenation (`head + seq + tail`) without building and serialising a new batch each time.
 */
export interface BatchTemplate {
  head: string;
  tail: string;
  frames: number;
  bytes: number;
}

const SEQ_PLACEHOLDER = 987_654_321;

export function batchTemplate(batch: PredictionBatch): BatchTemplate {
  const text = JSON.stringify({ ...batch, seq: SEQ_PLACEHOLDER });
  const marker = `"seq":${SEQ_PLACEHOLDER}`;
  const at = text.indexOf(marker);
  if (at < 0 || text.indexOf(marker, at + 1) >= 0) throw new Error('the batch JSON does not hold its seq exactly once');
  const head = text.slice(0, at + '"seq":'.length);
  const tail = text.slice(at + marker.length);
  return { head, tail, frames: batch.items.length, bytes: Buffer.byteLength(text) };
}

export function payloadOf(template: BatchTemplate, seq: number): string {
  return `${template.head}${seq}${template.tail}`;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** A batch's payload in a wire encoding, under another seq: JSON by template (cheap), columns encoded anew. */
export function encodedPayload(batch: PredictionBatch, template: BatchTemplate, seq: number, encoding: PredictionBatchEncoding): string | Uint8Array {
  return encoding === 'json' ? payloadOf(template, seq) : encodePredictionColumns({ ...batch, seq });
}
