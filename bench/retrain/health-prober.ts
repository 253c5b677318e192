/**
 * `GET /api/v1/health` sampled every `intervalMs` from a worker thread — its own event loop, so a cloud
 * that holds the main thread shows as a slow answer, not as a probe that was never sent. One request at a
 * time: a request still out at the next tick delays that tick (and its own time is what is recorded).
 */
import { apiPaths } from '@edgeloop/contracts';
import { Worker } from 'node:worker_threads';

export interface HealthSummary {
  intervalMs: number;
  samples: number;
  /** Requests that failed (no answer within 10 s, or not 200). */
  errors: number;
  maxMs: number;
  p99Ms: number;
  medianMs: number;
  /** Samples slower than 100 ms. */
  over100Ms: number;
}

const PROBER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const times = [];
const sentAt = [];
const slowest = [];
const allChecks = [];
let errors = 0;
let stopping = false;
parentPort.on('message', () => { stopping = true; });
(async () => {
  // one request first, not timed: a new thread's first fetch loads and compiles undici and opens the connection
  // (100-250 ms, seen as a slow first answer from the busy and the idle cloud alike, with their checks at 20 ms)
  try {
    await (await fetch(workerData.url, { signal: AbortSignal.timeout(10000) })).text();
  } catch {}
  parentPort.postMessage('ready');
  let next = performance.now();
  while (!stopping) {
    const started = performance.now();
    sentAt.push(Date.now());
    let component = null;
    let checks = null;
    try {
      const res = await fetch(workerData.url, { signal: AbortSignal.timeout(10000) });
      const body = await res.text();
      if (res.status !== 200) errors++;
      times.push(performance.now() - started);
      try {
        checks = {};
        for (const [name, c] of Object.entries(JSON.parse(body).components ?? {})) {
          checks[name] = c.latencyMs;
          if (!component || c.latencyMs > component.ms) component = { name, ms: c.latencyMs };
        }
      } catch {}
    } catch {
      errors++;
      times.push(performance.now() - started);
    }
    slowest.push(component);
    allChecks.push(checks);
    next += workerData.intervalMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else next = performance.now();
  }
  parentPort.postMessage({ times, sentAt, errors, slowest, allChecks });
})();
`;

/** One answer: when the request was sent (epoch ms) and how long the answer took. */
export interface HealthSample {
  sentAt: number;
  ms: number;
  /**
   * The component check that took longest inside the cloud (the report's own `latencyMs`), or null without a
   * report: an answer much slower than its slowest check waited for the event loop, not for a component.
   */
  slowestCheck: { name: string; ms: number } | null;
  /** Every component check's `latencyMs` in the report (null without a report): what else was slow beside the slowest. */
  checks: Record<string, number> | null;
}

export interface HealthProber {
  stop(): Promise<{ summary: HealthSummary; samples: HealthSample[] }>;
}

/** Resolves once the prober has made its untimed first request and sampling has begun. */
export async function startHealthProber(cloudUrl: string, intervalMs: number): Promise<HealthProber> {
  const worker = new Worker(PROBER_SOURCE, { eval: true, workerData: { url: `${cloudUrl}${apiPaths.health()}`, intervalMs } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  const result = new Promise<{
    times: number[];
    sentAt: number[];
    errors: number;
    slowest: Array<{ name: string; ms: number } | null>;
    allChecks: Array<Record<string, number> | null>;
  }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const { times, sentAt, errors, slowest, allChecks } = await result;
      await worker.terminate();
      return {
        summary: summarise(times, errors, intervalMs),
        samples: times.map((ms, i) => ({ sentAt: sentAt[i], ms, slowestCheck: slowest[i] ?? null, checks: allChecks[i] ?? null })),
      };
    },
  };
}

function summarise(times: number[], errors: number, intervalMs: number): HealthSummary {
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] : NaN);
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    intervalMs,
    samples: sorted.length,
    errors,
    maxMs: round(sorted[sorted.length - 1] ?? NaN),
    p99Ms: round(at(0.99)),
    medianMs: round(at(0.5)),
    over100Ms: sorted.filter((t) => t > 100).length,
  };
}
