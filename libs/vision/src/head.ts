import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { EMBEDDING_SIZE, l2Normalise } from './embedder';
import { InvalidHeadError } from './errors';
import type { ModelSource } from './options';
import { createSession, type SessionSettings } from './session';

/** An embedding with the identity it belongs to. */
export interface LabelledEmbedding {
  label: string;
  embedding: Float32Array;
}

/** One L2-normalised prototype per identity, in the order of `labels`. */
export interface IdentityPrototypes {
  labels: string[];
  prototypes: Float32Array[];
}

/** IR version 8 with opset 13: loaded by onnxruntime-node 1.30 (and older runtimes since 1.10). */
export const HEAD_IR_VERSION = 8;
export const HEAD_OPSET = 13;
export const HEAD_INPUT = 'embedding';
export const HEAD_OUTPUT = 'scores';
/** Model metadata key that carries the labels JSON inside the head itself. */
export const HEAD_LABELS_KEY = 'edgeloop.labels';

/**
 * Class prototypes: the mean of each identity's (L2-normalised) embeddings, renormalised.
 * Labels keep the order of their first sample.
 */
export function computePrototypes(samples: readonly LabelledEmbedding[], dim = EMBEDDING_SIZE): IdentityPrototypes {
  const sums = new Map<string, Float32Array>();
  for (const { label, embedding } of samples) {
    if (embedding.length !== dim) {
      throw new InvalidHeadError(`embedding for "${label}" has ${embedding.length} values, expected ${dim}`);
    }
    let sum = sums.get(label);
    if (!sum) sums.set(label, (sum = new Float32Array(dim)));
    for (let i = 0; i < dim; i++) sum[i] += embedding[i];
  }
  const labels = [...sums.keys()];
  return { labels, prototypes: labels.map((l) => l2Normalise(sums.get(l) as Float32Array)) };
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

/** How a head stores its [D, K] prototype matrix. */
export type HeadWeights = 'float32' | 'int8';

export interface HeadBuildOptions {
  /**
   * `float32` (default): the prototypes as they are, 4 bytes a value. `int8`: each identity's prototype
   * (a column of the matrix) quantised symmetrically to int8 with its own float scale and dequantised by a
   * `DequantizeLinear` (opset 13, `axis` 1) in front of the `MatMul` — a quarter of the bytes, scores within
   * `‖Δw_j‖₂` (≤ √D · scale_j / 2) of the float32 head's (see `quantisePrototypes`).
   */
  weights?: HeadWeights;
}

/** Names inside the head: the [D, K] matrix the MatMul reads, and the int8 form's stored tensors. */
const PROTOTYPES = 'prototypes';
const PROTOTYPES_Q = 'prototypes_int8';
const PROTOTYPES_SCALE = 'prototypes_scale';
const PROTOTYPES_ZERO = 'prototypes_zero_point';

/** Per-identity int8 prototypes: values [D, K] row-major (column j is identity j), one scale per identity. */
export interface QuantisedPrototypes {
  dim: number;
  labels: string[];
  values: Int8Array;
  scales: Float32Array;
}

/**
 * Symmetric per-identity int8 quantisation: scale_j = max_i |p_j[i]| / 127, q = round(p / scale_j).
 * Every value is off by at most scale_j / 2, so a score against a unit-length embedding e is off by
 * |e · Δw_j| ≤ ‖Δw_j‖₂ ≤ √D · scale_j / 2 (Cauchy–Schwarz).
 */
export function quantisePrototypes(head: IdentityPrototypes): QuantisedPrototypes {
  const { k, dim } = checkHead(head);
  const values = new Int8Array(dim * k);
  const scales = new Float32Array(k);
  head.prototypes.forEach((proto, j) => {
    let max = 0;
    for (let i = 0; i < dim; i++) max = Math.max(max, Math.abs(proto[i]));
    const scale = Math.fround(max > 0 ? max / 127 : 1);
    scales[j] = scale;
    for (let i = 0; i < dim; i++) values[i * k + j] = Math.max(-127, Math.min(127, Math.round(proto[i] / scale)));
  });
  return { dim, labels: [...head.labels], values, scales };
}

/** The prototypes a quantised head actually scores with (what DequantizeLinear computes: q × scale, in float32). */
export function dequantisePrototypes(q: QuantisedPrototypes): IdentityPrototypes {
  const k = q.labels.length;
  const prototypes = q.labels.map((_, j) => {
    const row = new Float32Array(q.dim);
    for (let i = 0; i < q.dim; i++) row[i] = q.values[i * k + j] * q.scales[j];
    return row;
  });
  return { labels: [...q.labels], prototypes };
}

function checkHead(head: IdentityPrototypes): { k: number; dim: number } {
  const k = head.labels.length;
  if (k === 0) throw new InvalidHeadError('a head needs at least one identity');
  if (head.prototypes.length !== k) {
    throw new InvalidHeadError(`${head.prototypes.length} prototypes for ${k} labels`);
  }
  const dim = head.prototypes[0].length;
  head.prototypes.forEach((proto, j) => {
    if (proto.length !== dim) throw new InvalidHeadError(`prototype "${head.labels[j]}" has ${proto.length} values`);
  });
  return { k, dim };
}

/**
 * Serialises the identity head: `embedding` [N, D] → MatMul with the prototypes as a [D, K]
 * initializer → `scores` [N, K], the cosine score of each face against each identity. With
 * `weights: 'int8'` the initializer is int8 with a scale per identity and a `DequantizeLinear` makes the
 * [D, K] float matrix in front of the MatMul: the same inputs, outputs and opset, so any runtime that
 * loads the float32 head loads this one.
 */
export function buildIdentityHead(head: IdentityPrototypes, options: HeadBuildOptions = {}): Uint8Array {
  const { k, dim } = checkHead(head);
  const weights = options.weights ?? 'float32';
  if (weights === 'int8') return encodeQuantisedHead(quantisePrototypes(head));
  if (weights !== 'float32') throw new InvalidHeadError(`unknown head weights "${String(weights)}" (float32 or int8)`);
  const raw = Buffer.alloc(dim * k * 4);
  head.prototypes.forEach((proto, j) => {
    for (let i = 0; i < dim; i++) raw.writeFloatLE(proto[i], (i * k + j) * 4);
  });
  const initializer = [{ name: PROTOTYPES, dims: [dim, k], dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw }];
  const nodes = [{ name: 'cosine', opType: 'MatMul', input: [HEAD_INPUT, PROTOTYPES], output: [HEAD_OUTPUT] }];
  return encodeHead(head.labels, dim, nodes, initializer);
}

/**
 * The int8 head of already quantised prototypes (what `buildIdentityHead(…, { weights: 'int8' })` makes of
 * `quantisePrototypes(head)`): the same values give the same bytes, which is what lets a device rebuild a
 * head from a delta and check it against the manifest's sha256 (head-delta.ts).
 */
export function encodeQuantisedHead(q: QuantisedPrototypes): Uint8Array {
  const k = q.labels.length;
  const { dim } = q;
  if (k === 0) throw new InvalidHeadError('a head needs at least one identity');
  if (!(Number.isInteger(dim) && dim > 0) || q.values.length !== dim * k || q.scales.length !== k) {
    throw new InvalidHeadError(`quantised prototypes of ${q.values.length} values and ${q.scales.length} scales are not ${dim}×${k}`);
  }
  const DataType = onnx.TensorProto.DataType;
  const scales = Buffer.alloc(k * 4);
  q.scales.forEach((s, j) => {
    if (!(s > 0) || !Number.isFinite(s)) throw new InvalidHeadError(`the scale of "${q.labels[j]}" is ${s}, not a positive number`);
    scales.writeFloatLE(s, j * 4);
  });
  const initializer: onnx.ITensorProto[] = [
    { name: PROTOTYPES_Q, dims: [dim, k], dataType: DataType.INT8, rawData: new Uint8Array(q.values.buffer, q.values.byteOffset, q.values.byteLength) },
    { name: PROTOTYPES_SCALE, dims: [k], dataType: DataType.FLOAT, rawData: scales },
    { name: PROTOTYPES_ZERO, dims: [k], dataType: DataType.INT8, rawData: new Uint8Array(k) },
  ];
  const nodes: onnx.INodeProto[] = [
    {
      name: 'dequantise',
      opType: 'DequantizeLinear',
      input: [PROTOTYPES_Q, PROTOTYPES_SCALE, PROTOTYPES_ZERO],
      output: [PROTOTYPES],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    },
    { name: 'cosine', opType: 'MatMul', input: [HEAD_INPUT, PROTOTYPES], output: [HEAD_OUTPUT] },
  ];
  return encodeHead(q.labels, dim, nodes, initializer);
}

function encodeHead(labels: readonly string[], dim: number, nodes: onnx.INodeProto[], initializer: onnx.ITensorProto[]): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: HEAD_IR_VERSION,
    opsetImport: [{ domain: '', version: HEAD_OPSET }],
    producerName: 'edgeloop',
    producerVersion: '1',
    graph: {
      name: 'identity_head',
      node: nodes,
      initializer,
      input: [valueInfo(HEAD_INPUT, ['N', dim])],
      output: [valueInfo(HEAD_OUTPUT, ['N', labels.length])],
    },
    metadataProps: [{ key: HEAD_LABELS_KEY, value: JSON.stringify(labels) }],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/**
 * The stored int8 values, scales and labels (from the head's metadata) of an int8 head built by
 * `encodeQuantisedHead`, or undefined for any other head (float32, another layout, no labels).
 */
export function readQuantisedHead(bytes: Uint8Array): QuantisedPrototypes | undefined {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch {
    return undefined;
  }
  const inits = model.graph?.initializer ?? [];
  const DataType = onnx.TensorProto.DataType;
  const matrix = inits.find((t) => t.name === PROTOTYPES_Q);
  const scaleTensor = inits.find((t) => t.name === PROTOTYPES_SCALE);
  if (!matrix || !scaleTensor || matrix.dataType !== DataType.INT8 || matrix.dims?.length !== 2) return undefined;
  const [dim, k] = matrix.dims.map(Number);
  if (!(dim > 0 && k > 0) || matrix.rawData?.length !== dim * k) return undefined;
  const entry = model.metadataProps?.find((p) => p.key === HEAD_LABELS_KEY);
  let labels: unknown;
  try {
    labels = entry?.value ? JSON.parse(entry.value) : undefined;
  } catch {
    return undefined;
  }
  if (!Array.isArray(labels) || labels.length !== k || !labels.every((l) => typeof l === 'string')) return undefined;
  const scales = floatValues(scaleTensor);
  if (scales.length !== k) return undefined;
  const raw = matrix.rawData;
  return { dim, labels: labels as string[], values: Int8Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength)), scales };
}

