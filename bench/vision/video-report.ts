import { FacePipeline } from '@edgeloop/vision';
import path from 'node:path';
import type { EmbedderBatchResult } from './embedder-batch';
import { RawSessions } from './raw-sessions';
import { TARGET_VIDEO_VS_RAW, type VideoSourceResult } from './video-source';

/** The base models, loaded as the edge pipeline and as bare sessions with the same options (both vision benches). */
export async function loadBaseModels(root: string, threads: number) {
  const base = path.join(root, 'models', 'base');
  const models = {
    detector: path.join(base, 'fr_detect.onnx'),
    landmarks: path.join(base, 'fr_landmark.onnx'),
    embedder: path.join(base, 'fr_feature.onnx'),
  };
  const pipeline = await FacePipeline.load({ models, intraOpNumThreads: threads });
  const raw = await RawSessions.create(models, threads);
  return { models, pipeline, raw };
}

/** The video-source part of a results file's targets. */
export function videoTargets(videoSource: VideoSourceResult[]) {
  return {
    videoSourceVsRawMax: TARGET_VIDEO_VS_RAW,
    videoSourceVsRaw: videoSource.map((v) => v.pipelineVsRaw),
    videoSourceMet: videoSource.every((v) => v.pipelineVsRaw <= TARGET_VIDEO_VS_RAW),
  };
}

/** Prints the video-source table with its target lines and the embedder batch table. */
export function printVideoAndBatch(out: (line?: string) => void, videoSource: VideoSourceResult[], embedderBatch: EmbedderBatchResult): void {
  out(
    '| video through the ffmpeg source (rgb24, no JPEG) | frame size | frames | faces | pipeline median ms | raw session.run median ms | vs raw (medians) | vs raw (means) |',
  );
  out('| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |');
  for (const v of videoSource) {
    out(
      `| ${v.video} | ${v.frameSize} (detector copy ${v.detectorImageSize}) | ${v.frames} | ${v.facesPerFrame.join(',')} | ${v.pipeline.medianMs} | ${v.rawSessionRun.medianMs} | ${v.pipelineVsRaw}× | ${v.meanPipelineVsRaw}× |`,
    );
  }
  for (const v of videoSource) {
    out(
      `target frame time from a video source (${v.video}) ≤ ${TARGET_VIDEO_VS_RAW}× raw session.run: ${v.pipelineVsRaw}× — ${v.pipelineVsRaw <= TARGET_VIDEO_VS_RAW ? 'met' : 'NOT met'}`,
    );
  }
  out();
  out(
    `embedder batch: shipped input ${embedderBatch.shippedInput}, batch pinned by ${embedderBatch.batchPinnedBy}; max |Δ| batched vs one by one ${embedderBatch.maxAbsDifference.toExponential(2)}`,
  );
  out('| faces | one by one median ms | one batch median ms | batch / one by one |');
  out('| ---: | ---: | ---: | ---: |');
  for (const r of embedderBatch.rows) out(`| ${r.faces} | ${r.oneByOneMedianMs} | ${r.batchedMedianMs} | ${r.batchedVsOneByOne} |`);
}
