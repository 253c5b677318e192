import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  alignmentTransform,
  decodeDetections,
  DETECTOR_INPUT_HEIGHT,
  DETECTOR_INPUT_WIDTH,
  EMBEDDER_INPUT_SIZE,
  fivePoints,
  invertAffine,
  LANDMARK_INPUT_SIZE,
  landmarkCrop,
  landmarkTensorData,
  prepareDetectorFrame,
  warpAffineToPlanar,
  type RgbImage,
} from '@edgeloop/vision';

/** One combination of the onnxruntime session options that decide memory. */
export interface SessionVariant {
  name: string;
  enableCpuMemArena: boolean;
  enableMemPattern: boolean;
  /** Optimisation level of the detector and landmark sessions (default `all`; the embedder stays on `basic`). */
  graphOptimizationLevel?: 'basic' | 'extended' | 'all';
  /** onnxruntime session configuration entries (`extra`), e.g. `{ session: { disable_prepacking: '1' } }`. */
  extra?: Record<string, unknown>;
}

export interface BaseModels {
  detector: string;
  landmarks: string;
  embedder: string;
}

/**
 * The pipeline's three models in bare onnxruntime sessions with one variant of the memory options and
 * otherwise the pipeline's settings (one intra-op thread, sequential, embedder on `basic`), run on the
 * tensors the pipeline builds for a frame. Times nothing but `session.run`.
 */
export class VariantSessions {
  private constructor(
    readonly variant: SessionVariant,
    private readonly detector: InferenceSession,
    private readonly landmarks: InferenceSession,
    private readonly embedder: InferenceSession,
  ) {}

  static async create(variant: SessionVariant, models: BaseModels): Promise<VariantSessions> {
    const base: InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      enableCpuMemArena: variant.enableCpuMemArena,
      enableMemPattern: variant.enableMemPattern,
      ...(variant.extra ? { extra: variant.extra } : {}),
    };
    const level = variant.graphOptimizationLevel ?? 'all';
    return new VariantSessions(
      variant,
      await InferenceSession.create(models.detector, { ...base, graphOptimizationLevel: level }),
      await InferenceSession.create(models.landmarks, { ...base, graphOptimizationLevel: level }),
      await InferenceSession.create(models.embedder, { ...base, graphOptimizationLevel: 'basic' }),
    );
  }

  /** Runs the detector, then landmarks and embedder on every face found; returns the `session.run` milliseconds. */
  async runFrame(image: RgbImage): Promise<{ ms: number; faces: number }> {
    let ms = 0;
    const timed = async (session: InferenceSession, input: Tensor) => {
      const t = performance.now();
      const out = await session.run({ [session.inputNames[0]]: input });
      ms += performance.now() - t;
      return out;
    };
    const frame = prepareDetectorFrame(image, 'rgb');
    const det = await timed(this.detector, new Tensor('float32', frame.tensorData, [1, 3, DETECTOR_INPUT_HEIGHT, DETECTOR_INPUT_WIDTH]));
    const faces = decodeDetections(det.scores.data as Float32Array, det.boxes.data as Float32Array, image.width, image.height, {
      threshold: 0.8,
      nmsIou: 0.4,
      maxFaces: 32,
      minFaceSize: 0,
    });
    for (const face of faces) {
      const crop = landmarkCrop(face.box, image.width, image.height);
      const lm = await timed(this.landmarks, new Tensor('float32', landmarkTensorData(image, crop), [1, 1, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE]));
      const raw = lm[this.landmarks.outputNames[0]].data as Float32Array;
      const points = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i += 2) {
        points[i] = raw[i] * crop.width + crop.x;
        points[i + 1] = raw[i + 1] * crop.height + crop.y;
      }
      const inverse = invertAffine(alignmentTransform(fivePoints(points)));
      const aligned = warpAffineToPlanar(image, inverse, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE, { order: 'bgr', mean: 127, scale: 1 / 128 });
      await timed(this.embedder, new Tensor('float32', aligned, [1, 3, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE]));
    }
    return { ms, faces: faces.length };
  }

  async release(): Promise<void> {
    await Promise.all([this.detector.release(), this.landmarks.release(), this.embedder.release()]);
  }
}
