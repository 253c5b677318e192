import { addObservation, emptyMoments, momentsFromHistogram } from './moments';
import { addValues, createHistogram } from './histogram';
import { standardizedMeanDifference } from './shift';
import { samples, seededNormal } from './testing/random';

const momentsOf = (values: number[]) => values.reduce(addObservation, emptyMoments());

describe('standardizedMeanDifference', () => {
  it("gives Cohen's d with the pooled standard deviation", () => {
    // Means 4 and 6; both samples have variance 2.5: d = 2 / √2.5.
    const shift = standardizedMeanDifference(momentsOf([2, 3, 4, 5, 6]), momentsOf([4, 5, 6, 7, 8]))!;
    expect(shift.d).toBeCloseTo(2 / Math.sqrt(2.5), 12);
    expect(shift.difference).toBe(2);
    expect(standardizedMeanDifference(momentsOf([4, 5, 6, 7, 8]), momentsOf([2, 3, 4, 5, 6]))!.d).toBeCloseTo(-2 / Math.sqrt(2.5), 12);
  });

  it('is near 0 for one distribution and large for a darker scene, from moments or from bins', () => {
    const day = samples(2000, seededNormal(1, 120, 12));
    const dayAgain = samples(2000, seededNormal(2, 120, 12));
    const dusk = samples(2000, seededNormal(3, 60, 10));
    expect(Math.abs(standardizedMeanDifference(momentsOf(day), momentsOf(dayAgain))!.d)).toBeLessThan(0.1);
    const exact = standardizedMeanDifference(momentsOf(day), momentsOf(dusk))!.d;
    expect(exact).toBeLessThan(-4);
    const spec = { scale: 'linear', min: 0, max: 256, bins: 64 } as const;
    const binned = standardizedMeanDifference(
      momentsFromHistogram(addValues(createHistogram(spec), day)),
      momentsFromHistogram(addValues(createHistogram(spec), dusk)),
    )!.d;
    expect(Math.abs(binned - exact)).toBeLessThan(0.1);
  });

  it('floors the scale so a static scene does not turn a small change into a huge effect', () => {
    const still = momentsOf([100, 100.1, 99.9, 100, 100.05]);
    const slightlyBrighter = momentsOf([101, 101.1, 100.9, 101, 101.05]);
    expect(Math.abs(standardizedMeanDifference(still, slightlyBrighter)!.d)).toBeGreaterThan(10);
    const floored = standardizedMeanDifference(still, slightlyBrighter, { minScale: 5 })!;
    expect(floored.d).toBeCloseTo(0.2, 12);
    expect(floored.scale).toBe(5);
    expect(standardizedMeanDifference(momentsOf([1, 1]), momentsOf([2, 2]))!.d).toBe(Infinity);
    expect(standardizedMeanDifference(momentsOf([1]), momentsOf([1, 2]))).toBeNull();
  });
});
