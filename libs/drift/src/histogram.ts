import { z } from 'zod';
import { DriftError } from './errors';

/**
 * Fixed-edge histograms stored as plain JSON (`{ spec, counts }`) and merged by adding counts, so
 * per-minute, per-device rows roll up into any window. Values outside [min, max] are clamped into
 * the first or last bin: those bins stand for (-∞, e₁) and [e₍ₙ₋₁₎, +∞), and quantiles read inside
 * them are bounded by min and max. NaN is ignored.
 */

export const HISTOGRAM_SCALES = ['linear', 'log'] as const;
export type HistogramScale = (typeof HISTOGRAM_SCALES)[number];

/** `bins` equal-width bins over [min, max], or equal-ratio bins when `scale` is `log` (min > 0). */
export interface HistogramSpec {
  scale: HistogramScale;
  min: number;
  max: number;
  bins: number;
}

export interface Histogram {
  spec: HistogramSpec;
  /** `spec.bins` non-negative integer counts. */
  counts: number[];
}

export const MAX_HISTOGRAM_BINS = 4096;

export const HistogramSpecSchema = z
  .strictObject({
    scale: z.enum(HISTOGRAM_SCALES),
    min: z.number(),
    max: z.number(),
    bins: z.number().int().min(1).max(MAX_HISTOGRAM_BINS),
  })
  .superRefine((spec, ctx) => {
    const problem = specProblem(spec);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const HistogramSchema = z
  .strictObject({
    spec: HistogramSpecSchema,
    counts: z.array(z.number().int().nonnegative()),
  })
  .superRefine((histogram, ctx) => {
    if (histogram.counts.length !== histogram.spec.bins) {
      ctx.addIssue({ code: 'custom', path: ['counts'], message: `expected ${histogram.spec.bins} counts, got ${histogram.counts.length}` });
    }
  });

function specProblem(spec: HistogramSpec): string | null {
  if (!Number.isFinite(spec.min) || !Number.isFinite(spec.max)) return 'min and max must be finite';
  if (!(spec.min < spec.max)) return 'min must be below max';
  if (spec.scale === 'log' && !(spec.min > 0)) return 'a log-scale histogram needs min > 0';
  if (!Number.isInteger(spec.bins) || spec.bins < 1 || spec.bins > MAX_HISTOGRAM_BINS) {
    return `bins must be an integer in 1..${MAX_HISTOGRAM_BINS}`;
  }
  return null;
}

export function createHistogram(spec: HistogramSpec): Histogram {
  const problem = specProblem(spec);
  if (problem) throw new DriftError('INVALID_HISTOGRAM_SPEC', `invalid histogram spec: ${problem}`);
  return { spec: { scale: spec.scale, min: spec.min, max: spec.max, bins: spec.bins }, counts: new Array<number>(spec.bins).fill(0) };
}

export function sameSpec(a: HistogramSpec, b: HistogramSpec): boolean {
  return a.scale === b.scale && a.min === b.min && a.max === b.max && a.bins === b.bins;
}

export function assertSameSpec(a: Histogram, b: Histogram): void {
  if (!sameSpec(a.spec, b.spec)) {
    throw new DriftError(
      'INCOMPATIBLE_HISTOGRAMS',
      `histograms have different bins: ${JSON.stringify(a.spec)} vs ${JSON.stringify(b.spec)}`,
    );
  }
}

/** Position of `value` on the spec's axis as a fraction of [min, max] (log axis for `log`). */
function axisFraction(spec: HistogramSpec, value: number): number {
  if (spec.scale === 'linear') return (value - spec.min) / (spec.max - spec.min);
  if (value <= 0) return -Infinity;
  return Math.log(value / spec.min) / Math.log(spec.max / spec.min);
}

function axisValue(spec: HistogramSpec, fraction: number): number {
  if (spec.scale === 'linear') return spec.min + (spec.max - spec.min) * fraction;
  return spec.min * Math.pow(spec.max / spec.min, fraction);
}

/** The bin a value falls in (clamped to the first and last bin), or -1 for NaN. */
export function binIndex(spec: HistogramSpec, value: number): number {
  if (Number.isNaN(value)) return -1;
  const index = Math.floor(axisFraction(spec, value) * spec.bins);
  if (!(index > 0)) return 0; // also -Infinity
  return index >= spec.bins ? spec.bins - 1 : index;
}

/** The `bins + 1` edges from min to max. */
export function binEdges(spec: HistogramSpec): number[] {
  return Array.from({ length: spec.bins + 1 }, (_, i) => (i === spec.bins ? spec.max : axisValue(spec, i / spec.bins)));
}

/** Bin centres: arithmetic on a linear axis, geometric on a log axis. */
export function binCentres(spec: HistogramSpec): number[] {
  return Array.from({ length: spec.bins }, (_, i) => axisValue(spec, (i + 0.5) / spec.bins));
}

/** Counts `value` `times` times. Mutates and returns `histogram` (an accumulator on the ingest path). */
export function addValue(histogram: Histogram, value: number, times = 1): Histogram {
  const index = binIndex(histogram.spec, value);
  if (index >= 0) histogram.counts[index] += times;
  return histogram;
}

export function addValues(histogram: Histogram, values: Iterable<number>): Histogram {
  for (const value of values) addValue(histogram, value);
  return histogram;
}

/** A new histogram with the summed counts; throws `INCOMPATIBLE_HISTOGRAMS` when the bins differ. */
export function mergeHistograms(first: Histogram, ...others: readonly Histogram[]): Histogram {
  const merged = createHistogram(first.spec);
  for (const histogram of [first, ...others]) {
    assertSameSpec(merged, histogram);
    for (let i = 0; i < merged.counts.length; i++) merged.counts[i] += histogram.counts[i];
  }
  return merged;
}

export function histogramTotal(histogram: Histogram): number {
  let total = 0;
  for (const count of histogram.counts) total += count;
  return total;
}

/**
 * The q-quantile (0 ≤ q ≤ 1), interpolated inside its bin (linearly, or geometrically on a log
 * axis), so its error is at most one bin width; null for an empty histogram.
 */
export function quantile(histogram: Histogram, q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const total = histogramTotal(histogram);
  if (total === 0) return null;
  const { spec, counts } = histogram;
  const target = q * total;
  let below = 0;
  let lastNonEmpty = 0;
  for (let i = 0; i < counts.length; i++) {
    const count = counts[i];
    if (count === 0) continue;
    lastNonEmpty = i;
    if (below + count >= target) {
      const within = Math.min(1, Math.max(0, (target - below) / count));
      return axisValue(spec, (i + within) / spec.bins);
    }
    below += count;
  }
  return axisValue(spec, (lastNonEmpty + 1) / spec.bins);
}

/** Fraction of the mass at or below each bin's upper edge (the last entry is 1); null when empty. */
export function cumulativeFractions(histogram: Histogram): number[] | null {
  const total = histogramTotal(histogram);
  if (total === 0) return null;
  const out = new Array<number>(histogram.counts.length);
  let running = 0;
  for (let i = 0; i < histogram.counts.length; i++) {
    running += histogram.counts[i];
    out[i] = running / total;
  }
  out[out.length - 1] = 1;
  return out;
}
