/**
 * A V8 CPU profile of the bench's main thread (the cloud's event loop, and the in-process S3 server) during
 * one extra run, through node:inspector: where the loop's time goes while the health route waits. The
 * training threads are other isolates and do not show here.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { originClassifier, sampledTime, type CpuProfile } from '../common/cpu-profile';

const TOP_FUNCTIONS = 12;

export interface MainThreadProfile {
  sampledMs: number;
  busyPercent: number;
  byOrigin: Array<{ origin: string; ms: number; percent: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; percent: number }>;
}

const originOf = originClassifier({
  packages: [
    ['s3rver (the bench S3 server, in this process)', ['s3rver', 'koa', 'koa-', '@koa/', 'xmlbuilder', 'fast-xml-parser', 'busboy', 'statuses']],
    ['minio client (S3 calls)', ['minio', 'xml2js', 'sax', 'fast-xml-parser', 'block-stream2', 'through2']],
    ['BullMQ / ioredis', ['bullmq', 'ioredis', 'cron-parser', 'msgpackr']],
    ['Nest / Express (HTTP)', ['@nestjs/', 'express', 'router', 'body-parser', 'path-to-regexp', 'finalhandler', 'send', 'raw-body', 'iconv-lite', 'qs']],
    ['zod validation', ['zod']],
    ['aedes broker (embedded)', ['aedes', 'aedes-persistence', 'aedes-packet', 'mqemitter', 'mqtt-packet', 'qlobber']],
    ['drizzle / pg', ['drizzle-orm', 'pg', 'pg-']],
  ],
  // any build folder (dist/, or a dist-NAME/ of one's own): node_modules frames were classified above
  code: [
    ['cloud code (apps/cloud)', '/apps/cloud/'],
    ['libs (training, vision, contracts)', '/libs/'],
  ],
  bench: 'bench (poller, profiler)',
  node: 'Node.js internals (net, streams, timers, JSON, crypto)',
});

export async function startMainThreadProfile(): Promise<{ stop(): Promise<MainThreadProfile> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      // the raw profile, for a look at single stalls (chrome://inspect, or bench/retrain/stalls.ts)
      if (process.env.BENCH_RETRAIN_PROFILE_FILE) writeFileSync(process.env.BENCH_RETRAIN_PROFILE_FILE, JSON.stringify(profile));
      const sampled = sampledTime(profile, originOf);
      const percent = (ms: number) => Math.round((1000 * ms) / sampled.totalMs) / 10;
      return {
        sampledMs: Math.round(sampled.totalMs),
        busyPercent: percent(sampled.totalMs - sampled.idleMs),
        byOrigin: sampled.byOrigin.map(({ origin, ms }) => ({ origin, ms: Math.round(ms), percent: percent(ms) })),
        topFunctions: sampled.functions.slice(0, TOP_FUNCTIONS).map((f) => ({ ...f, ms: Math.round(f.ms), percent: percent(f.ms) })),
      };
    },
  };
}
