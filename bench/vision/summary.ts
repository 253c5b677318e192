/** Latency summary of a series of per-frame times. */
export interface LatencySummary {
  samples: number;
  meanMs: number;
  medianMs: number;
  p95Ms: number;
  /** Frames per second, one frame after another: 1000 / mean. */
  fps: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarise(times: readonly number[]): LatencySummary {
  const sorted = [...times].sort((a, b) => a - b);
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length);
  return {
    samples: sorted.length,
    meanMs: round(mean),
    medianMs: round(percentile(sorted, 0.5)),
    p95Ms: round(percentile(sorted, 0.95)),
    fps: round(1000 / mean),
  };
}

export function round(v: number, digits = 2): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}
