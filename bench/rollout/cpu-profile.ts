import { originClassifier, sampledTime, type CpuProfile } from '../common/cpu-profile';
import { round } from './report';

const TOP_FUNCTIONS = 15;

export interface CpuSummary {
  sampledMs: number;
  /** Share of the samples in which the cloud's main thread was not idle. */
  busyPercent: number;
  /** Self time by where the code comes from. */
  byOrigin: Array<{ origin: string; ms: number; percent: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; percent: number }>;
}

/** Which part of the cloud process a frame belongs to, for a rollout. */
const originOf = originClassifier({
  packages: [
    ['aedes broker (embedded)', ['aedes', 'aedes-persistence', 'aedes-packet', 'mqemitter', 'mqtt-packet', 'qlobber', 'bl', 'readable-stream']],
    ['mqtt.js (cloud client)', ['mqtt']],
    ['zod validation', ['zod']],
    ['Nest / Express (HTTP)', ['@nestjs/', 'express', 'router', 'body-parser', 'path-to-regexp', 'finalhandler', 'send', 'raw-body', 'iconv-lite', 'qs']],
    ['BullMQ / ioredis (rollout ticks)', ['bullmq', 'ioredis', 'cron-parser', 'msgpackr']],
  ],
  code: [
    ['cloud code (apps/cloud)', '/dist/apps/cloud/'],
    ['libs (contracts, …)', '/dist/libs/'],
  ],
  bench: 'bench probe (hook, profiler)',
  node: 'Node.js internals (net, streams, timers, JSON, crypto)',
});

/** Self time of every sample, grouped by origin (package or part of the repository) and by function; percent of all samples. */
export function summariseCpuProfile(profile: CpuProfile): CpuSummary {
  const sampled = sampledTime(profile, originOf);
  const percent = (ms: number) => round((100 * ms) / sampled.totalMs, 1);
  return {
    sampledMs: round(sampled.totalMs),
    busyPercent: percent(sampled.totalMs - sampled.idleMs),
    byOrigin: sampled.byOrigin.map(({ origin, ms }) => ({ origin, ms: round(ms), percent: percent(ms) })),
    topFunctions: sampled.functions.slice(0, TOP_FUNCTIONS).map((f) => ({ ...f, ms: round(f.ms), percent: percent(f.ms) })),
  };
}
