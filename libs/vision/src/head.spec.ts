/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { InvalidHeadError } from './errors';
import { buildIdentityHead, computePrototypes, IdentityHead, readHeadLabels } from './head';
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
});
