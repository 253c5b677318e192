import { API_PREFIX } from '@edgeloop/contracts';
import { performance } from 'node:perf_hooks';

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
   * Redis ping, S3 — s3rver runs in the bench process —, MQTT): p50 and max. The rest of a request's time is
   * the cloud's event loop, HTTP and the bench process's own delays.
   */
  checksP50Ms: number | null;
  checksMaxMs: number | null;
}

/**
 * `GET /api/v1/health` every 100 ms (one request at a time: the next starts 100 ms after the previous began,
 * or when it ends if it took longer), each timed from the request to the whole answer.
 */
export class HealthProbe {
  private readonly times: number[] = [];
  private readonly checks: number[] = [];
  private failed = 0;
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
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      try {
        const res = await fetch(`${this.cloudUrl}${API_PREFIX}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        const body = (await res.json().catch(() => null)) as { components?: Record<string, { latencyMs?: number }> } | null;
        if (res.status === 200) this.times.push(performance.now() - started);
        else this.failed++;
        const latencies = Object.values(body?.components ?? {}).map((c) => c.latencyMs ?? 0);
        if (latencies.length > 0) this.checks.push(Math.max(...latencies));
      } catch {
        this.failed++;
      }
      const wait = EVERY_MS - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
