import { addObservation, emptyMoments, mergeMoments, sampleVariance } from './moments';
import { samples, seededNormal } from './testing/random';

function direct(values: number[]) {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, variance };
}

describe('moments', () => {
  it('match the two-pass mean and variance, and merging partial moments equals one pass', () => {
    const values = samples(3000, seededNormal(9, 50, 7));
    const whole = values.reduce(addObservation, emptyMoments());
    const parts = [values.slice(0, 10), values.slice(10, 1700), [], values.slice(1700)].map((part) => part.reduce(addObservation, emptyMoments()));
    const merged = mergeMoments(parts[0], ...parts.slice(1));
    const expected = direct(values);
    for (const m of [whole, merged]) {
      expect(m.count).toBe(3000);
      expect(m.mean).toBeCloseTo(expected.mean, 10);
      expect(sampleVariance(m)).toBeCloseTo(expected.variance, 8);
    }
  });

  it('keeps precision when the spread is tiny next to the mean', () => {
    const values = [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16];
    const m = mergeMoments(values.slice(0, 2).reduce(addObservation, emptyMoments()), values.slice(2).reduce(addObservation, emptyMoments()));
    expect(sampleVariance(m)).toBeCloseTo(30, 6);
  });

  it('ignores non-finite values and has no variance below two values', () => {
    const m = addObservation(addObservation(emptyMoments(), Number.NaN), 3);
    expect(m).toEqual({ count: 1, mean: 3, m2: 0 });
    expect(sampleVariance(m)).toBeNull();
  });
});
