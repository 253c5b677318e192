import type { TrainingExample } from './dataset';
import { createRandom } from './random';
import { trainHead } from './trainer';
import { dot } from './vectors';

const D = 64;

/** A unit vector from a few leading components plus a little seeded noise in the rest. */
function face(components: number[], noise: number, random: ReturnType<typeof createRandom>): Float32Array {
  const v = new Float32Array(D);
  components.forEach((c, i) => (v[i] = c));
  for (let i = components.length; i < D; i++) v[i] = noise * random.gaussian();
  let n = 0;
  for (const x of v) n += x * x;
  return v.map((x) => x / Math.sqrt(n));
}

let serial = 0;
function example(label: string | null, embedding: Float32Array, kind: TrainingExample['kind'] = 'identity'): TrainingExample {
  serial++;
  return { id: `e${String(serial).padStart(4, '0')}`, label, kind, embedding, group: 'cam-1', time: serial * 120_000 };
}

/**
 * Two people photographed mostly under one light each: A is lit from one side (+L) in 9 of 10
 * training photos, B from the other (−L). The class means absorb the lighting, so a prototype head
 * calls "A under −L" B and "B under +L" A; a discriminative head learns to ignore L.
 * Axes: 0 = A, 1 = B, 2 = L.
 */
function lightingDataset(seed: number) {
  const random = createRandom(seed);
  const train: TrainingExample[] = [];
  for (let i = 0; i < 10; i++) train.push(example('A', face([1, 0, i < 9 ? 1 : -1], 0.03, random)));
  for (let i = 0; i < 10; i++) train.push(example('B', face([0, 1, i < 9 ? -1 : 1], 0.03, random)));
  const validation: TrainingExample[] = [];
  for (let i = 0; i < 5; i++) validation.push(example('A', face([1, 0, -1], 0.03, random)));
  for (let i = 0; i < 5; i++) validation.push(example('B', face([0, 1, 1], 0.03, random)));
  return { train, validation };
}

describe('trainHead', () => {
  it('prototypes fail under the lighting confound; logistic fixes it and auto keeps it', () => {
    const { train, validation } = lightingDataset(5);
    const prototypes = trainHead(train, validation, { method: 'prototypes' });
    expect(prototypes.validation.accuracy).toBe(0); // every minority-light probe goes to the other person
    const auto = trainHead(train, validation, { method: 'auto', seed: 5 });
    expect(auto.method).toBe('logistic');
    expect(auto.validation.accuracy).toBe(1);
    expect(auto.compared.prototypes?.accuracy).toBe(0);
    expect(auto.notes.at(-1)).toMatch(/^logistic kept: validation rank-1 1\.0000 > prototypes 0\.0000/);
    // Rows stay unit length and the lighting axis is (mostly) gone from them.
    for (const row of auto.head.prototypes) expect(dot(row, row)).toBeCloseTo(1, 5);
    expect(Math.abs(auto.head.prototypes[0][2])).toBeLessThan(Math.abs(prototypes.head.prototypes[0][2]) / 2);
    expect(auto.logistic!.loss.last).toBeLessThan(auto.logistic!.loss.first);
  });

  it('auto keeps the prototypes on a tie', () => {
    const random = createRandom(9);
    const train = ['A', 'B', 'C'].flatMap((label, k) => Array.from({ length: 6 }, () => example(label, face([k === 0 ? 1 : 0, k === 1 ? 1 : 0, k === 2 ? 1 : 0], 0.05, random))));
    const validation = ['A', 'B', 'C'].map((label, k) => example(label, face([k === 0 ? 1 : 0, k === 1 ? 1 : 0, k === 2 ? 1 : 0], 0.05, random)));
    const trained = trainHead(train, validation, { seed: 1 });
    expect(trained.compared.logistic?.accuracy).toBe(1);
    expect(trained.compared.prototypes?.accuracy).toBe(1);
    expect(trained.method).toBe('prototypes');
    expect(trained.notes).toContain('no stranger or not-a-face examples in train: the logistic head learned no explicit unknown');
  });

  it('is deterministic', () => {
    const { train, validation } = lightingDataset(6);
    const a = trainHead(train, validation, { method: 'logistic', seed: 3 });
    const b = trainHead(train, validation, { method: 'logistic', seed: 3 });
    expect(a.head.prototypes.map((p) => Array.from(p))).toEqual(b.head.prototypes.map((p) => Array.from(p)));
  });
});
