import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { EMBEDDER_INPUT_SIZE } from '@edgeloop/vision';
import { round } from './summary';

export interface EmbedderBatchRow {
  faces: number;
  /** N runs of [1, 3, 112, 112] on the model as shipped. */
  oneByOneMedianMs: number;
  /** One run of [N, 3, 112, 112] on the model with a free batch dimension. */
  batchedMedianMs: number;
  batchedVsOneByOne: number;
}

export interface EmbedderBatchResult {
  /** The shipped model's input and the Reshape that pins the batch. */
  shippedInput: string;
  batchPinnedBy: string;
  rows: EmbedderBatchRow[];
  /** Largest |difference| between a face's batched and one-by-one embedding. */
  maxAbsDifference: number;
}

/**
 * Is embedding a frame's faces as one batch faster? fr_feature.onnx takes `input` [1,3,112,112] and
 * flattens with a Reshape to [1,-1], so a batch needs the model edited: the batch dimension made free
 * (`N`) and the Reshape's shape made [0,-1] (0 = keep the batch). Both versions run on the same aligned
 * crops, interleaved, 1–5 faces.
 */
export async function measureEmbedderBatch(embedderPath: string, crops: Float32Array[], rounds: number, threads: number): Promise<EmbedderBatchResult> {
  const shipped = onnx.ModelProto.decode(readFileSync(embedderPath));
  const dims = (v: onnx.IValueInfoProto) => (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || String(d.dimValue)).join(',');
  const input = shipped.graph!.input!.find((i) => !shipped.graph!.initializer!.some((t) => t.name === i.name))!;
  const shippedInput = `${input.name} [${dims(input)}]`;
  const batched = onnx.ModelProto.decode(readFileSync(embedderPath));
  const graph = batched.graph!;
  for (const value of [...graph.input!, ...graph.output!]) {
    const first = value.type?.tensorType?.shape?.dim?.[0];
    if (first) {
      first.dimParam = 'N';
      first.dimValue = null;
    }
  }
  let batchPinnedBy = 'nothing';
  for (const node of graph.node!) {
    if (node.opType !== 'Reshape') continue;
    const shape = graph.initializer!.find((t) => t.name === node.input![1]);
    if (!shape) continue;
    const values = readInt64(shape);
    if (values[0] !== 1n) continue;
    batchPinnedBy = `Reshape ${node.name || node.output![0]} to [${values.join(',')}]`;
    values[0] = 0n;
    shape.rawData = Buffer.from(new BigInt64Array(values).buffer);
    shape.int64Data = [];
  }
  const options: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'basic',
  };
  const one = await InferenceSession.create(embedderPath, options);
  const many = await InferenceSession.create(onnx.ModelProto.encode(batched).finish(), options);
  const size = 3 * EMBEDDER_INPUT_SIZE * EMBEDDER_INPUT_SIZE;
  const rows: EmbedderBatchRow[] = [];
  let maxAbsDifference = 0;
  try {
    for (let n = 1; n <= 5; n++) {
      const faces = Array.from({ length: n }, (_, i) => crops[i % crops.length]);
      const joined = new Float32Array(n * size);
      faces.forEach((f, i) => joined.set(f, i * size));
      const oneByOne: number[] = [];
      const inBatch: number[] = [];
      for (let r = -1; r < rounds; r++) {
        const runOne = async () => {
          const t = performance.now();
          const outs: Float32Array[] = [];
          for (const f of faces)
            outs.push((await one.run({ input: new Tensor('float32', f, [1, 3, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE]) })).output.data as Float32Array);
          if (r >= 0) oneByOne.push(performance.now() - t);
          return outs;
        };
        const runMany = async () => {
          const t = performance.now();
          const out = (await many.run({ input: new Tensor('float32', joined, [n, 3, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE]) })).output.data as Float32Array;
          if (r >= 0) inBatch.push(performance.now() - t);
          return out;
        };
        let a: Float32Array[];
        let b: Float32Array;
        if (r % 2 === 0) {
          a = await runOne();
          b = await runMany();
        } else {
          b = await runMany();
          a = await runOne();
        }
        if (r === -1) {
          const width = b.length / n;
          a.forEach((e, i) => {
            for (let k = 0; k < e.length; k++) maxAbsDifference = Math.max(maxAbsDifference, Math.abs(e[k] - b[i * width + k]));
          });
        }
      }
      const med = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
      rows.push({
        faces: n,
        oneByOneMedianMs: round(med(oneByOne)),
        batchedMedianMs: round(med(inBatch)),
        batchedVsOneByOne: round(med(inBatch) / med(oneByOne), 3),
      });
    }
  } finally {
    await Promise.all([one.release(), many.release()]);
  }
  return { shippedInput, batchPinnedBy, rows, maxAbsDifference };
}

function readInt64(tensor: onnx.ITensorProto): bigint[] {
  if (tensor.int64Data && tensor.int64Data.length > 0) return tensor.int64Data.map((v) => BigInt(v.toString()));
  const raw = tensor.rawData!;
  return Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
}
