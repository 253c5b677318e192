import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ProbeAnswer, TimedStat } from './cloud-probe-hook';

const ANSWER_TIMEOUT_MS = 30_000;
const TOP_FUNCTIONS = 15;

/** Functions whose time including callees is worth knowing for ingest (name as V8 reports it). */
const INCLUSIVE_OF_INTEREST = [
  'dispatch',
  'decodeDeviceMessage',
  'addBatch',
  'ingestBatch',
  'parseJob',
  'mergeAggregate',
  'parseWindowStats',
  'mergeWindowStats',
  'bucketed',
  'stringify',
  'parse',
  'handlePublish',
];

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

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
    await this.ask({ type: 'probe-start' }, 'probe-started');
  }

  async stop(): Promise<ProbeSummary> {
    const file = path.join(this.dir, `cloud-${++this.count}.cpuprofile`);
    const answer = await this.ask({ type: 'probe-stop', file }, 'probe-stopped');
    return summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, answer);
  }

  private ask(message: object, expected: ProbeAnswer['type']): Promise<ProbeAnswer> {
    const child = this.child;
    if (!child?.send) throw new Error('the cloud was not started with the probe hook');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no ${expected} from the cloud within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS);
      const onMessage = (answer: ProbeAnswer) => {
        if (answer.type === 'probe-error') finish(new Error(`cloud probe: ${answer.error}`));
        else if (answer.type === expected) finish(undefined, answer);
      };
      const finish = (err?: Error, answer?: ProbeAnswer) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        if (err) reject(err);
        else resolve(answer!);
      };
      child.on('message', onMessage);
      child.send(message);
    });
  }
}

function summarise(profile: CpuProfile, answer: ProbeAnswer): ProbeSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  let total = 0;
  let idle = 0;
  const origins = new Map<string, number>();
  const functions = new Map<string, { fn: string; where: string; ms: number }>();
  const inclusive = new Map<string, number>();
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    total += ms;
    if (frame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const origin = originOf(frame);
    origins.set(origin, (origins.get(origin) ?? 0) + ms);
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}@${where}`;
    const entry = functions.get(key) ?? { fn: frame.functionName || '(anonymous)', where, ms: 0 };
    entry.ms += ms;
    functions.set(key, entry);
    // every distinct function of interest on this sample's stack gets the sample once
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = byId.get(at)!.callFrame.functionName;
      if (INCLUSIVE_OF_INTEREST.includes(name) && !seen.has(name)) {
        seen.add(name);
        inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
      }
    }
  }
  const busy = total - idle;
  const percent = (ms: number) => round((100 * ms) / Math.max(busy, 1e-9), 1);
  const cpuSeconds = answer.cpuSeconds ?? NaN;
  const windowMs = answer.windowMs ?? total;
  return {
    windowMs: round(windowMs),
    eventLoopUtilization: round(answer.eventLoopUtilization ?? NaN, 3),
    cpuSeconds: round(cpuSeconds),
    cores: round(cpuSeconds / (windowMs / 1000)),
    byOrigin: [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([origin, ms]) => ({ origin, ms: round(ms), percent: percent(ms) })),
    topSelf: [...functions.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, TOP_FUNCTIONS)
      .map((f) => ({ ...f, ms: round(f.ms), percent: percent(f.ms) })),
    inclusive: [...inclusive.entries()].sort((a, b) => b[1] - a[1]).map(([fn, ms]) => ({ fn, ms: round(ms), percent: percent(ms) })),
    calls: timed(answer.calls),
    statements: timed(answer.statements).slice(0, 10),
  };
}

function timed(stats: Record<string, TimedStat> | undefined) {
  return Object.entries(stats ?? {})
    .map(([what, s]) => ({ what, count: s.count, totalMs: round(s.totalMs), meanMs: round(s.totalMs / Math.max(1, s.count), 3), maxMs: round(s.maxMs, 1) }))
    .sort((a, b) => b.totalMs - a.totalMs);
}

/** Which part of the cloud process a frame belongs to. */
function originOf(frame: CpuProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)' || functionName === '(root)') return 'V8 / native (program)';
  if (url.startsWith('wasm://')) return 'PGlite (Postgres in WebAssembly)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) {
    if (pkg.startsWith('@electric-sql/')) return 'PGlite (JavaScript side)';
    if (['aedes', 'aedes-persistence', 'mqemitter', 'mqtt-packet', 'aedes-packet', 'bl', 'readable-stream', 'fastparallel', 'fastfall', 'fastseries', 'reusify', 'hyperid', 'retimer'].includes(pkg)) {
      return 'aedes broker (embedded)';
    }
    if (pkg === 'mqtt') return 'mqtt.js (cloud client)';
    if (pkg === 'zod') return 'zod validation';
    if (['bullmq', 'ioredis', 'cron-parser', 'msgpackr', 'redis-parser', 'cluster-key-slot', 'denque', 'standard-as-callback'].includes(pkg)) return 'BullMQ / ioredis';
    if (pkg === 'pg' || pkg.startsWith('pg-')) return 'pg (PostgreSQL client)';
    if (pkg.startsWith('@nestjs/') || ['express', 'router', 'body-parser', 'path-to-regexp', 'finalhandler', 'send', 'raw-body', 'iconv-lite', 'qs'].includes(pkg)) return 'Nest / Express (HTTP)';
    if (pkg === 'prom-client') return 'prom-client (/metrics scrapes)';
    return `other package: ${pkg}`;
  }
  if (url.includes('/dist/apps/cloud/')) return 'cloud code (apps/cloud)';
  if (url.includes('/dist/libs/drift/')) return 'libs/drift (window stats)';
  if (url.includes('/dist/libs/')) return 'libs (contracts, …)';
  if (url.includes('/dist/bench/') || url === 'node:inspector') return 'bench probe';
  if (url.startsWith('node:') || url === '') return 'Node.js internals and builtins (net, streams, JSON, Buffer)';
  return 'other';
}

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, '');
  const modules = clean.lastIndexOf('node_modules/');
  if (modules >= 0) return clean.slice(modules + 'node_modules/'.length);
  const dist = clean.lastIndexOf('/dist/');
  return dist >= 0 ? clean.slice(dist + 1) : clean;
}

function round(v: number, digits = 1): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}
