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

/**
 * Serialises the identity head: `embedding` [N, D] → MatMul with the prototypes as a [D, K]
 * initializer → `scores` [N, K], the cosine score of each face against each identity.
 */
export function buildIdentityHead(head: IdentityPrototypes): Uint8Array {
  const k = head.labels.length;
  if (k === 0) throw new InvalidHeadError('a head needs at least one identity');
  if (head.prototypes.length !== k) {
    throw new InvalidHeadError(`${head.prototypes.length} prototypes for ${k} labels`);
  }
  const dim = head.prototypes[0].length;
  const weights = Buffer.alloc(dim * k * 4);
  head.prototypes.forEach((proto, j) => {
    if (proto.length !== dim) throw new InvalidHeadError(`prototype "${head.labels[j]}" has ${proto.length} values`);
    for (let i = 0; i < dim; i++) weights.writeFloatLE(proto[i], (i * k + j) * 4);
  });
  const model: onnx.IModelProto = {
    irVersion: HEAD_IR_VERSION,
    opsetImport: [{ domain: '', version: HEAD_OPSET }],
    producerName: 'edgeloop',
    producerVersion: '1',
    graph: {
      name: 'identity_head',
      node: [{ name: 'cosine', opType: 'MatMul', input: [HEAD_INPUT, 'prototypes'], output: [HEAD_OUTPUT] }],
      initializer: [{ name: 'prototypes', dims: [dim, k], dataType: onnx.TensorProto.DataType.FLOAT, rawData: weights }],
      input: [valueInfo(HEAD_INPUT, ['N', dim])],
      output: [valueInfo(HEAD_OUTPUT, ['N', k])],
    },
    metadataProps: [{ key: HEAD_LABELS_KEY, value: JSON.stringify(head.labels) }],
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
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
