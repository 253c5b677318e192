/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { InvalidHeadError } from './errors';
import { buildIdentityHead, computePrototypes, IdentityHead, quantisePrototypes, readHeadLabels, readIdentityHead } from './head';
import { cosineScores } from './matching';

const settings = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' as const };

/** Deterministic pseudo-random unit vectors. */
function randomUnit(seed: number, dim = 512): Float32Array {
  let s = seed;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('identity head (ONNX built with onnx-proto)', () => {
  const samples = Array.from({ length: 12 }, (_, i) => ({ label: `id-${i % 5}`, embedding: randomUnit(i + 1) }));
  const prototypes = computePrototypes(samples);

  it('loads in onnxruntime and scores like cosine in JS', async () => {
    const bytes = buildIdentityHead(prototypes);
    expect(readHeadLabels(bytes)).toEqual(prototypes.labels);
    const head = await IdentityHead.load(Buffer.from(bytes), prototypes.labels, settings);
    try {
      const probes = [randomUnit(100), randomUnit(101), samples[3].embedding];
      const scores = await head.score(probes);
      expect(scores).toHaveLength(3);
      probes.forEach((p, i) => {
        const expected = cosineScores(p, prototypes.prototypes);
        expect(scores[i]).toHaveLength(5);
        scores[i].forEach((s, j) => expect(Math.abs(s - expected[j])).toBeLessThan(1e-5));
      });
      expect(await head.score([])).toEqual([]);
    } finally {
      await head.release();
    }
  });

  it('refuses a head whose width does not match the labels, or an empty one', async () => {
    const bytes = buildIdentityHead(prototypes);
    await expect(IdentityHead.load(bytes, ['a', 'b'], settings)).rejects.toBeInstanceOf(InvalidHeadError);
    await expect(IdentityHead.load(bytes, ['a', 'b', 'c', 'd', 'a'], settings)).rejects.toThrow(/unique/);
    expect(() => buildIdentityHead({ labels: [], prototypes: [] })).toThrow(InvalidHeadError);
    await expect(IdentityHead.load(Buffer.from('not onnx'), ['a'], settings)).rejects.toMatchObject({
      code: 'MODEL_LOAD_FAILED',
    });
  });

  describe('int8 weights (per-identity scale, DequantizeLinear before the MatMul)', () => {
    // 100 identities, as a retrained head: prototypes are normalised means of a few samples
    const many = computePrototypes(Array.from({ length: 300 }, (_, i) => ({ label: `p-${i % 100}`, embedding: randomUnit(1000 + i) })));
    const probes = Array.from({ length: 64 }, (_, i) => randomUnit(5000 + i));
    // plus probes close to a prototype (a matching face scores ≈ 0.8, where the threshold lives)
    for (let j = 0; j < 16; j++) probes.push(many.prototypes[j].map((v, i) => 0.8 * v + 0.6 * probes[j][i]));

    it('loads in onnxruntime unchanged and scores within the stated bound of float32 (|Δ| ≤ ‖Δw_j‖₂ < 1e-2; seen < 3e-3)', async () => {
      const float = await IdentityHead.load(Buffer.from(buildIdentityHead(many)), many.labels, settings);
      const int8Bytes = buildIdentityHead(many, { weights: 'int8' });
      const int8 = await IdentityHead.load(Buffer.from(int8Bytes), many.labels, settings);
      try {
        const q = quantisePrototypes(many);
        // the per-identity bound: ‖Δw_j‖₂ for the rounding actually done, never above √D · scale_j / 2
        const bounds = many.prototypes.map((p, j) => {
          let sq = 0;
          for (let i = 0; i < p.length; i++) sq += (p[i] - q.values[i * 100 + j] * q.scales[j]) ** 2;
          expect(Math.sqrt(sq)).toBeLessThanOrEqual((Math.sqrt(p.length) * q.scales[j]) / 2);
          return Math.sqrt(sq);
        });
        expect(Math.max(...bounds)).toBeLessThan(1e-2);
        const [a, b] = [await float.score(probes), await int8.score(probes)];
        let worst = 0;
        probes.forEach((probe, n) => {
          const norm = Math.hypot(...probe);
          a[n].forEach((s, j) => {
            const diff = Math.abs(s - b[n][j]);
            worst = Math.max(worst, diff);
            expect(diff).toBeLessThanOrEqual(bounds[j] * norm + 1e-6);
          });
          // the best identity of a matching probe does not change
          if (n >= 64) expect(b[n].indexOf(Math.max(...b[n]))).toBe(a[n].indexOf(Math.max(...a[n])));
        });
        expect(worst).toBeGreaterThan(0); // it is quantised, not the float head again
        expect(worst).toBeLessThan(3e-3);
      } finally {
        await float.release();
        await int8.release();
      }
    });

    it('is about a quarter of the float32 head, and reads back as the prototypes it scores with', async () => {
      const floatBytes = buildIdentityHead(many);
      const int8Bytes = buildIdentityHead(many, { weights: 'int8' });
      // 512 × 100 values: 204,800 bytes as float32, 51,200 as int8 (+ 100 scales and zero points, labels)
      expect(floatBytes.length).toBeGreaterThan(204_800);
      expect(int8Bytes.length).toBeLessThan(51_200 + 2_000);
      expect(readHeadLabels(int8Bytes)).toEqual(many.labels);
      const read = readIdentityHead(int8Bytes);
      expect(read.weights).toBe('int8');
      expect(read.labels).toEqual(many.labels);
      const head = await IdentityHead.load(Buffer.from(int8Bytes), many.labels, settings);
      try {
        const scores = await head.score(probes.slice(0, 8));
        scores.forEach((row, n) => {
          const expected = cosineScores(probes[n], read.prototypes);
          row.forEach((s, j) => expect(Math.abs(s - expected[j])).toBeLessThan(1e-5));
        });
      } finally {
        await head.release();
      }
      const readFloat = readIdentityHead(floatBytes, many.labels);
      expect(readFloat.weights).toBe('float32');
      readFloat.prototypes.forEach((p, j) => expect(Array.from(p)).toEqual(Array.from(many.prototypes[j])));
    });
  });
});