/**
 * The prototypes a head built by `buildIdentityHead` scores with, read back from its bytes: the float32
 * [D, K] initializer, or the int8 one times its per-identity scales (exactly what the head computes).
 * Labelled by `labels` when given with the right count (the bundle manifest is the source of truth), else
 * by the head's metadata, else `#j`.
 */
export function readIdentityHead(bytes: Uint8Array, labels?: readonly string[]): IdentityPrototypes & { weights: HeadWeights } {
  const model = onnx.ModelProto.decode(bytes);
  const inits = model.graph?.initializer ?? [];
  const DataType = onnx.TensorProto.DataType;
  const quantised = inits.find((t) => t.name === PROTOTYPES_Q);
  const matrix = quantised ?? inits.find((t) => t.name === PROTOTYPES) ?? inits[0];
  if (!matrix || !matrix.dims || matrix.dims.length !== 2) throw new InvalidHeadError('the head has no [D, K] prototype initializer');
  const [dim, k] = matrix.dims.map(Number);
  const named = (): string[] => {
    if (labels && labels.length === k) return [...labels];
    const entry = model.metadataProps?.find((p) => p.key === HEAD_LABELS_KEY);
    const stored: unknown = entry?.value ? JSON.parse(entry.value) : undefined;
    return Array.isArray(stored) && stored.length === k ? (stored as string[]) : Array.from({ length: k }, (_, j) => `#${j}`);
  };
  if (quantised) {
    const scaleTensor = inits.find((t) => t.name === PROTOTYPES_SCALE);
    if (quantised.dataType !== DataType.INT8 || !quantised.rawData || quantised.rawData.length !== dim * k) {
      throw new InvalidHeadError(`the head's int8 prototypes are not ${dim}×${k} int8 values`);
    }
    const scales = scaleTensor ? floatValues(scaleTensor) : new Float32Array();
    if (scales.length !== k) throw new InvalidHeadError(`the head has ${scales.length} prototype scales for ${k} identities`);
    const raw = quantised.rawData;
    const values = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    return { ...dequantisePrototypes({ dim, labels: named(), values: Int8Array.from(values), scales }), weights: 'int8' };
  }
  if (matrix.dataType !== DataType.FLOAT) throw new InvalidHeadError(`the head's prototypes have data type ${matrix.dataType}, not float32 or int8`);
  const values = floatValues(matrix);
  if (values.length !== dim * k) throw new InvalidHeadError(`the head's initializer has ${values.length} values, not ${dim}×${k}`);
  const prototypes = Array.from({ length: k }, (_, j) => {
    const row = new Float32Array(dim);
    for (let i = 0; i < dim; i++) row[i] = values[i * k + j];
    return row;
  });
  return { labels: named(), prototypes, weights: 'float32' };
}

