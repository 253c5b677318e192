import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { RgbImage } from './image';
import { nonMaxSuppression, type Corners } from './nms';
import { bilinearColumns, samplingSource } from './resample';
import { expectIo } from './session';
import type { ChannelOrder } from './warp';

export const DETECTOR_INPUT_WIDTH = 320;
export const DETECTOR_INPUT_HEIGHT = 240;
/** Boxes kept before NMS, best scores first (bounds NMS work on a crowded frame). */
const PRE_NMS_TOP_K = 750;

export interface DetectorSettings {
  threshold: number;
  nmsIou: number;
  maxFaces: number;
  minFaceSize: number;
  channelOrder: ChannelOrder;
}

export interface Detection {
  /** Box in original image pixels, clipped to the image. */
  box: Corners;
  score: number;
}

/** The frame as the detector's input, plus its luma for frame statistics. */
export interface DetectorFrame {
  /** (v − 127) / 128, channel-first, 3×240×320. */
  tensorData: Float32Array;
  /** Luma (Rec. 601) of the 320×240 frame, 0..255. */
  luma: Float32Array;
  width: number;
  height: number;
}

/**
 * Resizes the whole frame (fill, no letterbox) to 320×240 and writes the normalised channel-first
 * tensor and the luma plane in the same bilinear pass (no intermediate image). A frame that carries its
 * `detectorImage` (resized by its source), or is 320×240 itself, is only converted: no resize. `reuse`
 * recycles the buffers of an earlier frame (fewer large allocations → fewer full GCs on a busy stream).
 */
export function prepareDetectorFrame(image: RgbImage, order: ChannelOrder, reuse?: DetectorFrame): DetectorFrame {
  const width = DETECTOR_INPUT_WIDTH;
  const height = DETECTOR_INPUT_HEIGHT;
  const sized = detectorSized(image);
  if (sized) return convertDetectorFrame(sized, order, reuse);
  const { source, rect } = samplingSource(image, { x: 0, y: 0, width: image.width, height: image.height }, width, height);
  const src = source.data;
  const stride = source.width * 3;
  const lastX = source.width - 1;
  const lastY = source.height - 1;
  const sy = rect.height / height;
  const { x0, x1, ax } = bilinearColumns(rect, width, lastX);
  const plane = width * height;
  const tensorData = reuse?.tensorData ?? new Float32Array(3 * plane);
  const luma = reuse?.luma ?? new Float32Array(plane);
  const oR = order === 'rgb' ? 0 : 2 * plane;
  const oG = plane;
  const oB = order === 'rgb' ? 2 * plane : 0;
  for (let j = 0, o = 0; j < height; j++) {
    let y = rect.y + (j + 0.5) * sy - 0.5;
    y = y < 0 ? 0 : y > lastY ? lastY : y;
    const fy = Math.floor(y);
    const ay = y - fy;
    const r0 = fy * stride;
    const r1 = Math.min(fy + 1, lastY) * stride;
    for (let i = 0; i < width; i++, o++) {
      const a = ax[i];
      const w00 = (1 - a) * (1 - ay);
      const w01 = a * (1 - ay);
      const w10 = (1 - a) * ay;
      const w11 = a * ay;
      const p00 = r0 + x0[i];
      const p01 = r0 + x1[i];
      const p10 = r1 + x0[i];
      const p11 = r1 + x1[i];
      const r = w00 * src[p00] + w01 * src[p01] + w10 * src[p10] + w11 * src[p11];
      const g = w00 * src[p00 + 1] + w01 * src[p01 + 1] + w10 * src[p10 + 1] + w11 * src[p11 + 1];
      const b = w00 * src[p00 + 2] + w01 * src[p01 + 2] + w10 * src[p10 + 2] + w11 * src[p11 + 2];
      tensorData[oR + o] = (r - 127) / 128;
      tensorData[oG + o] = (g - 127) / 128;
      tensorData[oB + o] = (b - 127) / 128;
      luma[o] = 0.299 * r + 0.587 * g + 0.114 * b;
    }
  }
  return { tensorData, luma, width, height };
}

function isDetectorSize(image: RgbImage): boolean {
  return image.width === DETECTOR_INPUT_WIDTH && image.height === DETECTOR_INPUT_HEIGHT && image.data.length === DETECTOR_INPUT_WIDTH * DETECTOR_INPUT_HEIGHT * 3;
}

/**
 * The 320×240 pixels to convert as they are: the frame's `detectorImage`, or the frame itself at that size (a
 * bilinear resize to its own size is the identity: every tap weight is 0 or 1), or undefined: resize.
 */
function detectorSized(image: RgbImage): RgbImage | undefined {
  if (image.detectorImage && isDetectorSize(image.detectorImage)) return image.detectorImage;
  return isDetectorSize(image) ? image : undefined;
}

