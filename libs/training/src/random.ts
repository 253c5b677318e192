import { normalise } from './vectors';

/**
 * Seeded pseudo-random numbers for training: the same seed gives the same split, the same shuffle
 * and the same synthetic faces on every machine. mulberry32 (32-bit state) for uniforms, Box–Muller
 * for gaussians. Not for cryptography.
 */

export interface SeededRandom {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample. */
  gaussian(): number;
}

/** mulberry32 step over a 32-bit state. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function createRandom(seed: number): SeededRandom {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const uniform = mulberry32(Math.trunc(seed));
  let spare: number | null = null;
  return {
    next: uniform,
    int: (n) => Math.floor(uniform() * n),
    gaussian() {
      if (spare !== null) {
        const value = spare;
        spare = null;
        return value;
      }
      const u = 1 - uniform(); // (0, 1]: log(u) is finite
      const v = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}

/** Fisher–Yates shuffle in place; returns the same array. */
export function shuffle<T>(items: T[], random: SeededRandom): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const held = items[i];
    items[i] = items[j];
    items[j] = held;
  }
  return items;
}

/** A vector of independent standard normal samples. */
export function gaussianVector(dimension: number, random: SeededRandom): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = random.gaussian();
  return v;
}

/** A direction drawn uniformly on the unit sphere. */
export function randomUnitVector(dimension: number, random: SeededRandom): Float32Array {
  return normalise(gaussianVector(dimension, random));
}