function floatValues(tensor: onnx.ITensorProto): Float32Array {
  if (tensor.rawData && tensor.rawData.length > 0) {
    const raw = Buffer.from(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength);
    const out = new Float32Array(raw.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = raw.readFloatLE(i * 4);
    return out;
  }
  return Float32Array.from(tensor.floatData ?? []);
}

/** Labels stored in a head's metadata, if any (the bundle manifest stays the source of truth). */
export function readHeadLabels(bytes: Uint8Array): string[] | undefined {
  const model = onnx.ModelProto.decode(bytes);
  const entry = model.metadataProps.find((p) => p.key === HEAD_LABELS_KEY);
  if (!entry?.value) return undefined;
  const labels: unknown = JSON.parse(entry.value);
  return Array.isArray(labels) && labels.every((l) => typeof l === 'string') ? labels : undefined;
}

/** A loaded identity head: one onnxruntime session scoring a batch of embeddings. */
export class IdentityHead {
  private constructor(
    readonly session: InferenceSession,
    readonly labels: readonly string[],
    readonly dim: number,
  ) {}

  /** Loads and checks the head: its output width must equal the number of labels. */
  static async load(source: ModelSource, labels: readonly string[], settings: SessionSettings): Promise<IdentityHead> {
    if (new Set(labels).size !== labels.length) throw new InvalidHeadError('head labels must be unique');
    const session = await createSession('head', source, settings, 'basic');
    try {
      if (!session.inputNames.includes(HEAD_INPUT) || !session.outputNames.includes(HEAD_OUTPUT)) {
        throw new InvalidHeadError(
          `head must map "${HEAD_INPUT}" to "${HEAD_OUTPUT}" (has ${session.inputNames.join(',')} → ${session.outputNames.join(',')})`,
        );
      }
      const probe = new Tensor('float32', new Float32Array(EMBEDDING_SIZE), [1, EMBEDDING_SIZE]);
      let width: number;
      try {
        width = (await session.run({ [HEAD_INPUT]: probe }))[HEAD_OUTPUT].data.length;
      } catch (err) {
        throw new InvalidHeadError(`head does not take [N, ${EMBEDDING_SIZE}] embeddings: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (width !== labels.length) {
        throw new InvalidHeadError(`head scores ${width} identities but ${labels.length} labels were given`);
      }
      return new IdentityHead(session, [...labels], EMBEDDING_SIZE);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Scores every embedding against every identity in one run: row i is face i. */
  async score(embeddings: readonly Float32Array[]): Promise<Float32Array[]> {
    if (embeddings.length === 0) return [];
    const n = embeddings.length;
    const batch = new Float32Array(n * this.dim);
    embeddings.forEach((e, i) => batch.set(e, i * this.dim));
    const out = await this.session.run({ [HEAD_INPUT]: new Tensor('float32', batch, [n, this.dim]) });
    const scores = out[HEAD_OUTPUT].data as Float32Array;
    const k = this.labels.length;
    return embeddings.map((_, i) => scores.slice(i * k, (i + 1) * k));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
