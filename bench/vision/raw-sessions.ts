import { performance } from 'node:perf_hooks';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import {
  alignmentTransform,
  createSession,
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

/** The exact tensors the pipeline feeds its models for one frame. */
export interface PreparedFrame {
  detector: Float32Array;
  landmarks: Float32Array[];
  aligned: Float32Array[];
}

/**
 * The same three models in bare onnxruntime sessions (the pipeline's createSession and options), to time
 * nothing but `session.run` on the pipeline's own inputs: the floor the pipeline is compared to.
 */
export class RawSessions {
  private constructor(
    private readonly detector: InferenceSession,
    private readonly landmarks: InferenceSession,
    private readonly embedder: InferenceSession,
  ) {}

  static async create(models: { detector: string; landmarks: string; embedder: string }, threads: number): Promise<RawSessions> {
    // made by the pipeline's own createSession, so every session option is the pipeline's, its memory
    // defaults included (with onnxruntime's memory pattern on here and off in the pipeline, the three
    // runs of a frame took 22.7 vs 24.0 ms median at load 10, and the gap counted as pipeline overhead)
    const settings = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' as const };
    return new RawSessions(
      await createSession('detector', models.detector, settings),
      await createSession('landmarks', models.landmarks, settings),
      await createSession('embedder', models.embedder, settings, 'basic'),
    );
  }

  /** Builds the frame's tensors (untimed), running the models once to know boxes and landmarks. */
  async prepare(image: RgbImage, detection: { threshold: number; nmsIou: number }): Promise<PreparedFrame> {
    const frame = prepareDetectorFrame(image, 'rgb');
    const out = await this.detector.run({ input: this.detectorTensor(frame.tensorData) });
    const faces = decodeDetections(out.scores.data as Float32Array, out.boxes.data as Float32Array, image.width, image.height, {
      ...detection,
      maxFaces: 32,
      minFaceSize: 0,
    });
    const prepared: PreparedFrame = { detector: frame.tensorData, landmarks: [], aligned: [] };
    for (const face of faces) {
      const crop = landmarkCrop(face.box, image.width, image.height);
      const lmInput = landmarkTensorData(image, crop);
      const raw = (await this.landmarks.run({ input: this.landmarkTensor(lmInput) })).output.data as Float32Array;
      const points = new Float32Array(raw.length);
      for (let i = 0; i < raw.length; i += 2) {
        points[i] = raw[i] * crop.width + crop.x;
        points[i + 1] = raw[i + 1] * crop.height + crop.y;
      }
      const inverse = invertAffine(alignmentTransform(fivePoints(points)));
      prepared.landmarks.push(lmInput);
      prepared.aligned.push(
        warpAffineToPlanar(image, inverse, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE, { order: 'bgr', mean: 127, scale: 1 / 128 }),
      );
    }
    return prepared;
  }

  /** Sum of the `session.run` times for one frame: detector, then landmarks and embedder per face. */
  async run(frame: PreparedFrame): Promise<number> {
    let total = 0;
    const timed = async (session: InferenceSession, feeds: Record<string, Tensor>) => {
      const t = performance.now();
      await session.run(feeds);
      total += performance.now() - t;
    };
    await timed(this.detector, { input: this.detectorTensor(frame.detector) });
    for (let i = 0; i < frame.aligned.length; i++) {
      await timed(this.landmarks, { input: this.landmarkTensor(frame.landmarks[i]) });
      await timed(this.embedder, { input: new Tensor('float32', frame.aligned[i], [1, 3, EMBEDDER_INPUT_SIZE, EMBEDDER_INPUT_SIZE]) });
    }
    return total;
  }

  async release(): Promise<void> {
    await Promise.all([this.detector.release(), this.landmarks.release(), this.embedder.release()]);
  }

  private detectorTensor(data: Float32Array): Tensor {
    return new Tensor('float32', data, [1, 3, DETECTOR_INPUT_HEIGHT, DETECTOR_INPUT_WIDTH]);
  }

  private landmarkTensor(data: Float32Array): Tensor {
    return new Tensor('float32', data, [1, 1, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE]);
  }
}
