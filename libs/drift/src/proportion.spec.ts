import { twoProportionZTest } from './proportion';

describe('twoProportionZTest', () => {
  it('matches known numbers', () => {
    // 48 % vs 52 % of 1000: p̂ = 0.5, SE = √(0.25 · 0.002), z = 1.78885…, two-sided p = 0.07364 (scipy).
    const even = twoProportionZTest({ successes: 480, trials: 1000 }, { successes: 520, trials: 1000 })!;
    expect(even.z).toBeCloseTo(1.7888543819998333, 10);
    expect(even.pValue).toBeCloseTo(0.0736382701203024, 7);
    expect(even.difference).toBeCloseTo(0.04, 12);
    expect(even.approximationValid).toBe(true);
    // Unknown rate 5 % → 11 % of 600 faces.
    const unknowns = twoProportionZTest({ successes: 30, trials: 600 }, { successes: 66, trials: 600 })!;
    expect(unknowns.z).toBeCloseTo(3.8306543884143687, 10);
    expect(unknowns.pValue).toBeCloseTo(0.00012780291321713442, 9);
    expect(twoProportionZTest({ successes: 66, trials: 600 }, { successes: 30, trials: 600 })!.z).toBeCloseTo(-3.8306543884143687, 10);
  });

  it('flags tiny counts where the normal approximation does not hold', () => {
    const tiny = twoProportionZTest({ successes: 0, trials: 40 }, { successes: 3, trials: 40 })!;
    expect(tiny.approximationValid).toBe(false);
    const none = twoProportionZTest({ successes: 0, trials: 500 }, { successes: 0, trials: 500 })!;
    expect(none).toMatchObject({ z: 0, pValue: 1, difference: 0, approximationValid: false });
    const all = twoProportionZTest({ successes: 500, trials: 500 }, { successes: 80, trials: 80 })!;
    expect(all).toMatchObject({ z: 0, pValue: 1, approximationValid: false });
  });

  it('has nothing to say about an empty sample and refuses impossible counts', () => {
    expect(twoProportionZTest({ successes: 0, trials: 0 }, { successes: 1, trials: 10 })).toBeNull();
    expect(() => twoProportionZTest({ successes: 11, trials: 10 }, { successes: 1, trials: 10 })).toThrow(RangeError);
  });
});
