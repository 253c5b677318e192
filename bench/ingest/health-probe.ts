import { API_PREFIX } from '@edgeloop/contracts';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

const EVERY_MS = 100;
const TIMEOUT_MS = 5000;

export interface HealthLatency {
  requests: number;
  /** Requests that failed or did not answer 200 within the timeout. */
  failed: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Requests that took more than 100 ms (the target). */
  over100Ms: number;
  /**
   * The slowest dependency check of each answer as the cloud timed it (`components.*.latencyMs`: SQL `select 1`,
   * Redis ping, S3 — s3rver in a process of its own unless BENCH_INGEST_S3=bench —, MQTT): p50 and max. The rest of a request's time is
   * the cloud's event loop, HTTP and the bench process's own delays.
   */
  checksP50Ms: number | null;
  checksMaxMs: number | null;
  /** Each answer over 100 ms (and each failed request), to tell where its time went. */
  slowAnswers: SlowHealthAnswer[];
}

/** One slow answer: its own time, each component check as the cloud timed it, and the bench's own delay meanwhile. */
export interface SlowHealthAnswer {
  /** ms from the first probe request. */
  atMs: number;
  ms: number;
  status: number | null;
  /** `components.<name>.latencyMs` of the answer (empty without a report). */
  checks: Record<string, number>;
  /**
   * The bench process's longest event-loop delay while this request was out (the probe shares that loop with
   * the simulated devices): time the answer may have waited in the bench, not in the cloud.
   */
  benchLoopDelayMaxMs: number;
}

/**
 * `GET /api/v1/health` every 100 ms (one request at a time: the next starts 100 ms after the previous began,
 * or when it ends if it took longer), each timed from the request to the whole answer.
 */
export class HealthProbe {
  private readonly times: number[] = [];
  private readonly checks: number[] = [];
  private failed = 0;
  private readonly slow: SlowHealthAnswer[] = [];
  private firstAt: number | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly cloudUrl: string) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<HealthLatency> {
    this.stopped = true;
    await this.running;
    const sorted = [...this.times].sort((a, b) => a - b);
    const quantile = (values: number[], q: number) =>
      values.length === 0 ? null : Math.round(values[Math.min(values.length - 1, Math.floor(q * values.length))] * 10) / 10;
    const at = (q: number) => quantile(sorted, q);
    const checks = [...this.checks].sort((a, b) => a - b);
    return {
      requests: this.times.length + this.failed,
      failed: this.failed,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: sorted.length === 0 ? null : Math.round(sorted[sorted.length - 1] * 10) / 10,
      over100Ms: sorted.filter((t) => t > 100).length,
      checksP50Ms: quantile(checks, 0.5),
      checksMaxMs: quantile(checks, 1),
      slowAnswers: this.slow,
    };
  }

  private async loop(): Promise<void> {
    const benchLoop = monitorEventLoopDelay({ resolution: 10 });
    benchLoop.enable();
    try {
      while (!this.stopped) {
        const started = performance.now();
        this.firstAt ??= started;
        benchLoop.reset();
        let status: number | null = null;
        let checks: Record<string, number> = {};
        try {
          const res = await fetch(`${this.cloudUrl}${API_PREFIX}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
          status = res.status;
          const body = (await res.json().catch(() => null)) as { components?: Record<string, { latencyMs?: number }> } | null;
          if (res.status === 200) this.times.push(performance.now() - started);
          else this.failed++;
          checks = Object.fromEntries(Object.entries(body?.components ?? {}).map(([name, c]) => [name, c.latencyMs ?? 0]));
          const latencies = Object.values(checks);
          if (latencies.length > 0) this.checks.push(Math.max(...latencies));
        } catch {
          this.failed++;
        }
        const ms = performance.now() - started;
        if (ms > 100 || status !== 200) {
          this.slow.push({
            atMs: Math.round(started - this.firstAt),
            ms: Math.round(ms * 10) / 10,
            status,
            checks,
            benchLoopDelayMaxMs: Math.round(benchLoop.max / 1e5) / 10,
          });
        }
        const wait = EVERY_MS - (performance.now() - started);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    } finally {
      benchLoop.disable();
    }
  }
}
