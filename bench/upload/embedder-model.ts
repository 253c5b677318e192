import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** IR 8 / opset 13, like the identity head: loaded by onnxruntime-node 1.30. */
const IR_VERSION = 8;
const OPSET = 13;
const INPUT = 'input';
const OUTPUT = 'embedding';
const IMAGE_DIMS = [1, 3, 112, 112] as const;
const FLAT = IMAGE_DIMS[1] * IMAGE_DIMS[2] * IMAGE_DIMS[3];
const CHUNK_FLOATS = 1024 * 1024;

/** Protobuf field numbers of onnx.proto written by hand around the large initializer. */
const MODEL_GRAPH_FIELD = 7;
const GRAPH_INITIALIZER_FIELD = 5;
const TENSOR_RAW_DATA_FIELD = 9;

export interface LargeEmbedder {
  path: string;
  /** File size in bytes. */
  size: number;
  /** Embedding width D. */
  width: number;
  /** Byte offset of the first float of the weights (raw_data), rewritten to make each upload's bytes new. */
  weightsOffset: number;
}

/**
 * Writes a valid ONNX embedder whose size is all weights: `input` [1, 3, 112, 112] → Flatten → MatMul
 * with a [37632, width] float initializer → `embedding` [1, width]. The small parts are encoded by
 * onnx-proto; the initializer's raw_data is framed by hand and streamed in 4 MiB chunks, so the
 * weights are never held in memory (a width of 1400 gives a 211 MB file).
 */
export async function writeLargeEmbedder(path: string, width: number): Promise<LargeEmbedder> {
  const rawLength = FLAT * width * 4;
  const tensorHeader = onnx.TensorProto.encode(
    onnx.TensorProto.create({ name: 'weights', dims: [FLAT, width], dataType: onnx.TensorProto.DataType.FLOAT }),
  ).finish();
  const graphHead = onnx.GraphProto.encode(
    onnx.GraphProto.create({
      name: 'bench_embedder',
      node: [
        { name: 'flatten', opType: 'Flatten', input: [INPUT], output: ['flat'] },
        { name: 'project', opType: 'MatMul', input: ['flat', 'weights'], output: [OUTPUT] },
      ],
      input: [valueInfo(INPUT, [...IMAGE_DIMS])],
      output: [valueInfo(OUTPUT, [1, width])],
    }),
  ).finish();
  const modelHead = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'edgeloop-bench',
      producerVersion: '1',
    }),
  ).finish();

  // Fields of a message may come in any order and repeated fields concatenate, so the large
  // initializer is appended after the small encoded parts with its own tag and length prefix.
  const rawPrefix = fieldPrefix(TENSOR_RAW_DATA_FIELD, rawLength);
  const initializerLength = tensorHeader.length + rawPrefix.length + rawLength;
  const initializerPrefix = fieldPrefix(GRAPH_INITIALIZER_FIELD, initializerLength);
  const graphLength = graphHead.length + initializerPrefix.length + initializerLength;
  const head = Buffer.concat([modelHead, fieldPrefix(MODEL_GRAPH_FIELD, graphLength), graphHead, initializerPrefix, tensorHeader, rawPrefix]);

  const out = createWriteStream(path);
  const closed = once(out, 'close');
  const write = async (chunk: Buffer) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  await write(head);
  let index = 0;
  for (let written = 0; written < rawLength; ) {
    const floats = Math.min(CHUNK_FLOATS, (rawLength - written) / 4);
    const chunk = new Float32Array(floats);
    for (let i = 0; i < floats; i++, index++) chunk[i] = ((Math.imul(index, 2654435761) >>> 0) / 2 ** 32 - 0.5) * 0.01;
    await write(Buffer.from(chunk.buffer));
    written += floats * 4;
  }
  out.end();
  await closed;
  return { path, size: head.length + rawLength, width, weightsOffset: head.length };
}

/** Rewrites the first weight in place, so the file's bytes (and its sha256) are new for each upload. */
export async function markUpload(model: LargeEmbedder, mark: number): Promise<void> {
  const value = Buffer.alloc(4);
  value.writeFloatLE(mark);
  const handle = await open(model.path, 'r+');
  try {
    await handle.write(value, 0, 4, model.weightsOffset);
  } finally {
    await handle.close();
  }
}

/** Loads the file in onnxruntime-node and runs it once on zeros: the registry's validator does the same. */
export async function checkLoads(model: LargeEmbedder): Promise<number[]> {
  const session = await InferenceSession.create(model.path, { graphOptimizationLevel: 'basic', intraOpNumThreads: 1 });
  try {
    const input = new Tensor('float32', new Float32Array(FLAT), [...IMAGE_DIMS]);
    const dims = Array.from((await session.run({ [INPUT]: input }))[OUTPUT].dims);
    if (dims.length !== 2 || dims[1] !== model.width) {
      throw new Error(`the bench embedder outputs [${dims.join(', ')}], expected [1, ${model.width}]`);
    }
    return dims;
  } finally {
    await session.release();
  }
}

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

/** Tag (length-delimited wire type) and varint length of a protobuf field. */
function fieldPrefix(field: number, length: number): Buffer {
  const bytes = [(field << 3) | 2];
  for (let rest = length; ; ) {
    if (rest < 0x80) {
      bytes.push(rest);
      break;
    }
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  return Buffer.from(bytes);
}
