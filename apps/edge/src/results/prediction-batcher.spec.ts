import type { FrameResult } from '@edgeloop/contracts';
import { PredictionBatcher, type UnnumberedBatch } from './prediction-batcher';

const item = (ts: number): FrameResult => ({
  ts,
  faces: [],
  stats: { brightness: 100, contrast: 10, sharpness: 5 },
  timings: { detect: 1, align: 0, embed: 0, head: 0, total: 1 },
});
const v1 = { name: 'face-id', version: 1 };
const v2 = { name: 'face-id', version: 2 };

describe('PredictionBatcher', () => {
  let batches: UnnumberedBatch[];
  let batcher: PredictionBatcher;
  beforeEach(() => {
    batches = [];
    batcher = new PredictionBatcher('cam-1', { maxItems: 3, maxMs: 1_000 }, (b) => batches.push(b));
  });

  it('closes a batch at maxItems', () => {
    for (let i = 0; i < 7; i++) batcher.add(v1, item(1_000 + i), []);
    expect(batches.map((b) => b.items.length)).toEqual([3, 3]);
    expect(batches[0]).toMatchObject({ v: 1, deviceId: 'cam-1', model: v1, window: { start: 1_000 } });
  });

  it('closes a batch when it is maxMs old', () => {
    batcher.add(v1, item(1_000), []);
    batcher.tick(1_500);
    expect(batches).toHaveLength(0);
    batcher.tick(2_000);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.window).toEqual({ start: 1_000, end: 2_000 });
  });

  it('never mixes two model versions in one batch', () => {
    batcher.add(v1, item(1_000), []);
    batcher.add(v2, item(1_001), []);
    batcher.flush(1_002);
    expect(batches.map((b) => [b.model.version, b.items.length])).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('counts skipped and failed frames and averages embeddings', () => {
    const a = new Float32Array(512).fill(1);
    const b = new Float32Array(512).fill(0);
    batcher.addDropped(v1, { skipped: 2, failed: 0 }, 999);
    batcher.add(v1, item(1_000), [a, b]);
    batcher.addDropped(v1, { skipped: 0, failed: 1 }, 1_001);
    batcher.flush(1_002);
    expect(batches[0]).toMatchObject({ dropped: { skipped: 2, failed: 1 }, window: { start: 999, end: 1_002 } });
    expect(batches[0]!.embeddingCentroid!.count).toBe(2);
    expect(batches[0]!.embeddingCentroid!.mean[0]).toBe(0.5);
  });
});
