import { addValues, createHistogram, type HistogramSpec } from './histogram';
import { ksTwoSample } from './ks';
import { samples, seededNormal } from './testing/random';

const score: HistogramSpec = { scale: 'linear', min: -1, max: 1, bins: 50 };

/** D of the raw values: the largest gap between the two empirical CDFs. */
function rawStatistic(a: number[], b: number[]): number {
  const points = [...a, ...b].sort((x, y) => x - y);
  const cdf = (values: number[], x: number) => values.filter((v) => v <= x).length / values.length;
  return Math.max(...points.map((x) => Math.abs(cdf(a, x) - cdf(b, x))));
}

describe('ksTwoSample', () => {
  it('reproduces a worked example with one value per bin', () => {
    // Integer data 0..9, one bin per value, so binning loses nothing. scipy.stats.ks_2samp gives
    // D = 0.36666…; the asymptotic p is scipy.special.kolmogorov(√(60·72/132) · D).
    const x = Array.from({ length: 4 }, () => [0, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 6, 7, 8, 9]).flat();
    const y = Array.from({ length: 4 }, () => [2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 9, 9]).flat();
    const digits: HistogramSpec = { scale: 'linear', min: 0, max: 10, bins: 10 };
    const result = ksTwoSample(addValues(createHistogram(digits), x), addValues(createHistogram(digits), y))!;
    expect(result.statistic).toBeCloseTo(0.36666666666666664, 12);
    expect(result.effectiveSampleSize).toBeCloseTo((60 * 72) / 132, 12);
    expect(result.pValue).toBeCloseTo(0.0003014661501899216, 12);
  });

  it('gives a large p-value for two samples of one distribution', () => {
    const result = ksTwoSample(
      addValues(createHistogram(score), samples(1000, seededNormal(21, 0.7, 0.1))),
      addValues(createHistogram(score), samples(1000, seededNormal(22, 0.7, 0.1))),
    )!;
    expect(result.statistic).toBeLessThan(0.06);
    expect(result.pValue).toBeGreaterThan(0.1);
  });

  it('gives a tiny p-value for a shifted distribution', () => {
    const result = ksTwoSample(
      addValues(createHistogram(score), samples(1000, seededNormal(21, 0.7, 0.1))),
      addValues(createHistogram(score), samples(1000, seededNormal(23, 0.6, 0.1))),
    )!;
    expect(result.statistic).toBeGreaterThan(0.3);
    expect(result.pValue).toBeLessThan(1e-10);
  });

  it('never exceeds the D of the raw values (binning is conservative)', () => {
    const a = samples(300, seededNormal(31, 0.5, 0.2));
    const b = samples(300, seededNormal(32, 0.53, 0.2));
    const binned = ksTwoSample(addValues(createHistogram(score), a), addValues(createHistogram(score), b))!;
    expect(binned.statistic).toBeLessThanOrEqual(rawStatistic(a, b) + 1e-12);
    expect(ksTwoSample(createHistogram(score), addValues(createHistogram(score), a))).toBeNull();
  });
});
