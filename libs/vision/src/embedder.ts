import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { RgbImage } from './image';
import { expectIo } from './session';
import { estimateSimilarity, invertAffine, type Affine, type Point } from './similarity';
import { warpAffineToPlanar, type ChannelOrder } from './warp';

export const EMBEDDER_INPUT_SIZE = 112;
export const EMBEDDING_SIZE = 512;

/** Where the five alignment points land in the 112×112 crop (the reference package's points). */
export const REFERENCE_POINTS_112: readonly Point[] = [
  [38.29459953, 51.69630051],
  [73.53179932, 51.50139999],
  [56.02519989, 71.73660278],
  [41.54930115, 92.3655014],
  [70.72990036, 92.20410156],
];

/** Image → 112×112 crop transform fitted on the five points (least squares, similarity). */
export function alignmentTransform(points: readonly Point[]): Affine {
  return estimateSimilarity(points, REFERENCE_POINTS_112);
}

/** In place; returns the same array. A zero vector stays zero. */
export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

/** 512-d face embedding of an aligned 112×112 crop, L2-normalised. */
export class FaceEmbedder {
  private readonly inputName: string;
  private readonly outputName: string;

  /**
   * @param spare input buffers returned after each run, reused by the next face; embedders on one session
   *   can share it (see FaceDetector).
   */
  constructor(
    readonly session: InferenceSession,
    private readonly channelOrder: ChannelOrder,
    private readonly spare: Float32Array[] = [],
  ) {
    expectIo('embedder', session, ['input'], ['output']);
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
  }

  /** The aligned crop as the model's input: (v − 127) / 128, channel-first. */
  alignedTensorData(image: RgbImage, points: readonly Point[]): Float32Array {
    const inverse = invertAffine(alignmentTransform(points));
    return warpAffineToPlanar(
      image,
      inverse,
      EMBEDDER_INPUT_SIZE,
      EMBEDDER_INPUT_SIZE,
      { order: this.channelOrder, mean: 127, scale: 1 / 128 },
      this.spare.pop(),
    );
  }

  /** Runs the model on an aligned input; the input buffer is recycled afterwards. */
  async embedTensorData(data: Float32Array): Promise<Float32Array> {
    const input = new Tensor('float32', data, [1, 3, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE]);
    try {
      const out = await this.session.run({ [this.inputName]: input });
      const raw = out[this.outputName].data as Float32Array;
      return l2Normalise(Float32Array.from(raw));
    } finally {
      if (this.spare.length < 4 && data.length === 3 * EMBEDDER_INPUT_SIZE * EMBEDDER_INPUT_SIZE) this.spare.push(data);
    }
  }

  async embed(image: RgbImage, points: readonly Point[]): Promise<Float32Array> {
    return this.embedTensorData(this.alignedTensorData(image, points));
  }
}
