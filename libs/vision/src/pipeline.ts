import { performance } from 'node:perf_hooks';
import type { InferenceSession } from 'onnxruntime-node';
import { FaceDetector, type Detection, type DetectorFrame } from './detector';
import { FaceEmbedder, REFERENCE_POINTS_112 } from './embedder';
import { VisionError } from './errors';
import { IdentityHead } from './head';
import { decodeImage, type ImageInput, type RgbImage } from './image';
import { fivePoints, LandmarkModel } from './landmarks';
import { matchIdentity, NO_MATCH, type IdentityMatch } from './matching';
import { parseVisionOptions, type ModelSource, type VisionOptions, type VisionOptionsInput } from './options';
import { createSession, type SessionSettings } from './session';
import type { Point } from './similarity';
import { frameStats, type FrameStats } from './stats';

/** Face box in original image pixels. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A detected, aligned and embedded face. */
export interface EmbeddedFace {
  box: FaceBox;
  /** Detector score. */
  score: number;
  /** Five alignment points (eyes, nose tip, mouth corners) in image pixels. */
  landmarks: Point[];
  embedding: Float32Array;
}

export interface RecognisedFace {
  box: FaceBox;
  score: number;
  landmarks: Point[];
  /** Matched identity, or null for unknown (below the threshold or margin, or no head). */
  identity: string | null;
  /** Best-scoring identity even when not accepted. */
  candidate: string | null;
  /** Top-1 cosine score, null without a head. */
  identityScore: number | null;
  /** Top-1 minus top-2 score (≥ 0; against 0 with a one-identity head), null without a head. */
  margin: number | null;
  /** Present when `includeEmbeddings` is set. */
  embedding?: Float32Array;
}

/** Milliseconds spent per stage of one frame (summed over its faces). */
export interface StageTimings {
  decodeMs: number;
  detectMs: number;
  /** Landmarks, similarity fit and warp. */
  alignMs: number;
  embedMs: number;
  headMs: number;
  totalMs: number;
}

export interface FrameResult {
  faces: RecognisedFace[];
  stats: FrameStats;
  timings: StageTimings;
}

interface HeadSlot {
  head: IdentityHead;
  users: number;
  retired: boolean;
}

/**
 * The detector, landmark and embedder sessions, shared by every pipeline made from one another with
 * `withHead` (a version that changes only the head or the thresholds). Each pipeline holds one reference;
 * the sessions are released with the last one.
 */
class Backbone {
  private references = 1;
  /** Buffer pools of the detector and embedder, shared by every pipeline on these sessions (see `withHead`). */
  readonly detectorFrames: DetectorFrame[] = [];
  readonly embedderInputs: Float32Array[] = [];

  constructor(
    readonly detector: InferenceSession,
    readonly landmarks: InferenceSession,
    readonly embedder: InferenceSession,
  ) {}

  get released(): boolean {
    return this.references === 0;
  }

  retain(): this {
    if (this.references === 0) throw new VisionError('PIPELINE_RELEASED', 'the shared sessions have been released');
    this.references++;
    return this;
  }

  async release(): Promise<void> {
    if (this.references === 0 || --this.references > 0) return;
    await Promise.all([this.detector.release(), this.landmarks.release(), this.embedder.release()]);
  }
}

/**
 * What a pipeline made with `withHead` sets: its head and thresholds (a threshold not given takes its
 * default, as with `FacePipeline.load`). The sessions, threads, channel orders, NMS and face limits are kept.
 */
export interface HeadChange {
  /** The new identity head (ONNX bytes or path); absent: no head, every face is unknown. */
  head?: ModelSource;
  /** Labels of the new head's output columns. Required with `head`. */
  labels?: string[];
  detectionThreshold?: number;
  matchThreshold?: number;
  minMargin?: number;
}

function isRgbImage(input: ImageInput | RgbImage): input is RgbImage {
  return typeof input === 'object' && !(input instanceof Uint8Array) && 'data' in input;
}

function toFaceBox(d: Detection): FaceBox {
  return { x: d.box.x1, y: d.box.y1, width: d.box.x2 - d.box.x1, height: d.box.y2 - d.box.y1 };
}

/**
 * The face pipeline: decode → detect (UltraFace + NMS) → 68 landmarks → 5-point similarity
 * alignment → 512-d embedding → identity head → identity or unknown, with per-stage timings and
 * frame statistics. Sessions are created once; the head can be swapped while frames are in flight.
 */
