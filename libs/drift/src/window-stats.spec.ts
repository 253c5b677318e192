import { PredictionBatchSchema, type PredictionBatch } from '@edgeloop/contracts';
import { centroidShift } from './centroid';
import { binIndex, histogramTotal } from './histogram';
import { daylightScene, simulateBatches, unitVector } from './testing/simulate';
import {
  accumulateBatch,
  accumulateFrame,
  createWindowStats,
  DEFAULT_WINDOW_HISTOGRAMS,
  mergeWindowStats,
  parseWindowStats,
  summarizeWindow,
} from './window-stats';

const start = 1_769_860_800_000;
const mean = Array.from({ length: 512 }, (_, i) => Math.sin(i) / 22.6);

/** What an edge worker sends for half a second of a door camera: a known face, a stranger, an empty frame. */
function doorCameraBatch(): PredictionBatch {
  return PredictionBatchSchema.parse({
    v: 1,
    deviceId: 'cam-01',
    seq: 42,
    model: { name: 'face-id', version: 7 },
    window: { start, end: start + 5000 },
    items: [
      {
        ts: start + 100,
        faces: [{ identity: 'id-0001', score: 0.71, margin: 0.32, detScore: 0.98, box: { x: 120, y: 64, width: 88, height: 104 } }],
        stats: { brightness: 118.2, contrast: 52.3, sharpness: 143.5, width: 320, height: 240 },
        timings: { decode: 2.1, detect: 18.4, align: 1.2, embed: 35.0, head: 0.3, total: 57.0 },
      },
      {
        ts: start + 200,
        faces: [{ identity: null, score: 0.31, margin: 0.05, detScore: 0.91 }],
        stats: { brightness: 117.9, contrast: 51.8, sharpness: 140.1 },
        timings: { detect: 18.1, align: 1.1, embed: 34.2, head: 0.3, total: 54.0 },
      },
      {
        ts: start + 300,
        faces: [],
        stats: { brightness: 117.5, contrast: 51.2, sharpness: 139 },
        timings: { detect: 17.9, align: 0, embed: 0, head: 0, total: 18.0 },
      },
    ],
    dropped: { skipped: 2, failed: 1 },
    embeddingCentroid: { count: 2, mean },
  });
}

describe('window statistics', () => {
  it('accumulates a batch: counts, unknowns, histograms, input moments, latencies and the centroid', () => {
    const stats = accumulateBatch(createWindowStats(), doorCameraBatch());
    expect(stats).toMatchObject({ frames: 3, framesWithFaces: 2, faces: 2, scoredFaces: 2, unknownFaces: 1, droppedFrames: { skipped: 2, failed: 1 } });
    expect(stats.facesPerFrame.mean).toBeCloseTo(2 / 3, 12);
    expect(stats.score.counts[binIndex(stats.score.spec, 0.71)]).toBe(1);
    expect(stats.score.counts[binIndex(stats.score.spec, 0.31)]).toBe(1);
    expect(histogramTotal(stats.score)).toBe(2);
    expect(stats.margin.counts[binIndex(stats.margin.spec, 0.05)]).toBe(1);
    expect(stats.brightness.moments.mean).toBeCloseTo((118.2 + 117.9 + 117.5) / 3, 12);
    expect(stats.contrast.moments.count).toBe(3);
    expect(stats.sharpness.moments.mean).toBeCloseTo((Math.log1p(143.5) + Math.log1p(140.1) + Math.log1p(139)) / 3, 12);
    expect(histogramTotal(stats.sharpness.histogram)).toBe(3);
    expect(histogramTotal(stats.latencyMs.detect)).toBe(3);
    expect(histogramTotal(stats.latencyMs.embed)).toBe(2); // the empty frame ran no embedder
    expect(histogramTotal(stats.latencyMs.total)).toBe(3);
    expect(stats.centroid.count).toBe(2);
    expect(stats.centroid.sum[5]).toBeCloseTo(2 * mean[5], 12);

    const summary = summarizeWindow(stats);
    expect(summary).toMatchObject({ frames: 3, faces: 2, unknownRate: 0.5 });
    expect(summary.detectionRate).toBeCloseTo(2 / 3, 12);
    expect(summary.meanScore).toBeCloseTo(0.51, 1);
    expect(summary.latencyMs.embed!.p50).toBeGreaterThan(30);
    expect(summary.latencyMs.embed!.p50).toBeLessThan(40);
    expect(summary.stats!.brightness).toBeCloseTo(117.87, 2);
  });

  it('does not count faces of a model without a head as unknown', () => {
    const batch = doorCameraBatch();
    for (const item of batch.items) for (const face of item.faces) Object.assign(face, { identity: null, score: null, margin: null });
    const stats = accumulateBatch(createWindowStats(), batch);
    expect(stats).toMatchObject({ faces: 2, scoredFaces: 0, unknownFaces: 0 });
    expect(summarizeWindow(stats).unknownRate).toBeNull();
    expect(summarizeWindow(createWindowStats())).toMatchObject({ frames: 0, unknownRate: null, detectionRate: null, stats: null });
  });

  it('merges per-minute rows into the same window as one pass over every batch', () => {
    const batches = simulateBatches(daylightScene(), { seed: 4, frames: 1200, perBatch: 100 });
    const onePass = batches.reduce(accumulateBatch, createWindowStats());
    const minute = (from: number, to: number) => batches.slice(from, to).reduce(accumulateBatch, createWindowStats());
    const merged = mergeWindowStats(minute(0, 3), minute(3, 4), minute(4, 12));
    expect(merged.frames).toBe(1200);
    expect(merged.score).toEqual(onePass.score);
    expect(merged.latencyMs).toEqual(onePass.latencyMs);
    expect(merged.brightness.histogram).toEqual(onePass.brightness.histogram);
    expect(merged.brightness.moments.mean).toBeCloseTo(onePass.brightness.moments.mean, 9);
    expect(merged.sharpness.moments.m2).toBeCloseTo(onePass.sharpness.moments.m2, 6);
    expect(merged.centroid.count).toBe(onePass.centroid.count);
    expect(centroidShift(merged.centroid, onePass.centroid)).toBeCloseTo(0, 12);
    expect(merged.unknownFaces).toBe(onePass.unknownFaces);
  });

  it('lets a caller bucket frames by minute with accumulateFrame', () => {
    const batch = doorCameraBatch();
    const stats = accumulateFrame(createWindowStats(), batch.items[0]);
    expect(stats).toMatchObject({ frames: 1, faces: 1, unknownFaces: 0 });
    expect(stats.centroid.count).toBe(0);
  });

  it('round-trips through JSON and refuses what does not fit', () => {
    const stats = simulateBatches(daylightScene(unitVector(3)), { seed: 5, frames: 300 }).reduce(accumulateBatch, createWindowStats());
    const stored = JSON.parse(JSON.stringify(stats));
    expect(parseWindowStats(stored)).toEqual(stats);
    expect(() => parseWindowStats({ ...stored, frames: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_WINDOW_STATS', message: expect.stringContaining('frames') }));
    expect(() => parseWindowStats({ ...stored, score: { ...stored.score, counts: [1] } })).toThrow(/score\.counts/);
    const coarse = createWindowStats({ ...DEFAULT_WINDOW_HISTOGRAMS, score: { scale: 'linear', min: -1, max: 1, bins: 20 } });
    expect(() => mergeWindowStats(stats, coarse)).toThrow(expect.objectContaining({ code: 'INCOMPATIBLE_HISTOGRAMS' }));
  });
});
