import { HEAD_DELTA_SCHEMA, HeadDeltaHeaderSchema, headDeltaRecordBytes, MAX_HEAD_DELTA_BYTES, type HeadDeltaHeader } from '@edgeloop/contracts';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  encodeQuantisedHead,
  quantisePrototypes,
  readHeadLabels,
  readIdentityHead,
  readQuantisedHead,
  type HeadWeights,
  type IdentityPrototypes,
  type QuantisedPrototypes,
} from './head';

/**
 * Head deltas (the format is in @edgeloop/contracts `head-delta.ts`): the cloud encodes what changed
 * between a base head and an int8 head, column by column (one column = one identity); a device applies it to
 * the head it holds and keeps the result only if it hashes to the signed manifest's sha256. The base is an
 * int8 head, or a float32 head (an upload) read as its deterministic int8 quantisation (`readDeltaBase`).
 *
 * A retrain re-fits every row a little, so `quantiseAgainstParent` keeps a parent's int8 column whenever
 * it is as close to the new prototype as a fresh quantisation is guaranteed to be: only identities that
 * really moved are rewritten, and the score error bound of the int8 head still holds.
 */

export type HeadDeltaFailure = 'malformed' | 'base_mismatch' | 'not_int8';

export class HeadDeltaError extends Error {
  constructor(
    readonly reason: HeadDeltaFailure,
    message: string,
  ) {
    super(message);
    this.name = 'HeadDeltaError';
  }
}

/** A head a delta can start from: its columns as int8 values and scales, and how the head itself stores them. */
export interface DeltaBase {
  weights: HeadWeights;
  quantised: QuantisedPrototypes;
}

/**
 * The columns a delta copies from `bytes`: an int8 head's own (`readQuantisedHead`), or a float32 head's as
 * `quantisePrototypes` quantises them — the same arithmetic on the same float32 values, so the cloud and a
 * device get the same bytes. Undefined for any other head, a head without its labels in its metadata, or
 * float32 columns that do not quantise (a value that is not finite).
 */
export function readDeltaBase(bytes: Uint8Array): DeltaBase | undefined {
  const int8 = readQuantisedHead(bytes);
  if (int8) return { weights: 'int8', quantised: int8 };
  let labels: string[] | undefined;
  let head: ReturnType<typeof readIdentityHead>;
  try {
    labels = readHeadLabels(bytes);
    head = readIdentityHead(bytes, labels);
  } catch {
    return undefined;
  }
  if (head.weights !== 'float32' || !labels || labels.length !== head.labels.length || labels.length === 0) return undefined;
  if (new Set(labels).size !== labels.length) return undefined;
  const dim = head.prototypes[0].length;
  if (!head.prototypes.every((p) => p.length === dim && p.every(Number.isFinite))) return undefined;
  const quantised = quantisePrototypes(head);
  return { weights: 'float32', quantised };
}

export interface ParentQuantisation {
  quantised: QuantisedPrototypes;
  /** Identities whose int8 column and scale were taken from the parent as they were. */
  reused: number;
  /** Identities the parent knows whose column was quantised again (they moved more than the bound). */
  rewritten: number;
  /** Identities the parent does not know. */
  added: number;
}

/**
 * int8 quantisation of `head` that reuses the parent head's column of an identity when
 * ‖p_j − parent_j‖₂ ≤ √D · s_j / 2, where parent_j is the parent's dequantised column and s_j = max|p_j| / 127
 * the scale a fresh quantisation of p_j would get. A fresh quantisation is off by at most that much (every
 * value by ≤ s_j / 2), so either way a score against a unit embedding is within √D · s_j / 2 of the float
 * head's: the head's documented error bound holds for reused columns too.
 */
