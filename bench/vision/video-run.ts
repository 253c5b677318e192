/**
 * The video part of the vision benchmark on its own (not a test): frames from video files through the edge's
 * ffmpeg source (rgb24, no JPEG) against the raw `session.run` sum of the same frames, and the embedder in one
 * batch vs one face at a time (1–5 faces). The same measurements as `npm run bench:vision` makes after its
 * main table, without the peer and the JPEG iterations, so they can be repeated in a few minutes.
 * Prints the tables and writes bench/results/vision-video.json.
 *
 *   npm run build:bench && node dist/bench/vision/video-run.js    (BENCH_VIDEO_FRAMES=40, BENCH_BATCH_ROUNDS=16)
 */
import { decodeImage } from '@edgeloop/vision';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';
import { measureEmbedderBatch } from './embedder-batch';
import { loadFrames } from './frames';
import { round } from './summary';
import { loadBaseModels, printVideoAndBatch, videoTargets } from './video-report';
import { measureVideoSource } from './video-source';

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const root = repoRoot();
  const loadBefore = os.loadavg();
  const threads = 1;
  const { models, pipeline, raw } = await loadBaseModels(root, threads);
  try {
    const videoSource = await measureVideoSource(root, pipeline, raw, Math.max(10, Number(process.env.BENCH_VIDEO_FRAMES ?? 40)));
    const crops: Float32Array[] = [];
    for (const frame of loadFrames(root).multiFace) {
      const prepared = await raw.prepare(await decodeImage(frame.jpeg), { threshold: pipeline.options.detectionThreshold, nmsIou: pipeline.options.nmsIou });
      crops.push(...prepared.aligned);
    }
    const embedderBatch = await measureEmbedderBatch(models.embedder, crops, Math.max(3, Number(process.env.BENCH_BATCH_ROUNDS ?? 16)), threads);
    const results = {
      schema: 'edgeloop.bench.vision-video/v1',
      createdAt: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? 'unknown',
        node: process.version,
        loadAverageBefore: loadBefore.map((v) => round(v, 2)),
        loadAverageAfter: os.loadavg().map((v) => round(v, 2)),
      },
      videoSource,
      embedderBatch,
      targets: videoTargets(videoSource),
    };
    const file = path.join(root, 'bench', 'results', 'vision-video.json');
    writeResultsFile(file, results);
    printVideoAndBatch(out, videoSource, embedderBatch);
    out(
      `load average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${os
        .loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
    );
    out(`wrote ${path.relative(root, file)}`);
  } finally {
    await raw.release();
    await pipeline.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench vision-video failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
