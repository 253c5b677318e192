import { onnx } from 'onnx-proto';
import { createRandom } from '../random';

/**
 * Test support: an embedder that is the base embedder followed by a fixed random rotation Q
 * (orthogonal 512×512, from Gram–Schmidt on a seeded gaussian matrix). Cosines between faces are
 * unchanged while every raw embedding moves: the situation of a *new embedder version*, where
 * stored gallery embeddings and heads built for the old one no longer line up with the new one.
 * The graph's output keeps its name and shape; the MatMul is appended after it.
 */

export const ROTATION_INITIALIZER = 'edgeloop_rotation';

/** Row-major size×size orthogonal matrix (float64) by modified Gram–Schmidt on seeded gaussians. */
export function orthogonalMatrix(size: number, seed: number): Float64Array {
  const random = createRandom(seed);
  const q = new Float64Array(size * size);
  for (let i = 0; i < q.length; i++) q[i] = random.gaussian();
  // Orthonormalise the rows in turn.
  for (let r = 0; r < size; r++) {
    const ro = r * size;
    for (let p = 0; p < r; p++) {
      const po = p * size;
      let projection = 0;
      for (let i = 0; i < size; i++) projection += q[ro + i] * q[po + i];
      for (let i = 0; i < size; i++) q[ro + i] -= projection * q[po + i];
    }
    let norm = 0;
    for (let i = 0; i < size; i++) norm += q[ro + i] * q[ro + i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < size; i++) q[ro + i] /= norm;
  }
  return q;
}

/** `embedding [N, D] → embedding · Q` appended to an embedder ONNX model whose output is [N, D]. */
export function appendOrthogonalTransform(embedderOnnx: Uint8Array, seed: number): Uint8Array {
  const model = onnx.ModelProto.decode(embedderOnnx);
  const graph = model.graph;
  if (!graph?.output || graph.output.length !== 1 || !graph.node) throw new Error('expected an embedder graph with one output');
  const nodes = graph.node;
  const output = graph.output[0];
  const dims = output.type?.tensorType?.shape?.dim ?? [];
  const size = Number(dims[dims.length - 1]?.dimValue ?? NaN);
  if (!(size > 0)) throw new Error(`the embedder output "${output.name}" has no fixed last dimension`);
  const name = output.name as string;
  const raw = `${name}_before_rotation`;
  for (const node of nodes) node.output = (node.output ?? []).map((o) => (o === name ? raw : o));
  const q = orthogonalMatrix(size, seed);
  const weights = Buffer.alloc(size * size * 4);
  for (let i = 0; i < q.length; i++) weights.writeFloatLE(q[i], i * 4);
  graph.initializer = [
    ...(graph.initializer ?? []),
    onnx.TensorProto.create({ name: ROTATION_INITIALIZER, dims: [size, size], dataType: onnx.TensorProto.DataType.FLOAT, rawData: weights }),
  ];
  nodes.push(onnx.NodeProto.create({ name: 'edgeloop_rotate', opType: 'MatMul', input: [raw, ROTATION_INITIALIZER], output: [name] }));
  return onnx.ModelProto.encode(model).finish();
}
