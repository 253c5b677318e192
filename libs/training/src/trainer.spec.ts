import type { TrainingExample } from './dataset';
import { fitLogistic } from './logistic';
import { trimmedPrototypes } from './prototypes';
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

describe('trimmedPrototypes', () => {
  it('drops the farthest trimFraction before averaging', () => {
    const e = (v: number[]) => example('A', Float32Array.from(v));
    const examples = [...Array.from({ length: 9 }, () => e([1, 0, 0])), e([0, 1, 0])];
    const trimmed = trimmedPrototypes(examples, 0.1);
    expect(trimmed.labels).toEqual(['A']);
    expect(Array.from(trimmed.prototypes[0])).toEqual([1, 0, 0]);
    // No trimming: (9, 1, 0) / √82.
    const plain = trimmedPrototypes(examples, 0).prototypes[0];
    expect(plain[0]).toBeCloseTo(9 / Math.sqrt(82), 6);
    expect(plain[1]).toBeCloseTo(1 / Math.sqrt(82), 6);
  });

  it('sorts labels and ignores strangers', () => {
    const examples = [
      example('zoe', Float32Array.from([0, 1])),
      example(null, Float32Array.from([1, 0]), 'stranger'),
      example('adam', Float32Array.from([1, 0])),
    ];
    expect(trimmedPrototypes(examples, 0.1).labels).toEqual(['adam', 'zoe']);
  });
});

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

  it('pushes every row away from strangers in train', () => {
    const random = createRandom(11);
    const train: TrainingExample[] = [];
    // Strangers sit between A and B (axis 2 mixes into both), people on axes 0 and 1.
    for (let i = 0; i < 8; i++) train.push(example('A', face([1, 0, 0.6], 0.05, random)));
    for (let i = 0; i < 8; i++) train.push(example('B', face([0, 1, 0.6], 0.05, random)));
    const strangers = Array.from({ length: 16 }, () => example(null, face([0.3, 0.3, 1], 0.05, random), 'stranger'));
    const start = trimmedPrototypes(train, 0);
    const fit = fitLogistic(start, [...train, ...strangers], { epochs: 60 });
    const topCosine = (rows: Float32Array[]) => Math.max(...strangers.flatMap((s) => rows.map((r) => dot(s.embedding, r))));
    const before = topCosine(start.prototypes);
    const after = topCosine(fit.head.prototypes);
    expect(before).toBeGreaterThan(0.6);
    expect(after).toBeLessThan(before - 0.1);
    // The people stay where they were: own-row cosine still high.
    for (const e of train) expect(dot(e.embedding, fit.head.prototypes[e.label === 'A' ? 0 : 1])).toBeGreaterThan(0.7);
  });
});
