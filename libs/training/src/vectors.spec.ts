import { dot, normalise, normalisedMean } from './vectors';

describe('vectors', () => {
  it('dot product, including the unrolled tail', () => {
    expect(dot(Float32Array.from([1, 2, 3, 4, 5]), Float32Array.from([5, 4, 3, 2, 1]))).toBe(35);
    expect(dot(new Float32Array(0), new Float32Array(0))).toBe(0);
  });

  it('normalises in place and leaves a zero vector alone', () => {
    const v = Float32Array.from([3, 4]);
    expect(normalise(v)).toBe(v);
    expect(Array.from(v)).toEqual([0.6000000238418579, 0.800000011920929]);
    expect(Array.from(normalise(new Float32Array(2)))).toEqual([0, 0]);
  });

  it('normalised mean', () => {
    const m = normalisedMean([Float32Array.from([1, 0]), Float32Array.from([0, 1])]);
    expect(m[0]).toBeCloseTo(Math.SQRT1_2, 7);
    expect(m[1]).toBeCloseTo(Math.SQRT1_2, 7);
  });
});
