import { createRandom, gaussianVector, randomUnitVector, shuffle } from './random';
import { dot } from './vectors';

describe('seeded random', () => {
  it('reproduces mulberry32 for a seed', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const first = [a.next(), a.next(), a.next()];
    expect([b.next(), b.next(), b.next()]).toEqual(first);
    // Reference values of mulberry32(42) (the usual public implementation).
    expect(first[0]).toBeCloseTo(0.6011037519201636, 15);
    expect(createRandom(43).next()).not.toBe(first[0]);
  });

  it('draws uniforms evenly across ten bins', () => {
    const random = createRandom(7);
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) bins[Math.floor(random.next() * 10)]++;
    const chiSquare = bins.reduce((s, n) => s + (n - 2000) ** 2 / 2000, 0);
    expect(chiSquare).toBeLessThan(27.88); // 99.9th percentile of chi-square with 9 degrees of freedom
    expect(Math.min(...Array.from({ length: 1000 }, () => random.int(3)))).toBe(0);
  });

  it('draws standard normals', () => {
    const v = gaussianVector(20_000, createRandom(3));
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / (v.length - 1);
    expect(Math.abs(mean)).toBeLessThan(0.03); // 4 standard errors
    expect(Math.abs(variance - 1)).toBeLessThan(0.04);
    expect(v.filter((x) => Math.abs(x) > 1.96).length / v.length).toBeCloseTo(0.05, 1);
  });

  it('draws unit vectors that are nearly orthogonal in 512 dimensions', () => {
    const random = createRandom(5);
    const a = randomUnitVector(512, random);
    const b = randomUnitVector(512, random);
    expect(dot(a, a)).toBeCloseTo(1, 5);
    expect(Math.abs(dot(a, b))).toBeLessThan(4 / Math.sqrt(512));
  });

  it('shuffles to a permutation, the same one for the same seed', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const once = shuffle([...items], createRandom(9));
    expect(shuffle([...items], createRandom(9))).toEqual(once);
    expect([...once].sort((x, y) => x - y)).toEqual(items);
    expect(once).not.toEqual(items);
    expect(shuffle([...items], createRandom(10))).not.toEqual(once);
  });
});
