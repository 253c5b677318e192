import type { TrainingExample } from '../dataset';
import { createRandom, randomUnitVector, type SeededRandom } from '../random';

/**
 * Synthetic face embeddings clustered like real ones: each identity has a random centre on the
 * 512-d sphere and each example is `√s·centre + √(1−s)·noise` (noise a random unit direction,
 * nearly orthogonal to everything in 512 dimensions), so two examples of one person have cosine ≈ s
 * (`sameCosine`) and two different people ≈ 0. Strangers and non-faces are random directions.
 *
 * Examples come in visits: `framesPerVisit` frames one second apart on one device (near-duplicates
 * of one another, cosine ≈ `frameCosine`), visits ten minutes apart, devices round-robin.
 */
export interface SyntheticFacesOptions {
  identities: number;
  perIdentity: number;
  strangers: number;
  notFaces: number;
  seed: number;
  sameCosine: number;
  dimension: number;
  devices: number;
  framesPerVisit: number;
  /** Cosine between two frames of one visit (≥ sameCosine). */
  frameCosine: number;
  startTime: number;
}

export const DEFAULT_SYNTHETIC_OPTIONS: Readonly<SyntheticFacesOptions> = Object.freeze({
  identities: 10,
  perIdentity: 10,
  strangers: 0,
  notFaces: 0,
  seed: 1,
  sameCosine: 0.8,
  dimension: 512,
  devices: 3,
  framesPerVisit: 1,
  frameCosine: 0.95,
  startTime: Date.UTC(2026, 0, 1),
});

const VISIT_GAP_MS = 10 * 60_000;
const FRAME_GAP_MS = 1_000;

const pad = (n: number) => String(n).padStart(4, '0');

export function identityLabel(index: number): string {
  return `person-${pad(index)}`;
}

/** `√s·centre + √(1−s)·noise`, renormalised: cosine √s to the centre, ≈ s to another such sample. */
export function around(centre: Float32Array, cosine: number, random: SeededRandom): Float32Array {
  const noise = randomUnitVector(centre.length, random);
  const a = Math.sqrt(cosine);
  const b = Math.sqrt(1 - cosine);
  const v = new Float32Array(centre.length);
  let sum = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = a * centre[i] + b * noise[i];
    sum += v[i] * v[i];
  }
  const norm = Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

export function syntheticFaces(options: Partial<SyntheticFacesOptions> = {}): TrainingExample[] {
  const o = { ...DEFAULT_SYNTHETIC_OPTIONS, ...options };
  if (!(o.sameCosine > 0 && o.sameCosine < 1 && o.frameCosine >= o.sameCosine && o.frameCosine < 1)) {
    throw new RangeError(`need 0 < sameCosine ≤ frameCosine < 1, got ${o.sameCosine} and ${o.frameCosine}`);
  }
  const random = createRandom(o.seed);
  const examples: TrainingExample[] = [];
  let visit = 0;
  const device = () => `device-${(visit % o.devices) + 1}`;
  for (let p = 0; p < o.identities; p++) {
    const label = identityLabel(p + 1);
    const centre = randomUnitVector(o.dimension, random);
    let base = centre;
    for (let j = 0; j < o.perIdentity; j++) {
      const frame = j % o.framesPerVisit;
      if (frame === 0) {
        visit++;
        // The visit's look: two visits' looks meet at s/f, so frames of two visits meet at (s/f)·f = s.
        base = o.framesPerVisit > 1 ? around(centre, o.sameCosine / o.frameCosine, random) : centre;
      }
      const embedding =
        o.framesPerVisit > 1 ? around(base, o.frameCosine, random) : around(centre, o.sameCosine, random);
      examples.push({
        id: `${label}/${pad(j + 1)}`,
        label,
        kind: 'identity',
        embedding,
        group: device(),
        time: o.startTime + visit * VISIT_GAP_MS + frame * FRAME_GAP_MS,
      });
    }
  }
  const unlabelled = (kind: 'stranger' | 'not_a_face', count: number) => {
    for (let j = 0; j < count; j++) {
      visit++;
      examples.push({
        id: `${kind === 'stranger' ? 'stranger' : 'not-a-face'}-${pad(j + 1)}`,
        label: null,
        kind,
        embedding: randomUnitVector(o.dimension, random),
        group: device(),
        time: o.startTime + visit * VISIT_GAP_MS,
      });
    }
  };
  unlabelled('stranger', o.strangers);
  unlabelled('not_a_face', o.notFaces);
  return examples;
}
