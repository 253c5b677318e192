/**
 * Recent frame throughput and latency for the reported state and /healthz: frames per second over a
 * sliding window, and whole-pipeline latency percentiles over the last frames.
 */
export class FrameHealth {
  private readonly latencies: number[] = [];
  private readonly finishedAt: number[] = [];
  private next = 0;

  constructor(
    private readonly windowMs = 10_000,
    private readonly latencySamples = 256,
  ) {}

  record(totalMs: number, now = Date.now()): void {
    if (this.latencies.length < this.latencySamples) this.latencies.push(totalMs);
    else {
      this.latencies[this.next] = totalMs;
      this.next = (this.next + 1) % this.latencySamples;
    }
    this.finishedAt.push(now);
    this.trim(now);
  }

  fps(now = Date.now()): number {
    this.trim(now);
    if (this.finishedAt.length === 0) return 0;
    return Math.round((this.finishedAt.length / (this.windowMs / 1000)) * 100) / 100;
  }

  latency(): { p50: number; p95: number } {
    if (this.latencies.length === 0) return { p50: 0, p95: 0 };
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    return { p50: round(at(0.5)), p95: round(at(0.95)) };
  }

  private trim(now: number): void {
    const oldest = now - this.windowMs;
    let drop = 0;
    while (drop < this.finishedAt.length && (this.finishedAt[drop] as number) < oldest) drop++;
    if (drop > 0) this.finishedAt.splice(0, drop);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
