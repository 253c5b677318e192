import { Packr, roundFloat32 } from 'msgpackr';
import { decodeJson, parseWith, type ParseResult } from './parse';
import { isValidPredictionBatch } from './prediction-check';
import { EMBEDDING_DIMENSION, MAX_BATCH_ITEMS, PredictionBatchSchema, type FacePrediction, type FrameResult, type PredictionBatch } from './predictions';

/**
 * Wire encodings of a prediction batch (`…/{id}/predictions`). Two are accepted, told apart by the first
 * byte of the payload:
 *
 * - `json` — the batch as JSON (`PredictionBatchSchema`), what every edge sent before this module;
 * - `columns` — MessagePack (a plain map, readable by any MessagePack library) holding the batch's
 *   envelope as in JSON and its frames and faces column by column as little-endian typed arrays in `bin`
 *   fields: a 100-frame batch is about a quarter of its JSON and decodes without parsing numbers one by
 *   one. Layout version `PREDICTION_COLUMNS_VERSION` in the map's `columns` key. Floats are 32-bit and read
 *   back rounded to the 6–8 significant digits a float32 holds (the edge rounds every float it sends to 5 or fewer), except the
 *   frame timestamps (64-bit). docs/protocol.md has the field table.
 *
 * Both decode to the same `PredictionBatch` and pass the same validation; an invalid payload is a
 * `ParseResult` failure to count and dead-letter, never an exception.
 */

export type PredictionBatchEncoding = 'json' | 'columns';
export const PREDICTION_COLUMNS_VERSION = 1;

/** Column layout of the `columns` encoding: per frame, per face, and how many values each holds. */
const FRAME_STATS = 3; // brightness, contrast, sharpness
const FRAME_SIZE = 2; // width, height; 0 = absent
const TIMINGS = 6; // decode (NaN = absent), detect, align, embed, head, total
const BOX = 4; // x, y, width, height; NaN = no box

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('the columns encoding of prediction batches assumes a little-endian machine');
}