export function quantiseAgainstParent(head: IdentityPrototypes, parent: QuantisedPrototypes | undefined): ParentQuantisation {
  const fresh = quantisePrototypes(head);
  const k = fresh.labels.length;
  const { dim } = fresh;
  if (!parent || parent.dim !== dim) return { quantised: fresh, reused: 0, rewritten: parent ? k : 0, added: parent ? 0 : k };
  const parentK = parent.labels.length;
  const parentIndex = new Map(parent.labels.map((label, j) => [label, j]));
  let reused = 0;
  let rewritten = 0;
  let added = 0;
  head.prototypes.forEach((proto, j) => {
    const p = parentIndex.get(head.labels[j]);
    if (p === undefined) {
      added++;
      return;
    }
    const scale = parent.scales[p];
    let squared = 0;
    for (let i = 0; i < dim; i++) {
      const d = proto[i] - Math.fround(parent.values[i * parentK + p] * scale);
      squared += d * d;
    }
    if (Math.sqrt(squared) > (Math.sqrt(dim) * fresh.scales[j]) / 2) {
      rewritten++;
      return;
    }
    reused++;
    fresh.scales[j] = scale;
    for (let i = 0; i < dim; i++) fresh.values[i * k + j] = parent.values[i * parentK + p];
  });
  return { quantised: fresh, reused, rewritten, added };
}

export interface EncodedHeadDelta {
  bytes: Uint8Array;
  /** Target columns copied from the base, and columns carried in the delta. */
  copied: number;
  carried: number;
}

/**
 * The delta that turns `base` (an int8 head, or a float32 head: `readDeltaBase`) into `target` (an int8 head
 * as `encodeQuantisedHead` writes it), or undefined when either is another kind of head or the delta would not
 * rebuild `target` byte for byte. A target column is copied when the base has a column of the same label with
 * the same scale and int8 values (of a float32 base: its quantisation).
 */
export function encodeHeadDelta(base: Uint8Array, target: Uint8Array): EncodedHeadDelta | undefined {
  const baseHead = readDeltaBase(base);
  const to = readQuantisedHead(target);
  if (!baseHead || !to || baseHead.quantised.dim !== to.dim) return undefined;
  const from = baseHead.quantised;
  const { dim } = to;
  const k = to.labels.length;
  const baseK = from.labels.length;
  const baseIndex = new Map(from.labels.map((label, j) => [label, j]));
  const sameColumn = (j: number, p: number): boolean => {
    if (Math.fround(from.scales[p]) !== Math.fround(to.scales[j])) return false;
    for (let i = 0; i < dim; i++) if (from.values[i * baseK + p] !== to.values[i * k + j]) return false;
    return true;
  };
  const columns: HeadDeltaHeader['columns'] = [];
  const records: Buffer[] = [];
  let copied = 0;
  for (let j = 0; j < k; j++) {
    const p = baseIndex.get(to.labels[j]);
    const last = columns[columns.length - 1];
    if (p !== undefined && sameColumn(j, p)) {
      copied++;
      if (last && 'from' in last && last.from + last.count === p) last.count++;
      else columns.push({ from: p, count: 1 });
      continue;
    }
    if (last && 'add' in last) last.add.push(to.labels[j]);
    else columns.push({ add: [to.labels[j]] });
    const record = Buffer.alloc(headDeltaRecordBytes(dim));
    record.writeFloatLE(to.scales[j], 0);
    for (let i = 0; i < dim; i++) record.writeInt8(to.values[i * k + j], 4 + i);
    records.push(record);
  }
  const header: HeadDeltaHeader = {
    schema: HEAD_DELTA_SCHEMA,
    base: sha256(base),
    ...(baseHead.weights === 'float32' ? { baseWeights: 'float32' as const } : {}),
    target: { sha256: sha256(target), size: target.byteLength },
    dim,
    columns,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length, 0);
  const bytes = new Uint8Array(gzipSync(Buffer.concat([length, json, ...records]), { level: 9 }));
  try {
    if (sha256(applyHeadDelta(base, bytes)) !== header.target.sha256) return undefined;
  } catch {
    return undefined;
  }
  return { bytes, copied, carried: records.length };
}

