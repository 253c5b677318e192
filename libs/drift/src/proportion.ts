import { twoSidedNormalPValue } from './distributions';

/**
 * Two-proportion z-test (pooled), e.g. the unknown rate of a reference window against a current one:
 *
 *   p̂ = (x₁ + x₂)/(n₁ + n₂),  z = (x₂/n₂ − x₁/n₁) / √(p̂(1 − p̂)(1/n₁ + 1/n₂))
 *
 * with a two-sided normal p-value (e.g. Agresti, "Categorical Data Analysis", §2.2 / §3.1). The
 * normal approximation needs enough events on both sides: `approximationValid` is false when an
 * expected count n·p̂ or n·(1 − p̂) of either sample is below `minExpectedCount` (5 by default, the
 * usual rule), and callers should not act on the p-value then.
 */
export interface ProportionSample {
  /** Events, e.g. unknown faces. */
  successes: number;
  /** Trials, e.g. faces with a score. */
  trials: number;
}

export interface TwoProportionResult {
  referenceRate: number;
  currentRate: number;
  /** currentRate − referenceRate. */
  difference: number;
  pooledRate: number;
  z: number;
  pValue: number;
  approximationValid: boolean;
}

export function twoProportionZTest(
  reference: ProportionSample,
  current: ProportionSample,
  options: { minExpectedCount?: number } = {},
): TwoProportionResult | null {
  for (const sample of [reference, current]) {
    if (!(sample.successes >= 0 && sample.successes <= sample.trials)) {
      throw new RangeError(`successes must be in [0, trials], got ${sample.successes} of ${sample.trials}`);
    }
  }
  if (reference.trials === 0 || current.trials === 0) return null;
  const minExpectedCount = options.minExpectedCount ?? 5;
  const referenceRate = reference.successes / reference.trials;
  const currentRate = current.successes / current.trials;
  const difference = currentRate - referenceRate;
  const pooledRate = (reference.successes + current.successes) / (reference.trials + current.trials);
  const standardError = Math.sqrt(pooledRate * (1 - pooledRate) * (1 / reference.trials + 1 / current.trials));
  // All events or none on both sides: the rates are equal and there is nothing to test.
  const z = standardError > 0 ? difference / standardError : 0;
  const smallestExpected = Math.min(reference.trials, current.trials) * Math.min(pooledRate, 1 - pooledRate);
  return {
    referenceRate,
    currentRate,
    difference,
    pooledRate,
    z,
    pValue: twoSidedNormalPValue(z),
    approximationValid: smallestExpected >= minExpectedCount,
  };
}
