/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readModelBundle } from '@edgeloop/vision';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { createRandom } from '../random';
import { appendOrthogonalTransform, orthogonalMatrix } from './orthogonal-embedder';

const MODELS = path.resolve(__dirname, '../../../../models/base');
const settings: InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('orthogonalMatrix', () => {
  it('is orthogonal and seeded', () => {
    const n = 64;
    const q = orthogonalMatrix(n, 3);
    for (const [r, s] of [[0, 0], [0, 1], [5, 63], [63, 63]]) {
      let d = 0;
      for (let i = 0; i < n; i++) d += q[r * n + i] * q[s * n + i];
      expect(d).toBeCloseTo(r === s ? 1 : 0, 10);
    }
    expect(orthogonalMatrix(n, 3)).toEqual(q);
    expect(orthogonalMatrix(n, 4)[0]).not.toBe(q[0]);
  });
});

describe('appendOrthogonalTransform on the real base embedder', () => {
  let base: InferenceSession;
  let rotated: InferenceSession;
  const q = orthogonalMatrix(512, 11);

  beforeAll(async () => {
    const bundle = await readModelBundle(MODELS);
    const bytes = readFileSync(bundle.models.embedder);
    base = await InferenceSession.create(bytes, settings);
    rotated = await InferenceSession.create(appendOrthogonalTransform(bytes, 11), settings);
  });
  afterAll(async () => {
    await base?.release();
    await rotated?.release();
  });

  const input = (seed: number) => {
    const random = createRandom(seed);
    return new Tensor('float32', Float32Array.from({ length: 3 * 112 * 112 }, () => random.next() * 2 - 1), [1, 3, 112, 112]);
  };
  const run = async (session: InferenceSession, seed: number) => {
    const out = await session.run({ input: input(seed) });
    return out.output;
  };

  it('keeps the output name and shape, and outputs base × Q', async () => {
    expect(rotated.outputNames).toEqual(['output']);
    const before = await run(base, 1);
    const after = await run(rotated, 1);
    expect(after.dims).toEqual([1, 512]);
    const x = before.data as Float32Array;
    const y = after.data as Float32Array;
    let worst = 0;
    let scale = 0;
    for (let j = 0; j < 512; j++) {
      let expected = 0;
      for (let i = 0; i < 512; i++) expected += x[i] * q[i * 512 + j];
      worst = Math.max(worst, Math.abs(y[j] - expected));
      scale = Math.max(scale, Math.abs(expected));
    }
    expect(worst / scale).toBeLessThan(1e-4);
  });

  it('preserves cosines between faces while the raw vectors change', async () => {
    const [a0, b0, a1, b1] = await Promise.all([run(base, 1), run(base, 2), run(rotated, 1), run(rotated, 2)]);
    const [a, b, ra, rb] = [a0, b0, a1, b1].map((t) => t.data as Float32Array);
    expect(cosine(a, b)).toBeLessThan(0.95); // two different inputs: a cosine worth preserving
    expect(cosine(ra, rb)).toBeCloseTo(cosine(a, b), 4);
    expect(Math.abs(cosine(a, ra))).toBeLessThan(0.3); // the same face, a different vector
    expect(cosine(a, a)).toBeCloseTo(1, 6);
  });
});
