import { kolmogorovSurvival } from './distributions';
import { assertSameSpec, cumulativeFractions, histogramTotal, type Histogram } from './histogram';

/**
 * Two-sample Kolmogorov–Smirnov test on binned data.
 *
 * D = maxₖ |F_ref(eₖ) − F_cur(eₖ)| over the bins' upper edges eₖ, and the asymptotic p-value
 * Q_KS(√nₑ · D) with the effective sample size nₑ = n·m/(n+m) (Smirnov 1948; the limit R's
 * `ks.test(exact = FALSE)` uses, without Stephens' small-sample correction).
 *
 * Binning caveats:
 * - The empirical CDFs are compared only at bin edges, so D is at most the D of the raw values
 *   (equal when every bin holds one distinct value) and the p-value is conservative (too large):
 *   a shift much narrower than a bin can go unseen.
 * - The limit distribution assumes independent samples from continuous distributions. Frames of
 *   one camera are strongly correlated (the same face over many frames), so the true effective
 *   sample size is smaller than the count and the p-value is too small on large windows. That is
 *   why the detector also requires D itself to reach a threshold.
 */
export interface KsResult {
  statistic: number;
  pValue: number;
  /** n·m/(n+m). */
  effectiveSampleSize: number;
}

/** The test, or null when either histogram is empty; throws `INCOMPATIBLE_HISTOGRAMS` when the bins differ. */
export function ksTwoSample(reference: Histogram, current: Histogram): KsResult | null {
  assertSameSpec(reference, current);
  const referenceCdf = cumulativeFractions(reference);
  const currentCdf = cumulativeFractions(current);
  if (!referenceCdf || !currentCdf) return null;
  let statistic = 0;
  for (let i = 0; i < referenceCdf.length; i++) statistic = Math.max(statistic, Math.abs(referenceCdf[i] - currentCdf[i]));
  const n = histogramTotal(reference);
  const m = histogramTotal(current);
  const effectiveSampleSize = (n * m) / (n + m);
  return { statistic, pValue: kolmogorovSurvival(Math.sqrt(effectiveSampleSize) * statistic), effectiveSampleSize };
}
