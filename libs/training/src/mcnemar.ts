import { TrainingError } from './errors';

/**
 * McNemar's test for two classifiers on the same probes. `b` counts probes the first got right and
 * the second wrong, `c` the reverse; under "equally good" each discordant probe is a fair coin.
 * With fewer than `exactBelow` discordant probes the two-sided exact binomial p-value is used,
 * otherwise the chi-square statistic with continuity correction, (|b − c| − 1)² / (b + c), on one
 * degree of freedom.
 */

export interface McNemarResult {
  /** First right, second wrong. */
  b: number;
  /** First wrong, second right. */
  c: number;
  /** Chi-square statistic with continuity correction (0 when b + c = 0). */
  statistic: number;
  pValue: number;
  method: 'exact' | 'chi-square';
}

/** log(n!) by summation (n here is at most the number of probes). */
function logFactorials(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let i = 2; i <= n; i++) table[i] = table[i - 1] + Math.log(i);
  return table;
}

/** Two-sided exact p-value: 2 · P(X ≤ min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1. */
export function exactMcNemarPValue(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  const lf = logFactorials(n);
  let tail = 0;
  for (let i = 0; i <= k; i++) tail += Math.exp(lf[n] - lf[i] - lf[n - i] - n * Math.LN2);
  return Math.min(1, 2 * tail);
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Upper tail of chi-square with one degree of freedom: P(X ≥ x) = erfc(√(x/2)). */
export function chiSquare1Survival(x: number): number {
  return x <= 0 ? 1 : erfc(Math.sqrt(x / 2));
}

export function mcnemar(first: readonly boolean[], second: readonly boolean[], options: { exactBelow?: number } = {}): McNemarResult {
  if (first.length !== second.length) {
    throw new TrainingError('MISMATCHED_REPORTS', `McNemar needs paired results: ${first.length} vs ${second.length} probes`);
  }
  let b = 0;
  let c = 0;
  for (let i = 0; i < first.length; i++) {
    if (first[i] && !second[i]) b++;
    else if (!first[i] && second[i]) c++;
  }
  const n = b + c;
  const statistic = n > 0 ? (Math.max(0, Math.abs(b - c) - 1) ** 2) / n : 0;
  const exact = n < (options.exactBelow ?? 25);
  return { b, c, statistic, pValue: exact ? exactMcNemarPValue(b, c) : chiSquare1Survival(statistic), method: exact ? 'exact' : 'chi-square' };
}
