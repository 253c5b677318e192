import { BULLMQ_PREFIX, QUEUE_NAMES, type QueueName } from '@edgeloop/contracts';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readProcMemory } from '../edge/proc-status';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** One sample of everything the soak watches. */
export interface SoakSample {
  /** Seconds since the fleet started sending. */
  atS: number;
  cloudRssMb: number;
  /** V8 heap in use (`nodejs_heap_size_used_bytes`), to tell a JavaScript leak from a native one. */
  cloudHeapMb: number;
  /** The cloud's event-loop delay since the previous scrape (prom-client resets its histogram on every scrape), ms. */
  loopP50Ms: number;
  loopP99Ms: number;
  loopMaxMs: number;
  redisUsedMb: number;
  queues: Record<QueueName, Record<JobState, number>>;
  /** The PGlite folder and the S3 server's folder (raw payloads go to S3), on disk. */
  sqlMb: number;
  /** Of which PostgreSQL's write-ahead log (`pg_wal`). */
  sqlWalMb: number;
  s3Mb: number;
  /** `edgeloop_ingest_total{counter="frames"}`: frames in the SQL aggregates. */
  framesIngested: number;
  /** What the fleet had sent and had acknowledged by then. */
  framesSent: number;
  acks: number;
  /** The machine's 1-minute load average. */
  load1: number;
}

export interface SamplerTargets {
  cloudUrl: string;
  cloudPid: number;
  redisUrl: string;
  sqlDir: string;
  s3Dir: string;
}

const MB = 1024 * 1024;
const round1 = (n: number) => Math.round(n * 10) / 10;

export class SoakSampler {
  private readonly redis: Redis;
  private readonly queues: Map<QueueName, Queue>;

  constructor(private readonly targets: SamplerTargets) {
    this.redis = new Redis(targets.redisUrl, { maxRetriesPerRequest: 3 });
    this.redis.on('error', () => undefined);
    this.queues = new Map(QUEUE_NAMES.map((name) => [name, new Queue(name, { connection: { url: targets.redisUrl }, prefix: BULLMQ_PREFIX })]));
    for (const queue of this.queues.values()) queue.on('error', () => undefined);
  }

  async sample(atS: number, fleet: { framesSent: number; acks: number }): Promise<SoakSample> {
    const memory = readProcMemory(this.targets.cloudPid);
    if (!memory) throw new Error(`the cloud (pid ${this.targets.cloudPid}) is gone`);
    const res = await fetch(`${this.targets.cloudUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const metrics = await res.text();
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${metrics.slice(0, 200)}`);
    const info = await this.redis.info('memory');
    const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
    const queues = {} as SoakSample['queues'];
    for (const [name, queue] of this.queues) {
      const counts = await queue.getJobCounts(...JOB_STATES);
      queues[name] = Object.fromEntries(JOB_STATES.map((s) => [s, counts[s] ?? 0])) as Record<JobState, number>;
    }
    return {
      atS: Math.round(atS),
      cloudRssMb: memory.rssMb,
      cloudHeapMb: round1(metricValue(metrics, 'edgeloop_cloud_nodejs_heap_size_used_bytes') / MB),
      loopP50Ms: round1(metricValue(metrics, 'edgeloop_cloud_nodejs_eventloop_lag_p50_seconds') * 1000),
      loopP99Ms: round1(metricValue(metrics, 'edgeloop_cloud_nodejs_eventloop_lag_p99_seconds') * 1000),
      loopMaxMs: round1(metricValue(metrics, 'edgeloop_cloud_nodejs_eventloop_lag_max_seconds') * 1000),
      redisUsedMb: round1(usedMemory / MB),
      queues,
      sqlMb: round1(folderBytes(this.targets.sqlDir) / MB),
      sqlWalMb: round1(folderBytes(path.join(this.targets.sqlDir, 'pg_wal')) / MB),
      s3Mb: round1(folderBytes(this.targets.s3Dir) / MB),
      framesIngested: metricValue(metrics, 'edgeloop_ingest_total', 'counter="frames"'),
      framesSent: fleet.framesSent,
      acks: fleet.acks,
      load1: Math.round(os.loadavg()[0] * 100) / 100,
    };
  }

  async close(): Promise<void> {
    for (const queue of this.queues.values()) await queue.close().catch(() => undefined);
    this.redis.disconnect();
  }
}

/** A sample of the Prometheus text: `name{label} value`; NaN when absent. */
function metricValue(text: string, name: string, label?: string): number {
  const selector = label ? `${name}{${label}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(selector));
  return line ? Number(line.slice(selector.length)) : NaN;
}

/** Bytes of the files under `dir` (0 for a missing folder; a file removed while walking is skipped). */
function folderBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(full);
    else {
      try {
        total += statSync(full).size;
      } catch {
        // removed meanwhile
      }
    }
  }
  return total;
}
