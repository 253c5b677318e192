import { apiPaths } from '@edgeloop/contracts';
import { performance } from 'node:perf_hooks';

export interface Responsiveness {
  requests: number;
  medianMs: number;
  maxMs: number;
}

/**
 * Asks the cloud for its public key (an in-memory answer) every `intervalMs`, one request at a time,
 * while an upload runs: a long answer means the cloud's event loop was blocked.
 */
export class ResponsivenessProbe {
  private readonly latencies: number[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly baseUrl: string,
    private readonly intervalMs = 100,
  ) {
    this.loop = this.run();
  }

  async stop(): Promise<Responsiveness> {
    this.running = false;
    await this.loop;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return {
      requests: sorted.length,
      medianMs: sorted.length ? Math.round(sorted[Math.floor(sorted.length / 2)]) : NaN,
      maxMs: sorted.length ? Math.round(sorted[sorted.length - 1]) : NaN,
    };
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t = performance.now();
      try {
        const res = await fetch(`${this.baseUrl}${apiPaths.keys()}`, { signal: AbortSignal.timeout(60_000) });
        await res.arrayBuffer();
        this.latencies.push(performance.now() - t);
      } catch {
        this.latencies.push(performance.now() - t);
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }
}

/** The same request on the idle cloud, for comparison. */
export async function idleResponsiveness(baseUrl: string, requests = 10): Promise<Responsiveness> {
  const probe = new ResponsivenessProbe(baseUrl, 20);
  await new Promise((resolve) => setTimeout(resolve, requests * 25));
  return probe.stop();
}