/** The encoding of a payload by its first byte: a MessagePack map is `columns`, anything else is read as JSON. */
export function predictionBatchEncoding(payload: Uint8Array | string): PredictionBatchEncoding {
  if (typeof payload === 'string' || payload.byteLength === 0) return 'json';
  const first = payload[0]!;
  return (first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf ? 'columns' : 'json';
}

/** A batch in the `columns` encoding (the batch is assumed valid: validate before, as the edge does). */
export function encodePredictionColumns(batch: PredictionBatch): Uint8Array {
  const frames = batch.items.length;
  let faceCount = 0;
  for (const item of batch.items) faceCount += item.faces.length;
  const labels: string[] = [];
  const labelIndex = new Map<string, number>();
  const ts = new Float64Array(frames);
  const faces = new Uint8Array(frames);
  const stats = new Float32Array(frames * FRAME_STATS);
  const size = new Uint16Array(frames * FRAME_SIZE);
  const timings = new Float32Array(frames * TIMINGS);
  const identity = new Int32Array(faceCount);
  const score = new Float32Array(faceCount);
  const margin = new Float32Array(faceCount);
  const detScore = new Float32Array(faceCount);
  const box = new Float32Array(faceCount * BOX);
  let f = 0;
  batch.items.forEach((item, i) => {
    ts[i] = item.ts;
    faces[i] = item.faces.length;
    stats.set([item.stats.brightness, item.stats.contrast, item.stats.sharpness], i * FRAME_STATS);
    size.set([item.stats.width ?? 0, item.stats.height ?? 0], i * FRAME_SIZE);
    const t = item.timings;
    timings.set([t.decode ?? NaN, t.detect, t.align, t.embed, t.head, t.total], i * TIMINGS);
    for (const face of item.faces) {
      if (face.identity === null) identity[f] = -1;
      else {
        let index = labelIndex.get(face.identity);
        if (index === undefined) labelIndex.set(face.identity, (index = labels.push(face.identity) - 1));
        identity[f] = index;
      }
      score[f] = face.score ?? NaN;
      margin[f] = face.margin ?? NaN;
      detScore[f] = face.detScore;
      box.set(face.box ? [face.box.x, face.box.y, face.box.width, face.box.height] : [NaN, NaN, NaN, NaN], f * BOX);
      f++;
    }
  });
  const { items: _items, embeddingCentroid, ...envelope } = batch;
  return packr.pack({
    ...envelope,
    columns: PREDICTION_COLUMNS_VERSION,
    frames,
    labels,
    ts: bytes(ts),
    faces: bytes(faces),
    stats: bytes(stats),
    size: bytes(size),
    timings: bytes(timings),
    identity: bytes(identity),
    score: bytes(score),
    margin: bytes(margin),
    detScore: bytes(detScore),
    box: bytes(box),
    ...(embeddingCentroid ? { centroid: { count: embeddingCentroid.count, mean: bytes(Float32Array.from(embeddingCentroid.mean)) } } : {}),
  });
}

export type PredictionBatchDecodeCode = 'empty' | 'too_large' | 'invalid_json' | 'invalid_encoding' | 'invalid_payload';

/**
 * A payload in either encoding → a valid batch. The fast check decides first; only a batch it refuses goes
 * through `PredictionBatchSchema`, which either accepts it (the fast check is stricter in a few corners,
 * e.g. unsafe integers) or lists every bad field.
 */
export function decodePredictionBatch(payload: Uint8Array | string, maxBytes: number): ParseResult<PredictionBatch, PredictionBatchDecodeCode> {
  let value: unknown;
  if (predictionBatchEncoding(payload) === 'columns') {
    const bytes = payload as Uint8Array;
    if (bytes.byteLength > maxBytes) return failure('too_large', `the payload is ${bytes.byteLength} bytes, over the limit of ${maxBytes}`);
    const columns = fromColumns(bytes);
    if (typeof columns === 'string') return failure('invalid_encoding', `the columns payload is not readable: ${columns}`);
    value = columns;
  } else {
    const json = decodeJson(payload, maxBytes);
    if (!json.ok) return json;
    value = json.value;
  }
  if (isValidPredictionBatch(value)) return { ok: true, value };
  return parseWith(PredictionBatchSchema, value);
}

/**
 * The top-level fields of a `columns` payload (its envelope: `seq`, `epoch`, `deviceId`, …), not validated; null
 * when it is over `maxBytes` or not a MessagePack map. For reading what a batch that failed validation names
 * (`looseAckedItem`), never for trusting it.
 */
export function looseColumnsFields(payload: Uint8Array, maxBytes: number): Record<string, unknown> | null {
  if (payload.byteLength > maxBytes || predictionBatchEncoding(payload) !== 'columns') return null;
  try {
    const map: unknown = packr.unpack(payload);
    return typeof map === 'object' && map !== null && !Array.isArray(map) && !(map instanceof Uint8Array) ? (map as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The `columns` map → the batch as plain objects (not yet validated), or why it cannot be read. */
function fromColumns(payload: Uint8Array): Record<string, unknown> | string {
  let map: unknown;
  try {
    map = packr.unpack(payload);
  } catch (err) {
    return `not MessagePack (${(err as Error).message.slice(0, 100)})`;
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) return 'not a map';
  const {
    columns,
    frames,
    labels,
    ts: tsBin,
    faces: facesBin,
    stats: statsBin,
    size: sizeBin,
    timings: timingsBin,
    centroid,
    ...envelope
  } = map as Record<string, unknown>;
  const { identity: identityBin, score: scoreBin, margin: marginBin, detScore: detBin, box: boxBin, ...rest } = envelope;
  if (columns !== PREDICTION_COLUMNS_VERSION) return `columns layout ${String(columns).slice(0, 20)} is not ${PREDICTION_COLUMNS_VERSION}`;
  if (!Number.isSafeInteger(frames) || (frames as number) < 0 || (frames as number) > MAX_BATCH_ITEMS) return 'frames is not a count up to the batch limit';
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) return 'labels is not a list of strings';
  const n = frames as number;
  const ts = column(tsBin, Float64Array, n);
  const faceCounts = column(facesBin, Uint8Array, n);
  const stats = column(statsBin, Float32Array, n * FRAME_STATS);
  const size = column(sizeBin, Uint16Array, n * FRAME_SIZE);
  const timings = column(timingsBin, Float32Array, n * TIMINGS);
  if (!ts || !faceCounts || !stats || !size || !timings) return 'a frame column is missing or has the wrong length';
  let m = 0;
  for (let i = 0; i < n; i++) m += faceCounts[i]!;
  const identity = column(identityBin, Int32Array, m);
  const score = column(scoreBin, Float32Array, m);
  const margin = column(marginBin, Float32Array, m);
  const detScore = column(detBin, Float32Array, m);
  const box = column(boxBin, Float32Array, m * BOX);
  if (!identity || !score || !margin || !detScore || !box) return 'a face column is missing or has the wrong length';
  const items: FrameResult[] = new Array(n);
  let f = 0;
  for (let i = 0; i < n; i++) {
    const faces: FacePrediction[] = new Array(faceCounts[i]!);
    for (let k = 0; k < faces.length; k++, f++) {
      const label = identity[f]!;
      if (label < -1 || label >= labels.length) return `face ${f} names label ${label} of ${labels.length}`;
      const face: FacePrediction = {
        identity: label === -1 ? null : (labels[label] as string),
        score: nullable(score[f]!),
        margin: nullable(margin[f]!),
        detScore: round7(detScore[f]!),
      };
      const x = box[f * BOX]!;
      if (!Number.isNaN(x)) face.box = { x: round7(x), y: round7(box[f * BOX + 1]!), width: round7(box[f * BOX + 2]!), height: round7(box[f * BOX + 3]!) };
      faces[k] = face;
    }
    const s = i * FRAME_STATS;
    const t = i * TIMINGS;
    const item: FrameResult = {
      ts: ts[i]!,
      faces,
      stats: { brightness: round7(stats[s]!), contrast: round7(stats[s + 1]!), sharpness: round7(stats[s + 2]!) },
      timings: {
        detect: round7(timings[t + 1]!),
        align: round7(timings[t + 2]!),
        embed: round7(timings[t + 3]!),
        head: round7(timings[t + 4]!),
        total: round7(timings[t + 5]!),
      },
    };
    if (size[i * FRAME_SIZE]! > 0) item.stats.width = size[i * FRAME_SIZE]!;
    if (size[i * FRAME_SIZE + 1]! > 0) item.stats.height = size[i * FRAME_SIZE + 1]!;
    if (!Number.isNaN(timings[t]!)) item.timings.decode = round7(timings[t]!);
    items[i] = item;
  }
  const batch: Record<string, unknown> = { ...rest, items };
  if (centroid !== undefined) {
    if (typeof centroid !== 'object' || centroid === null) return 'centroid is not a map';
    const { count, mean } = centroid as Record<string, unknown>;
    const values = column(mean, Float32Array, EMBEDDING_DIMENSION);
    if (!values) return `centroid.mean is not ${EMBEDDING_DIMENSION} floats`;
    const rounded: number[] = new Array(EMBEDDING_DIMENSION);
    for (let i = 0; i < EMBEDDING_DIMENSION; i++) rounded[i] = round7(values[i]!);
    batch.embeddingCentroid = { count, mean: rounded };
  }
  return batch;
}

type TypedArrayOf<T> = { new (length: number): T; BYTES_PER_ELEMENT: number };

/** A `bin` field as a typed array of `length` values (copied, so the alignment of the source does not matter). */
function column<T extends Float64Array | Float32Array | Int32Array | Uint16Array | Uint8Array>(bin: unknown, type: TypedArrayOf<T>, length: number): T | null {
  if (!(bin instanceof Uint8Array) || bin.byteLength !== length * type.BYTES_PER_ELEMENT) return null;
  const out = new type(length);
  new Uint8Array(out.buffer).set(bin);
  return out;
}

function bytes(values: Float64Array | Float32Array | Int32Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function nullable(value: number): number | null {
  return Number.isNaN(value) ? null : round7(value);
}

/**
 * A 32-bit float read back as the decimal it most likely was: rounded to the significant digits a float32
 * holds (7, or 6–8 by range; msgpackr's table by exponent), so 0.8123 comes back as 0.8123, not
 * 0.8123000264167786. Non-finite values pass through (and fail validation).
 */
function round7(value: number): number {
  return value === 0 || !Number.isFinite(value) ? value : roundFloat32(value);
}

function failure<C extends string>(code: C, message: string): { ok: false; error: { code: C; message: string; details: [] } } {
  return { ok: false, error: { code, message, details: [] } };
}

/** Base64 characters of the largest predictions payload (`PAYLOAD_LIMITS.predictions`, 512 KiB). */
export const MAX_INGEST_PAYLOAD_BASE64 = 4 * Math.ceil((512 * 1024) / 3);

/** What a `predictions.ingest` job holds about its batch (see JOB_SCHEMAS). */
export interface PredictionIngestJobFields {
  deviceId: string;
  seq: number;
  epoch?: string | undefined;
  batch?: PredictionBatch | undefined;
  payload?: string | undefined;
}

/** The fields of a `predictions.ingest` job for a payload that `decodeDeviceMessage` accepted as `batch`. */
export function predictionIngestJobFields(
  batch: PredictionBatch,
  payload: Uint8Array | string,
): Required<Pick<PredictionIngestJobFields, 'deviceId' | 'seq' | 'payload'>> & Pick<PredictionIngestJobFields, 'epoch'> {
  const base64 = (typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)).toString(
    'base64',
  );
  return { deviceId: batch.deviceId, seq: batch.seq, ...(batch.epoch !== undefined ? { epoch: batch.epoch } : {}), payload: base64 };
}

/** Batches in one `predictions.ingest-group` job at most, and the base64 characters of their payloads together. */
export const MAX_INGEST_GROUP_BATCHES = 64;
export const MAX_INGEST_GROUP_PAYLOAD_CHARS = 4 * 1024 * 1024;

/**
 * Batches that arrived together → the `batches` of `predictions.ingest-group` jobs, in order: at most
 * `MAX_INGEST_GROUP_BATCHES` a job and `MAX_INGEST_GROUP_PAYLOAD_CHARS` of payload (a larger payload gets a job of its own).
 */
export function predictionIngestGroups<T extends { payload: string }>(batches: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let chars = 0;
  for (const batch of batches) {
    if (group.length > 0 && (group.length === MAX_INGEST_GROUP_BATCHES || chars + batch.payload.length > MAX_INGEST_GROUP_PAYLOAD_CHARS)) {
      groups.push(group);
      group = [];
      chars = 0;
    }
    group.push(batch);
    chars += batch.payload.length;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * The batch of a `predictions.ingest` job: its `batch` as parsed, or its `payload` decoded and checked again
 * (a job is an edge of its own: Redis may hold anything), naming the same device, epoch and seq as the job.
 */
export function predictionBatchOfJob(job: PredictionIngestJobFields): ParseResult<PredictionBatch, PredictionBatchDecodeCode> {
  if (job.batch !== undefined) return { ok: true, value: job.batch };
  if (job.payload === undefined) return failure('invalid_payload', 'the job carries neither batch nor payload');
  const decoded = decodePredictionBatch(Buffer.from(job.payload, 'base64'), 512 * 1024);
  if (!decoded.ok) return decoded;
  const batch = decoded.value;
  if (batch.deviceId !== job.deviceId || batch.seq !== job.seq || batch.epoch !== job.epoch) {
    return failure(
      'invalid_payload',
      `the payload is batch ${batch.deviceId}/${batch.epoch ?? ''}/${batch.seq}, the job ${job.deviceId}/${job.epoch ?? ''}/${job.seq}`,
    );
  }
  return decoded;
}
