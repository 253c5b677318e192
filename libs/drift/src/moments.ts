import { z } from 'zod';
import { binCentres, type Histogram } from './histogram';

/**
 * Count, mean and sum of squared deviations (M2) of a stream, mergeable without loss of precision:
 * Welford's update for one value and Chan, Golub & LeVeque's pairwise formula for two partial
 * results ("Algorithms for computing the sample variance", 1983). Unlike sum / sum of squares it
 * does not cancel catastrophically when the spread is small next to the mean.
 */
export interface Moments {
  count: number;
  mean: number;
  m2: number;
}

export const MomentsSchema = z.strictObject({
  count: z.number().int().nonnegative(),
  mean: z.number(),
  m2: z.number().nonnegative(),
});

export function emptyMoments(): Moments {
  return { count: 0, mean: 0, m2: 0 };
}

/** Welford's update. Mutates and returns `moments`; non-finite values are ignored. */
export function addObservation(moments: Moments, value: number): Moments {
  if (!Number.isFinite(value)) return moments;
  moments.count += 1;
  const delta = value - moments.mean;
  moments.mean += delta / moments.count;
  moments.m2 += delta * (value - moments.mean);
  return moments;
}

/** Chan et al.'s combination of partial moments; returns a new object. */
export function mergeMoments(first: Moments, ...others: readonly Moments[]): Moments {
  let merged: Moments = { ...first };
  for (const next of others) {
    if (next.count === 0) continue;
    if (merged.count === 0) {
      merged = { ...next };
      continue;
    }
    const count = merged.count + next.count;
    const delta = next.mean - merged.mean;
    merged = {
      count,
      mean: merged.mean + (delta * next.count) / count,
      m2: merged.m2 + next.m2 + (delta * delta * merged.count * next.count) / count,
    };
  }
  return merged;
}

/** Sample variance (n − 1 in the denominator); null below two values. */
export function sampleVariance(moments: Moments): number | null {
  return moments.count < 2 ? null : moments.m2 / (moments.count - 1);
}

/**
 * Moments approximated from a histogram: every value sits at its bin centre (geometric centre on a
 * log axis), optionally transformed first (e.g. `Math.log1p`). The error grows with the bin width,
 * and values clamped into the edge bins count at those bins' centres.
 */
export function momentsFromHistogram(histogram: Histogram, transform: (value: number) => number = (v) => v): Moments {
  const centres = binCentres(histogram.spec);
  let moments = emptyMoments();
  histogram.counts.forEach((count, i) => {
    if (count > 0) moments = mergeMoments(moments, { count, mean: transform(centres[i]), m2: 0 });
  });
  return moments;
}

/** Mean from bin centres; null when empty. */
export function histogramMean(histogram: Histogram): number | null {
  const moments = momentsFromHistogram(histogram);
  return moments.count === 0 ? null : moments.mean;
}

/** Sample variance from bin centres (no Sheppard correction); null below two values. */
export function histogramVariance(histogram: Histogram): number | null {
  return sampleVariance(momentsFromHistogram(histogram));
}
