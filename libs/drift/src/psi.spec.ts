import { addValues, createHistogram, type Histogram, type HistogramSpec } from './histogram';
import { equalMassGroups, populationStabilityIndex, psiSeverity } from './psi';
import { samples, seededNormal } from './testing/random';

const score: HistogramSpec = { scale: 'linear', min: -1, max: 1, bins: 50 };
const normalScores = (seed: number, mean: number, count = 2000): Histogram =>
  addValues(createHistogram(score), samples(count, seededNormal(seed, mean, 0.1)));

describe('populationStabilityIndex', () => {
  it('is 0 for identical histograms and small for two samples of one distribution', () => {
    const reference = normalScores(1, 0.7);
    expect(populationStabilityIndex(reference, reference)).toBeCloseTo(0, 12);
    const psi = populationStabilityIndex(reference, normalScores(2, 0.7))!;
    expect(psi).toBeLessThan(0.02); // expectation ≈ 9 · (1/2000 + 1/2000) = 0.009
    expect(psiSeverity(psi)).toBe('stable');
  });

  it('stays under the moderate level for two small samples (grouping to 10 bins)', () => {
    // 200 values a side, the detector's minimum: with all 50 storage bins the noise alone would be ≈ 0.5.
    const psi = populationStabilityIndex(normalScores(3, 0.7, 200), normalScores(4, 0.7, 200))!;
    expect(psi).toBeLessThan(0.1);
    expect(populationStabilityIndex(normalScores(3, 0.7, 200), normalScores(4, 0.7, 200), { bins: 50 })).toBeGreaterThan(psi);
  });

  it('exceeds 0.25 for a shifted distribution', () => {
    const psi = populationStabilityIndex(normalScores(1, 0.7), normalScores(5, 0.55))!;
    expect(psi).toBeGreaterThan(0.25);
    expect(psiSeverity(psi)).toBe('significant');
    expect(psiSeverity(0.15)).toBe('moderate');
  });

  it('matches the formula on a hand-made example and stays finite with empty bins', () => {
    const four: HistogramSpec = { scale: 'linear', min: 0, max: 4, bins: 4 };
    const make = (counts: number[]): Histogram => ({ spec: four, counts });
    // Σ (c − r) ln(c/r) with r = .25 each and c = .4 .3 .2 .1 (numpy: 0.22821740957339182).
    expect(populationStabilityIndex(make([25, 25, 25, 25]), make([40, 30, 20, 10]), { bins: 4 })).toBeCloseTo(0.22821740957339182, 12);
    // Reference .1 .2 .3 .4 cut at quartiles of its mass: groups {0,1} {2} {3}, so r = .3 .3 .4 and
    // c = .7 .2 .1 (numpy: 0.7953539633016651; on the four raw bins it would be 0.913).
    expect(populationStabilityIndex(make([10, 20, 30, 40]), make([40, 30, 20, 10]), { bins: 4 })).toBeCloseTo(0.7953539633016651, 12);
    const empty = populationStabilityIndex(make([50, 50, 0, 0]), make([0, 50, 0, 50]), { bins: 4, epsilon: 1e-4 })!;
    expect(Number.isFinite(empty)).toBe(true);
    expect(empty).toBeGreaterThan(5);
    expect(populationStabilityIndex(make([0, 0, 0, 0]), make([1, 0, 0, 0]))).toBeNull();
    expect(() => populationStabilityIndex(make([1, 1, 1, 1]), normalScores(1, 0.5))).toThrow(/different bins/);
  });

  it('groups storage bins by equal reference mass, folding empty edges into the end groups', () => {
    expect(equalMassGroups([0, 0, 5, 5, 5, 5, 0, 0], 4)).toEqual([
      [0, 3],
      [3, 4],
      [4, 5],
      [5, 8],
    ]);
    expect(equalMassGroups([0, 100, 0, 0], 10)).toEqual([
      [0, 2],
      [2, 4],
    ]);
    expect(equalMassGroups([1, 1, 1], 1)).toEqual([[0, 3]]);
  });
});
