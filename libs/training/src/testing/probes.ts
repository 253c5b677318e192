import type { IdentityPrototypes } from '@edgeloop/vision';
import type { ExampleKind } from '../dataset';
import type { OpenSetProbe } from '../open-set';

/**
 * Hand-made probes for the metric specs: a two-identity head with rows e₀ (`A`) and e₁ (`B`) in
 * three dimensions, and probes whose cosine to A and B is exactly what the spec says (the third
 * axis takes up the rest of the unit length).
 */
export const TWO_PEOPLE: IdentityPrototypes = {
  labels: ['A', 'B'],
  prototypes: [Float32Array.from([1, 0, 0]), Float32Array.from([0, 1, 0])],
};

export function probeAt(toA: number, toB: number, label: string | null, group = 'dev-1', kind?: ExampleKind): OpenSetProbe {
  const rest = 1 - toA * toA - toB * toB;
  if (rest < 0) throw new RangeError(`no unit vector has cosines ${toA} and ${toB} to two orthogonal rows`);
  return { label, kind: kind ?? (label === null ? 'stranger' : 'identity'), group, embedding: Float32Array.from([toA, toB, Math.sqrt(rest)]) };
}
