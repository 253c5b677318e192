import { kolmogorovSurvival, standardNormalCdf, twoSidedNormalPValue } from './distributions';

describe('distributions', () => {
  it('gives the Kolmogorov survival function (reference: scipy.special.kolmogorov)', () => {
    const reference: Array<[number, number]> = [
      [0.3, 0.9999906941986655],
      [0.5, 0.9639452436648751],
      [0.8, 0.5441424115741981],
      [1.0, 0.26999967167735456],
      [1.18, 0.1234538094297657],
      [1.2239, 0.09997449271179772],
      [1.3581, 0.0499996304316674],
      [1.6276, 0.010001537333060776],
      [2.0, 0.0006709252557796953],
      [3.0, 3.045995948942526e-8],
    ];
    for (const [lambda, q] of reference) expect(Math.abs(kolmogorovSurvival(lambda) - q)).toBeLessThan(1e-12);
    expect(kolmogorovSurvival(0)).toBe(1);
    expect(kolmogorovSurvival(0.01)).toBe(1);
    expect(kolmogorovSurvival(10)).toBeLessThan(1e-80);
    // Both series meet at the switch point.
    expect(Math.abs(kolmogorovSurvival(1.18 - 1e-12) - kolmogorovSurvival(1.18))).toBeLessThan(1e-10);
  });

  it('gives normal tail probabilities to about seven digits', () => {
    expect(twoSidedNormalPValue(1.959963984540054)).toBeCloseTo(0.05, 7);
    expect(twoSidedNormalPValue(-3)).toBeCloseTo(0.0026997960632601866, 8);
    expect(twoSidedNormalPValue(0)).toBeCloseTo(1, 7);
    expect(standardNormalCdf(-1)).toBeCloseTo(0.15865525393145707, 7);
    expect(standardNormalCdf(2.5)).toBeCloseTo(0.9937903346742238, 7);
    expect(twoSidedNormalPValue(40)).toBe(0);
  });
});