/** The header of a delta, parsed and checked (no base needed). */
export function readHeadDeltaHeader(delta: Uint8Array): { header: HeadDeltaHeader; body: Buffer } {
  if (delta.byteLength > MAX_HEAD_DELTA_BYTES)
    throw new HeadDeltaError('malformed', `the delta has ${delta.byteLength} bytes, at most ${MAX_HEAD_DELTA_BYTES}`);
  let raw: Buffer;
  try {
    raw = gunzipSync(delta, { maxOutputLength: MAX_HEAD_DELTA_BYTES });
  } catch (err) {
    throw new HeadDeltaError('malformed', `the delta does not decompress: ${(err as Error).message}`);
  }
  if (raw.length < 4) throw new HeadDeltaError('malformed', 'the delta is shorter than its header length');
  const headerLength = raw.readUInt32LE(0);
  if (headerLength > raw.length - 4) throw new HeadDeltaError('malformed', `the header length ${headerLength} is past the end`);
  let json: unknown;
  try {
    json = JSON.parse(raw.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    throw new HeadDeltaError('malformed', 'the delta header is not JSON');
  }
  const parsed = HeadDeltaHeaderSchema.safeParse(json);
  if (!parsed.success) throw new HeadDeltaError('malformed', `the delta header is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return { header: parsed.data, body: raw.subarray(4 + headerLength) };
}

/**
 * Rebuilds the target head from the `base` head bytes and a delta. Throws `HeadDeltaError` when the delta
 * is malformed, is for another base, or the base is not a head a delta starts from (`readDeltaBase`). The caller must still check the
 * result's sha256 against the signed manifest before using it: the delta is not signed.
 */
export function applyHeadDelta(base: Uint8Array, delta: Uint8Array): Uint8Array {
  const { header, body } = readHeadDeltaHeader(delta);
  const baseSha = sha256(base);
  if (baseSha !== header.base) throw new HeadDeltaError('base_mismatch', `the delta is for head ${header.base}, this head is ${baseSha}`);
  const baseHead = readDeltaBase(base);
  if (!baseHead) throw new HeadDeltaError('not_int8', 'the base is neither an int8 identity head nor a labelled float32 one');
  if (baseHead.weights !== (header.baseWeights ?? 'int8')) {
    throw new HeadDeltaError('malformed', `the delta is for a base of ${header.baseWeights ?? 'int8'} weights, this head has ${baseHead.weights}`);
  }
  const from = baseHead.quantised;
  const { dim } = header;
  if (from.dim !== dim) throw new HeadDeltaError('malformed', `the delta is for ${dim}-value embeddings, the base has ${from.dim}`);
  const baseK = from.labels.length;
  const k = header.columns.reduce((n, run) => n + ('add' in run ? run.add.length : run.count), 0);
  const added = header.columns.reduce((n, run) => n + ('add' in run ? run.add.length : 0), 0);
  const recordBytes = headDeltaRecordBytes(dim);
  if (body.length !== added * recordBytes) {
    throw new HeadDeltaError('malformed', `the delta body has ${body.length} bytes, ${added} added columns need ${added * recordBytes}`);
  }
  const labels: string[] = [];
  const values = new Int8Array(dim * k);
  const scales = new Float32Array(k);
  let j = 0;
  let record = 0;
  for (const run of header.columns) {
    if ('from' in run) {
      if (run.from + run.count > baseK) throw new HeadDeltaError('malformed', `columns ${run.from}–${run.from + run.count - 1} are past the base's ${baseK}`);
      for (let p = run.from; p < run.from + run.count; p++, j++) {
        labels.push(from.labels[p]);
        scales[j] = from.scales[p];
        for (let i = 0; i < dim; i++) values[i * k + j] = from.values[i * baseK + p];
      }
    } else {
      for (const label of run.add) {
        const at = record++ * recordBytes;
        labels.push(label);
        scales[j] = body.readFloatLE(at);
        for (let i = 0; i < dim; i++) values[i * k + j] = body.readInt8(at + 4 + i);
        j++;
      }
    }
  }
  if (new Set(labels).size !== labels.length) throw new HeadDeltaError('malformed', 'the delta names an identity twice');
  try {
    return encodeQuantisedHead({ dim, labels, values, scales });
  } catch (err) {
    throw new HeadDeltaError('malformed', `the delta does not make a head: ${(err as Error).message}`);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
