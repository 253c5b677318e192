import { round } from './report';

const TOP_FUNCTIONS = 15;

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The V8 `.cpuprofile` format, as `Profiler.stop` returns it. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface CpuSummary {
  sampledMs: number;
  /** Share of the samples in which the cloud's main thread was not idle. */
  busyPercent: number;
  /** Self time by where the code comes from. */
  byOrigin: Array<{ origin: string; ms: number; percent: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; percent: number }>;
}

/** Self time of every sample, grouped by origin (package or part of the repository) and by function. */
export function summariseCpuProfile(profile: CpuProfile): CpuSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const origins = new Map<string, number>();
  const functions = new Map<string, { fn: string; where: string; ms: number }>();
  let idle = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
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
  }
  const percent = (ms: number) => round((100 * ms) / total, 1);
  return {
    sampledMs: round(total),
    busyPercent: percent(total - idle),
    byOrigin: [...origins.entries()].sort((a, b) => b[1] - a[1]).map(([origin, ms]) => ({ origin, ms: round(ms), percent: percent(ms) })),
    topFunctions: [...functions.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, TOP_FUNCTIONS)
      .map((f) => ({ ...f, ms: round(f.ms), percent: percent(f.ms) })),
  };
}

const BROKER_PACKAGES = ['aedes', 'aedes-persistence', 'aedes-packet', 'mqemitter', 'mqtt-packet', 'qlobber', 'bl', 'readable-stream'];
const HTTP_PACKAGES = ['express', 'router', 'body-parser', 'path-to-regexp', 'finalhandler', 'send', 'raw-body', 'iconv-lite', 'qs'];
const QUEUE_PACKAGES = ['bullmq', 'ioredis', 'cron-parser', 'msgpackr'];

/** Which part of the cloud process a frame belongs to. */
function originOf(frame: CpuProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(program)' || functionName === '(root)') return 'V8 / native (program)';
  if (url.startsWith('wasm://')) return 'PGlite (Postgres in WebAssembly)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) {
    if (pkg.startsWith('@electric-sql/')) return 'PGlite (JavaScript side)';
    if (BROKER_PACKAGES.includes(pkg)) return 'aedes broker (embedded)';
    if (pkg === 'mqtt') return 'mqtt.js (cloud client)';
    if (pkg === 'zod') return 'zod validation';
    if (pkg.startsWith('@nestjs/') || HTTP_PACKAGES.includes(pkg)) return 'Nest / Express (HTTP)';
    if (QUEUE_PACKAGES.includes(pkg)) return 'BullMQ / ioredis (rollout ticks)';
    return `other package: ${pkg}`;
  }
  if (url.includes('/dist/apps/cloud/')) return 'cloud code (apps/cloud)';
  if (url.includes('/dist/libs/')) return 'libs (contracts, …)';
  if (url.includes('/dist/bench/') || url === 'node:inspector') return 'bench probe (hook, profiler)';
  if (url.startsWith('node:') || url === '') return 'Node.js internals (net, streams, timers, JSON, crypto)';
  return 'other';
}

function shortUrl(url: string): string {
  const clean = url.replace(/^file:\/\//, '');
  const modules = clean.lastIndexOf('node_modules/');
  if (modules >= 0) return clean.slice(modules + 'node_modules/'.length);
  const dist = clean.lastIndexOf('/dist/');
  return dist >= 0 ? clean.slice(dist + 1) : clean;
}