export class FacePipeline {
  private headSlot: HeadSlot | null = null;
  private inFlight = 0;
  private released = false;
  private idle: (() => void) | null = null;

  private readonly detector: FaceDetector;
  private readonly landmarkModel: LandmarkModel;
  private readonly embedder: FaceEmbedder;

  private constructor(
    readonly options: VisionOptions,
    private readonly backbone: Backbone,
  ) {
    this.detector = new FaceDetector(
      backbone.detector,
      {
        threshold: options.detectionThreshold,
        nmsIou: options.nmsIou,
        maxFaces: options.maxFaces,
        minFaceSize: options.minFaceSize,
        channelOrder: options.detectorChannelOrder,
      },
      backbone.detectorFrames,
    );
    this.landmarkModel = new LandmarkModel(backbone.landmarks);
    this.embedder = new FaceEmbedder(backbone.embedder, options.embedderChannelOrder, backbone.embedderInputs);
  }

  /** Validates the options and creates every session (from file paths or model bytes). */
  static async load(input: VisionOptionsInput): Promise<FacePipeline> {
    const options = parseVisionOptions(input);
    const settings: SessionSettings = {
      intraOpNumThreads: options.intraOpNumThreads,
      interOpNumThreads: options.interOpNumThreads,
      executionMode: options.executionMode,
    };
    const sessions = await Promise.allSettled([
      createSession('detector', options.models.detector, settings),
      createSession('landmarks', options.models.landmarks, settings),
      // 'all' fuses the embedder into a layout that runs 3–6× slower on CPU; 'basic' is as exact.
      createSession('embedder', options.models.embedder, settings, 'basic'),
    ]);
    const failed = sessions.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(sessions.map((s) => (s.status === 'fulfilled' ? s.value.release() : undefined)));
      throw (failed as PromiseRejectedResult).reason;
    }
    const [det, lmk, emb] = sessions.map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof createSession>>>).value);
    let pipeline: FacePipeline | undefined;
    try {
      pipeline = new FacePipeline(options, new Backbone(det, lmk, emb));
      if (options.models.head !== undefined) await pipeline.setHead(options.models.head, options.labels ?? []);
      await pipeline.warmUp();
    } catch (err) {
      if (pipeline) await pipeline.release();
      else await Promise.all([det.release(), lmk.release(), emb.release()]);
      throw err;
    }
    return pipeline;
  }

  /**
   * A new pipeline that shares this one's detector, landmark and embedder sessions (they are neither
   * loaded again nor warmed up) with its own head and thresholds: only the head is loaded and run once.
   * For a version whose other files are byte for byte the running ones. Each pipeline is released on its
   * own; the shared sessions go with the last of them.
   */
  async withHead(change: HeadChange): Promise<FacePipeline> {
    this.assertOpen();
    const { head, labels, ...thresholds } = change;
    // The thresholds come from the change or the defaults, never from this pipeline: a version says its own.
    const { models, labels: _labels, detectionThreshold: _d, matchThreshold: _m, minMargin: _n, ...kept } = this.options;
    const options = parseVisionOptions({
      ...kept,
      ...thresholds,
      models: { detector: models.detector, landmarks: models.landmarks, embedder: models.embedder, ...(head === undefined ? {} : { head }) },
      ...(head === undefined ? {} : { labels }),
    });
    const pipeline = new FacePipeline(options, this.backbone.retain());
    try {
      if (options.models.head !== undefined) await pipeline.setHead(options.models.head, options.labels ?? []);
    } catch (err) {
      await pipeline.release();
      throw err;
    }
    return pipeline;
  }

  /** True when `other` runs on the same detector, landmark and embedder sessions (made with `withHead`). */
  sharesSessionsWith(other: FacePipeline): boolean {
    return this.backbone === other.backbone;
  }

  /** Labels of the active head (empty without one). */
  get labels(): readonly string[] {
    return this.headSlot?.head.labels ?? [];
  }

  /**
   * Replaces the identity head (ONNX bytes or path + labels). The new head is loaded and checked
   * before the switch; frames already running finish on the old head, which is released after them.
   * `null` removes the head: every face becomes unknown.
   */
  async setHead(head: ModelSource | null, labels: readonly string[] = []): Promise<void> {
    this.assertOpen();
    const next = head === null ? null : await IdentityHead.load(head, labels, this.sessionSettings());
    const previous = this.headSlot;
    this.headSlot = next ? { head: next, users: 0, retired: false } : null;
    if (previous) {
      previous.retired = true;
      if (previous.users === 0) await previous.head.release();
    }
  }

  /** Detects, aligns and embeds every face; no identity decision. */
  async embedFaces(input: ImageInput | RgbImage): Promise<EmbeddedFace[]> {
    return this.track(async () => {
      const image = isRgbImage(input) ? input : await decodeImage(input);
      const detections = await this.detector.detect(image);
      const faces: EmbeddedFace[] = [];
      for (const d of detections) {
        const landmarks = fivePoints(await this.landmarkModel.locate(image, d.box));
        const embedding = await this.embedder.embed(image, landmarks);
        faces.push({ box: toFaceBox(d), score: d.score, landmarks, embedding });
      }
      return faces;
    });
  }

  /** The whole pipeline on one frame. An undecodable image rejects with `InvalidImageError`. */
  async process(input: ImageInput | RgbImage): Promise<FrameResult> {
    return this.track(async () => {
      const slot = this.headSlot;
      if (slot) slot.users++;
      try {
        return await this.run(input, slot);
      } finally {
        if (slot) {
          slot.users--;
          if (slot.retired && slot.users === 0) await slot.head.release();
        }
      }
    });
  }

  /** Releases every session after frames in flight have finished. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    const slot = this.headSlot;
    this.headSlot = null;
    await Promise.all([this.backbone.release(), slot ? slot.head.release() : undefined]);
  }

  /** One run of each model on a grey frame, so the first real frame is not slowed by first-run allocation. */
  private async warmUp(): Promise<void> {
    const grey: RgbImage = { data: new Uint8Array(320 * 240 * 3).fill(128), width: 320, height: 240 };
    await this.detector.detect(grey);
    await this.landmarkModel.locate(grey, { x1: 100, y1: 60, x2: 220, y2: 180 });
    await this.embedder.embed(grey, REFERENCE_POINTS_112);
  }

  private async run(input: ImageInput | RgbImage, slot: HeadSlot | null): Promise<FrameResult> {
    const t0 = performance.now();
    const image = isRgbImage(input) ? input : await decodeImage(input);
    const t1 = performance.now();
    const frame = this.detector.prepare(image);
    const stats = frameStats(frame.luma, frame.width, frame.height, image);
    const detections = await this.detector.detect(image, frame);
    const t2 = performance.now();

    let alignMs = 0;
    let embedMs = 0;
    const embeddings: Float32Array[] = [];
    const landmarks: Point[][] = [];
    for (const d of detections) {
      const a = performance.now();
      const points = fivePoints(await this.landmarkModel.locate(image, d.box));
      const tensor = this.embedder.alignedTensorData(image, points);
      const b = performance.now();
      embeddings.push(await this.embedder.embedTensorData(tensor));
      const c = performance.now();
      landmarks.push(points);
      alignMs += b - a;
      embedMs += c - b;
    }

    const h0 = performance.now();
    const scores = slot && embeddings.length > 0 ? await slot.head.score(embeddings) : null;
    const labels = slot?.head.labels ?? [];
    const policy = { matchThreshold: this.options.matchThreshold, minMargin: this.options.minMargin };
    const faces = detections.map((d, i): RecognisedFace => {
      const match: IdentityMatch = scores ? matchIdentity(scores[i], labels, policy) : NO_MATCH;
      const face: RecognisedFace = {
        box: toFaceBox(d),
        score: d.score,
        landmarks: landmarks[i],
        identity: match.identity,
        candidate: match.candidate,
        identityScore: match.score,
        margin: match.margin,
      };
      if (this.options.includeEmbeddings) face.embedding = embeddings[i];
      return face;
    });
    const t3 = performance.now();
    return {
      faces,
      stats,
      timings: {
        decodeMs: t1 - t0,
        detectMs: t2 - t1,
        alignMs,
        embedMs,
        headMs: scores ? t3 - h0 : 0,
        totalMs: t3 - t0,
      },
    };
  }

  private async track<T>(work: () => Promise<T>): Promise<T> {
    this.assertOpen();
    this.inFlight++;
    try {
      return await work();
    } finally {
      this.inFlight--;
      if (this.inFlight === 0 && this.idle) {
        this.idle();
        this.idle = null;
      }
    }
  }

  private assertOpen(): void {
    if (this.released) throw new VisionError('PIPELINE_RELEASED', 'the pipeline has been released');
  }

  private sessionSettings(): SessionSettings {
    return {
      intraOpNumThreads: this.options.intraOpNumThreads,
      interOpNumThreads: this.options.interOpNumThreads,
      executionMode: this.options.executionMode,
    };
  }
}
