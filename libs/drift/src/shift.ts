import type { Moments } from './moments';

/**
 * Standardised mean difference (Cohen's d) between a reference and a current sample:
 *
 *   d = (mean_cur − mean_ref) / s_pooled,  s_pooled = √(((n₁−1)s₁² + (n₂−1)s₂²) / (n₁ + n₂ − 2))
 *
 * (Cohen, "Statistical Power Analysis for the Behavioral Sciences", 1988, §2.2; 0.2 small, 0.5
 * medium, 0.8 large). `minScale` floors the denominator: a static camera has almost no spread, and
 * without a floor a change of one grey level would read as a huge effect. Feed it exact moments
 * (`Moments`) or moments read off a histogram (`momentsFromHistogram`).
 */
export interface MeanShift {
  /** Cohen's d with the floored scale; ±Infinity only when the scale is 0 and the means differ. */
  d: number;
  /** mean_cur − mean_ref, in the value's own unit. */
  difference: number;
  pooledStandardDeviation: number;
  /** max(pooledStandardDeviation, minScale): the denominator of d. */
  scale: number;
}

/** Null when either side has fewer than two values. */
export function standardizedMeanDifference(
  reference: Moments,
  current: Moments,
  options: { minScale?: number } = {},
): MeanShift | null {
  if (reference.count < 2 || current.count < 2) return null;
  const minScale = options.minScale ?? 0;
  if (!(minScale >= 0)) throw new RangeError(`minScale must be ≥ 0, got ${minScale}`);
  const pooledStandardDeviation = Math.sqrt((reference.m2 + current.m2) / (reference.count + current.count - 2));
  const scale = Math.max(pooledStandardDeviation, minScale);
  const difference = current.mean - reference.mean;
  const d = scale > 0 ? difference / scale : difference === 0 ? 0 : Math.sign(difference) * Infinity;
  return { d, difference, pooledStandardDeviation, scale };
}
