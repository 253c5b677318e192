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
}

/**
 * `GET /api/v1/health` every 100 ms (one request at a time: the next starts 100 ms after the previous began,
 * or when it ends if it took longer), each timed from the request to the whole answer.
 */
export class HealthProbe {
  private readonly times: number[] = [];
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
    const at = (q: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10);
    return {
      requests: this.times.length + this.failed,
      failed: this.failed,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      maxMs: sorted.length === 0 ? null : Math.round(sorted[sorted.length - 1] * 10) / 10,
      over100Ms: sorted.filter((t) => t > 100).length,
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      try {
        const res = await fetch(`${this.cloudUrl}${API_PREFIX}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        await res.arrayBuffer();
        if (res.status === 200) this.times.push(performance.now() - started);
        else this.failed++;
      } catch {
        this.failed++;
      }
      const wait = EVERY_MS - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
