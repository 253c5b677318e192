import { errorFunction } from 'simple-statistics';

/**
 * The two limiting distributions the tests read p-values from.
 *
 * The normal tail comes from simple-statistics' error function (the Chebyshev fit of erfc in
 * Numerical Recipes §6.2, fractional error below 1.2e-7), so p-values are good to about seven
 * significant digits down to ~1e-15, under which they round to 0 — far past any alarm level.
 */

/** P(Z ≤ z) for a standard normal Z. */
export function standardNormalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return clampProbability(0.5 * (1 + errorFunction(z / Math.SQRT2)));
}

/** P(|Z| ≥ |z|) = erfc(|z|/√2): the two-sided p-value of a z statistic. */
export function twoSidedNormalPValue(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return clampProbability(1 - errorFunction(Math.abs(z) / Math.SQRT2));
}

/**
 * Survival function of the Kolmogorov distribution, Q(λ) = P(K > λ), the limit of P(√n·Dₙ > λ)
 * (Kolmogorov 1933; Smirnov 1948 for two samples with n = n₁n₂/(n₁+n₂)). Two series, each summed
 * where it converges in a few terms (Numerical Recipes 3rd ed. §6.14, "Kolmogorov-Smirnov
 * distribution"):
 *
 *   λ <  1.18:  Q = 1 − (√(2π)/λ) · Σ_{k≥1} exp(−(2k−1)²π² / (8λ²))
 *   λ ≥ 1.18:  Q = 2 · Σ_{k≥1} (−1)^{k−1} · exp(−2k²λ²)
 *
 * Agrees with scipy.special.kolmogorov to 1e-12 (see distributions.spec.ts).
 */
export function kolmogorovSurvival(lambda: number): number {
  if (Number.isNaN(lambda)) return Number.NaN;
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    const c = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let k = 1; k <= 50; k++) {
      const odd = 2 * k - 1;
      const term = Math.exp(-odd * odd * c);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return clampProbability(1 - (Math.sqrt(2 * Math.PI) / lambda) * sum);
  }
  let sum = 0;
  for (let k = 1; k <= 50; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += k % 2 === 1 ? term : -term;
    if (term < 1e-17 * Math.abs(sum)) break;
  }
  return clampProbability(2 * sum);
}

function clampProbability(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}
