// first: an unsupported Node.js stops with one line before node:sqlite is loaded
import './config/assert-node';
// second: start again with the worker's memory defaults when one is missing, before anything is loaded
import './runtime/apply-process-defaults';
import sharp from 'sharp';
import { ConfigError, EdgeConfig } from './config/edge.config';
import { EnrolmentRefusedError, withEnrolment } from './enrolment/enrolment';
import { Logger } from './logger';
import { EdgeWorker } from './worker';

/** Edge worker entry point: configuration from the environment, validated before anything starts. */
async function main(): Promise<void> {
  const config = EdgeConfig.fromEnv(await withEnrolment(process.env));
  // One frame at a time: libvips' operation cache and thread pool only cost memory here.
  sharp.cache(false);
  sharp.concurrency(1);
  const worker = new EdgeWorker(config);
  const logger = new Logger('Edge');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    void worker.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await worker.start();
  const stats = await worker.run();
  logger.info(
    `done: ${stats.frames} frames, ${stats.faces} faces, ${stats.recognised} recognised, ${stats.skippedFrames} skipped, ${stats.failedFrames} failed`,
  );
  await worker.stop();
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof EnrolmentRefusedError ? err.message : ((err as Error)?.stack ?? String(err));
  process.stderr.write(`edgeloop edge: ${message}\n`);
  process.exit(1);
});
