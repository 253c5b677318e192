import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { RgbImage } from './image';
import type { Corners } from './nms';
import { resampleGray, type Rect } from './resample';
import { expectIo } from './session';
import type { Point } from './similarity';

export const LANDMARK_INPUT_SIZE = 64;
export const LANDMARK_COUNT = 68;

/**
 * The landmark model's crop, as the reference package chooses it: a square of the detected box's
 * height centred on the box, clipped to the image.
 */
export function landmarkCrop(box: Corners, imageWidth: number, imageHeight: number): Rect {
  const side = box.y2 - box.y1;
  const cx = (box.x1 + box.x2) / 2;
  const cy = (box.y1 + box.y2) / 2;
  const x1 = Math.max(0, cx - side / 2);
  const y1 = Math.max(0, cy - side / 2);
  const x2 = Math.min(imageWidth - 1, cx + side / 2);
  const y2 = Math.min(imageHeight - 1, cy + side / 2);
  return { x: x1, y: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1) };
}

/** 64×64 grey crop scaled to [0, 1) (/256), as the model expects. */
export function landmarkTensorData(image: RgbImage, crop: Rect): Float32Array {
  const grey = resampleGray(image, crop, LANDMARK_INPUT_SIZE, LANDMARK_INPUT_SIZE, 4);
  for (let i = 0; i < grey.length; i++) grey[i] /= 256;
  return grey;
}

/**
 * The five alignment points from 68 landmarks (flat x,y pairs): eye centres (mean of 37,38,40,41
 * and 43,44,46,47), nose tip 30, mouth corners mean(48,60) and mean(54,64).
 */
export function fivePoints(landmarks: ArrayLike<number>): Point[] {
  const mean = (...idx: number[]): Point => {
    let x = 0;
    let y = 0;
    for (const i of idx) {
      x += landmarks[i * 2];
      y += landmarks[i * 2 + 1];
    }
    return [x / idx.length, y / idx.length];
  };
  return [mean(37, 38, 40, 41), mean(43, 44, 46, 47), mean(30), mean(48, 60), mean(54, 64)];
}

/** 68-point landmark model on a 64×64 grey crop. */
export class LandmarkModel {
  private readonly inputName: string;
  private readonly outputName: string;

  constructor(readonly session: InferenceSession) {
    expectIo('landmarks', session, ['input'], ['output']);
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
  }

  /** 68 landmarks as flat x,y pairs in image pixels. */
  async locate(image: RgbImage, box: Corners): Promise<Float32Array> {
    const crop = landmarkCrop(box, image.width, image.height);
    const input = new Tensor('float32', landmarkTensorData(image, crop), [
      1,
      1,
      LANDMARK_INPUT_SIZE,
      LANDMARK_INPUT_SIZE,
    ]);
    const out = await this.session.run({ [this.inputName]: input });
    const raw = out[this.outputName].data as Float32Array;
    if (raw.length !== LANDMARK_COUNT * 2) {
      throw new RangeError(`landmark model returned ${raw.length} values, expected ${LANDMARK_COUNT * 2}`);
    }
    const points = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i += 2) {
      points[i] = raw[i] * crop.width + crop.x;
      points[i + 1] = raw[i + 1] * crop.height + crop.y;
    }
    return points;
  }
}
