/** Deterministic random numbers for the specs: the same seed gives the same samples on every run. */

/** mulberry32: a small 32-bit generator, good enough for test samples (not for cryptography). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal samples by the Box–Muller transform on a seeded uniform source. */
export function seededNormal(seed: number, mean = 0, sd = 1): () => number {
  const uniform = seededRandom(seed);
  return () => {
    const u = 1 - uniform(); // (0, 1]: log(u) is finite
    const v = uniform();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

export function samples(count: number, next: () => number): number[] {
  return Array.from({ length: count }, next);
}