/** (v − 127) / 128 for each byte value. */
const NORMALISED = Float32Array.from({ length: 256 }, (_, v) => (v - 127) / 128);
/** Each channel's term of the luma for each byte value (Rec. 601), summed in the order the resize sums them. */
const LUMA_R = Float64Array.from({ length: 256 }, (_, v) => 0.299 * v);
const LUMA_G = Float64Array.from({ length: 256 }, (_, v) => 0.587 * v);
const LUMA_B = Float64Array.from({ length: 256 }, (_, v) => 0.114 * v);

/**
 * The detector tensor and luma of a frame that is already 320×240: one pass of table look-ups (the same
 * values as the arithmetic: the tables hold exactly what it computes), no sampling.
 */
function convertDetectorFrame(sized: RgbImage, order: ChannelOrder, reuse?: DetectorFrame): DetectorFrame {
  const width = DETECTOR_INPUT_WIDTH;
  const height = DETECTOR_INPUT_HEIGHT;
  const plane = width * height;
  const src = sized.data;
  const tensorData = reuse?.tensorData ?? new Float32Array(3 * plane);
  const luma = reuse?.luma ?? new Float32Array(plane);
  const oR = order === 'rgb' ? 0 : 2 * plane;
  const oG = plane;
  const oB = order === 'rgb' ? 2 * plane : 0;
  for (let o = 0, p = 0; o < plane; o++, p += 3) {
    const r = src[p];
    const g = src[p + 1];
    const b = src[p + 2];
    tensorData[oR + o] = NORMALISED[r];
    tensorData[oG + o] = NORMALISED[g];
    tensorData[oB + o] = NORMALISED[b];
    luma[o] = LUMA_R[r] + LUMA_G[g] + LUMA_B[b];
  }
  return { tensorData, luma, width, height };
}

/**
 * Decodes UltraFace outputs: `scores` [1,A,2] (face = column 1) and `boxes` [1,A,4] already decoded
 * as normalised x1,y1,x2,y2. Thresholds, scales to image pixels, clips, then greedy NMS.
 */
export function decodeDetections(
  scores: Float32Array,
  boxes: Float32Array,
  imageWidth: number,
  imageHeight: number,
  settings: Omit<DetectorSettings, 'channelOrder'>,
): Detection[] {
  const anchors = scores.length / 2;
  let candidates: { box: Corners; score: number }[] = [];
  for (let i = 0; i < anchors; i++) {
    const score = scores[i * 2 + 1];
    if (score < settings.threshold) continue;
    const b = i * 4;
    const box = {
      x1: clamp(boxes[b] * imageWidth, 0, imageWidth),
      y1: clamp(boxes[b + 1] * imageHeight, 0, imageHeight),
      x2: clamp(boxes[b + 2] * imageWidth, 0, imageWidth),
      y2: clamp(boxes[b + 3] * imageHeight, 0, imageHeight),
    };
    candidates.push({ box, score });
  }
  if (candidates.length > PRE_NMS_TOP_K) {
    candidates = candidates.sort((a, b) => b.score - a.score).slice(0, PRE_NMS_TOP_K);
  }
  const kept = nonMaxSuppression(
    candidates.map((c) => c.box),
    candidates.map((c) => c.score),
    settings.nmsIou,
  );
  const faces: Detection[] = [];
  for (const k of kept) {
    const { box, score } = candidates[k];
    if (Math.min(box.x2 - box.x1, box.y2 - box.y1) < settings.minFaceSize) continue;
    faces.push({ box, score });
    if (faces.length >= settings.maxFaces) break;
  }
  return faces;
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Spare frame buffers kept for reuse: enough for a few frames in flight at once. */
const SPARE_FRAMES = 4;

/** UltraFace RFB-320 face detector. */
export class FaceDetector {
  /**
   * @param spare pool of frame buffers; pass the same array to detectors on one session (pipelines that
   *   differ only in their head) so a switch allocates no new 1.2 MB of buffers — a new pool per detector
   *   left the old one to V8's next full collection, ≈ 1.2 MB more RSS per switch until then.
   */
  constructor(
    readonly session: InferenceSession,
    private readonly settings: DetectorSettings,
    private readonly spare: DetectorFrame[] = [],
  ) {
    expectIo('detector', session, ['input'], ['scores', 'boxes']);
  }

  /** The frame's detector input; its buffers go back to a pool when `detect` finishes with it. */
  prepare(image: RgbImage): DetectorFrame {
    return prepareDetectorFrame(image, this.settings.channelOrder, this.spare.pop());
  }

  async detect(image: RgbImage, frame: DetectorFrame = this.prepare(image)): Promise<Detection[]> {
    const input = new Tensor('float32', frame.tensorData, [
      1,
      3,
      DETECTOR_INPUT_HEIGHT,
      DETECTOR_INPUT_WIDTH,
    ]);
    const out = await this.session.run({ input });
    try {
      return decodeDetections(
        out.scores.data as Float32Array,
        out.boxes.data as Float32Array,
        image.width,
        image.height,
        this.settings,
      );
    } finally {
      input.dispose();
      out.scores.dispose();
      out.boxes.dispose();
      if (this.spare.length < SPARE_FRAMES) this.spare.push(frame);
    }
  }
}
