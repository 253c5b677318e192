import type { TrainingExample } from './dataset';
import { accumulateGradient, fitLogistic } from './logistic';
import { trimmedPrototypes } from './prototypes';
import { createRandom, randomUnitVector } from './random';
import { around } from './testing/synthetic';
import { dot } from './vectors';

const D = 64;

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
  return { id: `e${serial}`, label, kind, embedding, group: 'cam-1', time: serial * 120_000 };
}

describe('accumulateGradient', () => {
  it('matches central finite differences of the loss', () => {
    const random = createRandom(2);
    const k = 3;
    const d = 5;
    const n = 6;
    const x = new Float32Array(n * d);
    for (let e = 0; e < n; e++) x.set(randomUnitVector(d, random), e * d);
    const w = new Float32Array(k * d);
    for (let r = 0; r < k; r++) w.set(randomUnitVector(d, random), r * d);
    const target = Int32Array.from([0, 1, 2, 0, 3, 3]); // 3 = unknown
    const candidates = Int32Array.from({ length: n * k }, (_, i) => i % k); // every row: the full softmax
    const scale = 4;
    const bias = 0.2;
    const lossAt = (weights: Float32Array, b = bias) =>
      accumulateGradient(x, n, d, weights, k, candidates, k, target, scale, b, new Float32Array(k * d), new Float64Array(k + 1)).loss / n;
    const grad = new Float32Array(k * d);
    const { biasGrad } = accumulateGradient(x, n, d, w, k, candidates, k, target, scale, bias, grad, new Float64Array(k + 1));
    const h = 1e-3;
    for (let i = 0; i < k * d; i++) {
      const plus = Float32Array.from(w);
      const minus = Float32Array.from(w);
      plus[i] += h;
      minus[i] -= h;
      const numeric = (lossAt(plus) - lossAt(minus)) / (plus[i] - minus[i]);
      expect(Math.abs(grad[i] - numeric)).toBeLessThan(1e-3 * Math.max(1, Math.abs(numeric)));
    }
    expect(biasGrad).toBeCloseTo((lossAt(w, bias + h) - lossAt(w, bias - h)) / (2 * h), 4);
    expect(Math.max(...Array.from(grad, Math.abs))).toBeGreaterThan(0.01); // not a trivial zero gradient
  });
});

describe('fitLogistic', () => {
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
    // The people stay where they were: own-row cosine still high, rows unit length.
    for (const e of train) expect(dot(e.embedding, fit.head.prototypes[e.label === 'A' ? 0 : 1])).toBeGreaterThan(0.7);
    for (const row of fit.head.prototypes) expect(dot(row, row)).toBeCloseTo(1, 5);
    expect(fit.unknownCosine).toBeGreaterThan(0.4); // the unknown level rose to sit above the strangers
  });

  it('truncating the softmax to the nearest rows changes the head by almost nothing', () => {
    const random = createRandom(13);
    const centres = Array.from({ length: 12 }, () => randomUnitVector(D, random));
    const train = centres.flatMap((c, p) => Array.from({ length: 5 }, () => example(`p${String(p).padStart(2, '0')}`, around(c, 0.5, random))));
    const start = trimmedPrototypes(train, 0);
    const full = fitLogistic(start, train, { candidates: 12, epochs: 30 });
    const truncated = fitLogistic(start, train, { candidates: 4, epochs: 30 });
    let moved = 0;
    let difference = 0;
    full.head.prototypes.forEach((row, r) => {
      moved = Math.max(moved, 1 - dot(row, start.prototypes[r]));
      difference = Math.max(difference, 1 - dot(row, truncated.head.prototypes[r]));
    });
    expect(moved).toBeGreaterThan(1e-3); // training did move the rows…
    expect(difference).toBeLessThan(moved / 20); // …and the truncated softmax moved them the same way
    expect(truncated.loss.last).toBeLessThan(truncated.loss.first);
  });

  it('refuses bad options', () => {
    const start = { labels: ['A'], prototypes: [Float32Array.from([1, 0])] };
    expect(() => fitLogistic(start, [], { learningRate: 0 })).toThrow(/invalid logistic options/);
  });
});
