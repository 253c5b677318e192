import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { originClassifier, sampledTime, type CpuProfile } from '../common/cpu-profile';
import { askProbeHook } from '../common/probe-channel';
import type { TimedStat } from '../common/probe-timing';
import { busyStretches, type BusyStretch } from './busy-stretches';
import { stageTimes } from './profile-stages';
import type { ProbeAnswer } from './cloud-probe-hook';

const TOP_FUNCTIONS = 15;
/** Busy stretches of the main thread kept in the summary: the longest, from this many ms. */
const BUSY_STRETCH_MIN_MS = 30;
const BUSY_STRETCHES = 12;

/** Functions whose time including callees is worth knowing for ingest (name as V8 reports it). */
const INCLUSIVE_OF_INTEREST = [
  'dispatch',
  'decodeDeviceMessage',
  'addBatch',
  'ingestBatch',
  'parseJob',
  'mergeAggregates',
  'putRawBatches',
  'predictionBatchOfJob',
  'decodePredictionBatch',
  'parseWindowStats',
  'mergeWindowStats',
  'bucketed',
  'stringify',
  'parse',
  'handlePublish',
];

export interface ProbeSummary {
  windowMs: number;
  eventLoopUtilization: number;
  /** CPU seconds of the cloud process in the window, and as cores busy on average. */
  cpuSeconds: number;
  cores: number;
  /** Self time of the main thread by where the code comes from (share of the sampled time). */
  byOrigin: Array<{ origin: string; ms: number; percent: number }>;
  topSelf: Array<{ fn: string; where: string; ms: number; percent: number }>;
  /** Time in a function and everything it called (outermost frame of a name counted once). */
  inclusive: Array<{ fn: string; ms: number; percent: number }>;
  calls: Array<{ what: string; count: number; totalMs: number; meanMs: number; maxMs: number }>;
  statements: Array<{ what: string; count: number; totalMs: number; meanMs: number; maxMs: number }>;
  /** Main-thread time by ingest stage (decode, queue, SQL, aggregation, MQTT, GC, …: `profile-stages.ts`). */
  stages: Array<{ stage: string; ms: number; percent: number }>;
  /** The main thread's longest stretches without an idle sample (≥ 30 ms), and how many there were. */
  busyStretches: BusyStretch[];
  busyStretchesOver: { over30Ms: number; over50Ms: number; over100Ms: number };
}

/** Drives `cloud-probe-hook` in the cloud child over IPC and summarises what it recorded. */
export class CloudProbe {
  readonly preload = path.join(__dirname, 'cloud-probe-hook.js');
  private child: ChildProcess | undefined;
  private count = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  attach(child: ChildProcess): void {
    this.child = child;
  }

  async start(): Promise<void> {
    await askProbeHook<ProbeAnswer>(this.child, { type: 'probe-start' }, 'probe-started');
  }

  async stop(): Promise<ProbeSummary> {
    const file = path.join(this.dir, `cloud-${++this.count}.cpuprofile`);
    const answer = await askProbeHook<ProbeAnswer>(this.child, { type: 'probe-stop', file }, 'probe-stopped');
    return summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, answer);
  }
}

function summarise(profile: CpuProfile, answer: ProbeAnswer): ProbeSummary {
  const sampled = sampledTime(profile, originOf, INCLUSIVE_OF_INTEREST);
  const busy = sampled.totalMs - sampled.idleMs;
  const percent = (ms: number) => round((100 * ms) / Math.max(busy, 1e-9), 1);
  const cpuSeconds = answer.cpuSeconds ?? NaN;
  const windowMs = answer.windowMs ?? sampled.totalMs;
  const stretches = busyStretches(profile, originOf, (frame) => frame.url.includes('/apps/cloud/') || frame.url.includes('/libs/'), BUSY_STRETCH_MIN_MS, Infinity);
  return {
    windowMs: round(windowMs),
    eventLoopUtilization: round(answer.eventLoopUtilization ?? NaN, 3),
    cpuSeconds: round(cpuSeconds),
    cores: round(cpuSeconds / (windowMs / 1000)),
    byOrigin: sampled.byOrigin.map(({ origin, ms }) => ({ origin, ms: round(ms), percent: percent(ms) })),
    topSelf: sampled.functions.slice(0, TOP_FUNCTIONS).map((f) => ({ ...f, ms: round(f.ms), percent: percent(f.ms) })),
    inclusive: sampled.inclusive.map(({ fn, ms }) => ({ fn, ms: round(ms), percent: percent(ms) })),
    calls: timed(answer.calls),
    statements: timed(answer.statements).slice(0, 10),
    stages: stageTimes(profile).map(({ stage, ms }) => ({ stage, ms: round(ms), percent: percent(ms) })),
    busyStretches: stretches.slice(0, BUSY_STRETCHES),
    busyStretchesOver: { over30Ms: stretches.length, over50Ms: stretches.filter((b) => b.ms >= 50).length, over100Ms: stretches.filter((b) => b.ms >= 100).length },
  };
}

function timed(stats: Record<string, TimedStat> | undefined) {
  return Object.entries(stats ?? {})
    .map(([what, s]) => ({ what, count: s.count, totalMs: round(s.totalMs), meanMs: round(s.totalMs / Math.max(1, s.count), 3), maxMs: round(s.maxMs, 1) }))
    .sort((a, b) => b.totalMs - a.totalMs);
}

/** Which part of the cloud process a frame belongs to, for ingest. */
const originOf = originClassifier({
  packages: [
    [
      'aedes broker (embedded)',
      ['aedes', 'aedes-persistence', 'mqemitter', 'mqtt-packet', 'aedes-packet', 'bl', 'readable-stream', 'fastparallel', 'fastfall', 'fastseries', 'reusify', 'hyperid', 'retimer'],
    ],
    ['mqtt.js (cloud client)', ['mqtt']],
    ['zod validation', ['zod']],
    ['BullMQ / ioredis', ['bullmq', 'ioredis', 'cron-parser', 'msgpackr', 'redis-parser', 'cluster-key-slot', 'denque', 'standard-as-callback']],
    ['pg (PostgreSQL client)', ['pg', 'pg-']],
    ['Nest / Express (HTTP)', ['@nestjs/', 'express', 'router', 'body-parser', 'path-to-regexp', 'finalhandler', 'send', 'raw-body', 'iconv-lite', 'qs']],
    ['prom-client (/metrics scrapes)', ['prom-client']],
  ],
  code: [
    ['cloud code (apps/cloud)', '/apps/cloud/'],
    ['libs/drift (window stats)', '/libs/drift/'],
    ['libs (contracts, …)', '/libs/'],
  ],
  bench: 'bench probe',
  node: 'Node.js internals and builtins (net, streams, JSON, Buffer)',
});

function round(v: number, digits = 1): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}
