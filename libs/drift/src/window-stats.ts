import { z } from 'zod';
import { describeZodError, EMBEDDING_DIMENSION, type FrameResult, type PredictionBatch } from '@edgeloop/contracts';
import { addMeanEmbedding, CentroidAccumulatorSchema, createCentroid, mergeCentroids, type CentroidAccumulator } from './centroid';
import { DriftError } from './errors';
import {
  addValue,
  createHistogram,
  HistogramSchema,
  HistogramSpecSchema,
  mergeHistograms,
  quantile,
  type Histogram,
  type HistogramSpec,
} from './histogram';
import { addObservation, emptyMoments, histogramMean, mergeMoments, MomentsSchema, type Moments } from './moments';

/**
 * What the detectors need to know about a window of predictions, for one (device, model version,
 * minute) row or any roll-up of such rows: plain JSON, mergeable by `mergeWindowStats`, built from
 * contract `PredictionBatch`es by `accumulateBatch`.
 */

export const WINDOW_STATS_VERSION = 1;

/** An input statistic of frames: its histogram (for display and PSI) and exact moments (for d). */
export interface InputStat {
  histogram: Histogram;
  /** Of the value itself, except sharpness: of ln(1 + sharpness) (blur scales it, see README). */
  moments: Moments;
}

export interface WindowStats {
  v: typeof WINDOW_STATS_VERSION;
  frames: number;
  framesWithFaces: number;
  faces: number;
  /** Faces with a top-1 score (the model has a head): the denominator of the unknown rate. */
  scoredFaces: number;
  /** Scored faces without an identity. */
  unknownFaces: number;
  droppedFrames: { skipped: number; failed: number };
  facesPerFrame: Moments;
  /** Top-1 identity score of scored faces. */
  score: Histogram;
  /** Top-1 minus top-2 score. */
  margin: Histogram;
  brightness: InputStat;
  contrast: InputStat;
  sharpness: InputStat;
  /** Stage latencies in ms; `embed` only for frames where it ran (non-zero). */
  latencyMs: { detect: Histogram; embed: Histogram; total: Histogram };
  centroid: CentroidAccumulator;
}

export interface WindowHistogramSpecs {
  score: HistogramSpec;
  margin: HistogramSpec;
  brightness: HistogramSpec;
  contrast: HistogramSpec;
  sharpness: HistogramSpec;
  latencyMs: HistogramSpec;
}

/**
 * Bins of a new window. Rows are merged only with rows of the same bins, so a deployment keeps one
 * set: changing it means a new reference.
 */
export const DEFAULT_WINDOW_HISTOGRAMS: Readonly<WindowHistogramSpecs> = {
  /** Cosine scores: 0.04 wide. */
  score: { scale: 'linear', min: -1, max: 1, bins: 50 },
  margin: { scale: 'linear', min: 0, max: 1, bins: 50 },
  /** Mean luma 0..255: 4 levels wide. */
  brightness: { scale: 'linear', min: 0, max: 256, bins: 64 },
  /** Luma standard deviation, at most 127.5. */
  contrast: { scale: 'linear', min: 0, max: 128, bins: 64 },
  /** Laplacian variance: 10 bins a decade; 0 counts in the first bin. */
  sharpness: { scale: 'log', min: 1, max: 100_000, bins: 50 },
  /** 0.1 ms to 100 s, 10 bins a decade (each 26 % wider than the previous). */
  latencyMs: { scale: 'log', min: 0.1, max: 100_000, bins: 60 },
};

export function createWindowStats(
  specs: WindowHistogramSpecs = DEFAULT_WINDOW_HISTOGRAMS,
  embeddingDimension: number = EMBEDDING_DIMENSION,
): WindowStats {
  const inputStat = (spec: HistogramSpec): InputStat => ({ histogram: createHistogram(spec), moments: emptyMoments() });
  return {
    v: WINDOW_STATS_VERSION,
    frames: 0,
    framesWithFaces: 0,
    faces: 0,
    scoredFaces: 0,
    unknownFaces: 0,
    droppedFrames: { skipped: 0, failed: 0 },
    facesPerFrame: emptyMoments(),
    score: createHistogram(specs.score),
    margin: createHistogram(specs.margin),
    brightness: inputStat(specs.brightness),
    contrast: inputStat(specs.contrast),
    sharpness: inputStat(specs.sharpness),
    latencyMs: {
      detect: createHistogram(specs.latencyMs),
      embed: createHistogram(specs.latencyMs),
      total: createHistogram(specs.latencyMs),
    },
    centroid: createCentroid(embeddingDimension),
  };
}

/** The transform the sharpness moments are kept in. */
export const sharpnessScale = (sharpness: number): number => Math.log1p(sharpness);

/**
 * Adds one frame result (its faces, input statistics and timings). Mutates and returns `stats`, so
 * a caller can bucket a batch's frames by their `ts` into per-minute rows.
 */
export function accumulateFrame(stats: WindowStats, frame: FrameResult): WindowStats {
  stats.frames += 1;
  stats.faces += frame.faces.length;
  if (frame.faces.length > 0) stats.framesWithFaces += 1;
  addObservation(stats.facesPerFrame, frame.faces.length);
  for (const face of frame.faces) {
    if (face.score !== null) {
      stats.scoredFaces += 1;
      if (face.identity === null) stats.unknownFaces += 1;
      addValue(stats.score, face.score);
    }
    if (face.margin !== null) addValue(stats.margin, face.margin);
  }
  addValue(stats.brightness.histogram, frame.stats.brightness);
  addObservation(stats.brightness.moments, frame.stats.brightness);
  addValue(stats.contrast.histogram, frame.stats.contrast);
  addObservation(stats.contrast.moments, frame.stats.contrast);
  addValue(stats.sharpness.histogram, frame.stats.sharpness);
  addObservation(stats.sharpness.moments, sharpnessScale(frame.stats.sharpness));
  addValue(stats.latencyMs.detect, frame.timings.detect);
  if (frame.timings.embed > 0) addValue(stats.latencyMs.embed, frame.timings.embed);
  addValue(stats.latencyMs.total, frame.timings.total);
  return stats;
}

/**
 * Adds a whole batch: every frame, the dropped-frame counts and the batch's embedding centroid.
 * Mutates and returns `stats`. The batch is assumed valid (parsed with `PredictionBatchSchema`).
 */
export function accumulateBatch(stats: WindowStats, batch: PredictionBatch): WindowStats {
  for (const frame of batch.items) accumulateFrame(stats, frame);
  stats.droppedFrames.skipped += batch.dropped.skipped;
  stats.droppedFrames.failed += batch.dropped.failed;
  if (batch.embeddingCentroid) addMeanEmbedding(stats.centroid, batch.embeddingCentroid.mean, batch.embeddingCentroid.count);
  return stats;
}

/** A new window that is the union of the given ones; throws `INCOMPATIBLE_HISTOGRAMS` when their bins differ. */
export function mergeWindowStats(first: WindowStats, ...others: readonly WindowStats[]): WindowStats {
  const all = [first, ...others];
  const sum = (pick: (stats: WindowStats) => number) => all.reduce((total, stats) => total + pick(stats), 0);
  const histograms = (pick: (stats: WindowStats) => Histogram) => mergeHistograms(pick(first), ...others.map(pick));
  const moments = (pick: (stats: WindowStats) => Moments) => mergeMoments(pick(first), ...others.map(pick));
  const inputStat = (pick: (stats: WindowStats) => InputStat): InputStat => ({
    histogram: histograms((s) => pick(s).histogram),
    moments: moments((s) => pick(s).moments),
  });
  return {
    v: WINDOW_STATS_VERSION,
    frames: sum((s) => s.frames),
    framesWithFaces: sum((s) => s.framesWithFaces),
    faces: sum((s) => s.faces),
    scoredFaces: sum((s) => s.scoredFaces),
    unknownFaces: sum((s) => s.unknownFaces),
    droppedFrames: { skipped: sum((s) => s.droppedFrames.skipped), failed: sum((s) => s.droppedFrames.failed) },
    facesPerFrame: moments((s) => s.facesPerFrame),
    score: histograms((s) => s.score),
    margin: histograms((s) => s.margin),
    brightness: inputStat((s) => s.brightness),
    contrast: inputStat((s) => s.contrast),
    sharpness: inputStat((s) => s.sharpness),
    latencyMs: {
      detect: histograms((s) => s.latencyMs.detect),
      embed: histograms((s) => s.latencyMs.embed),
      total: histograms((s) => s.latencyMs.total),
    },
    centroid: mergeCentroids(first.centroid, ...others.map((s) => s.centroid)),
  };
}

const count = z.number().int().nonnegative();
const InputStatSchema = z.strictObject({ histogram: HistogramSchema, moments: MomentsSchema });

/** The stored form of `WindowStats` (a JSON column), for validating what is read back. */
export const WindowStatsSchema = z.strictObject({
  v: z.literal(WINDOW_STATS_VERSION),
  frames: count,
  framesWithFaces: count,
  faces: count,
  scoredFaces: count,
  unknownFaces: count,
  droppedFrames: z.strictObject({ skipped: count, failed: count }),
  facesPerFrame: MomentsSchema,
  score: HistogramSchema,
  margin: HistogramSchema,
  brightness: InputStatSchema,
  contrast: InputStatSchema,
  sharpness: InputStatSchema,
  latencyMs: z.strictObject({ detect: HistogramSchema, embed: HistogramSchema, total: HistogramSchema }),
  centroid: CentroidAccumulatorSchema,
}) satisfies z.ZodType<WindowStats>;

export const WindowHistogramSpecsSchema = z.strictObject({
  score: HistogramSpecSchema,
  margin: HistogramSpecSchema,
  brightness: HistogramSpecSchema,
  contrast: HistogramSpecSchema,
  sharpness: HistogramSpecSchema,
  latencyMs: HistogramSpecSchema,
}) satisfies z.ZodType<WindowHistogramSpecs>;

/** Validates stored window statistics; throws `INVALID_WINDOW_STATS` naming every bad field. */
export function parseWindowStats(input: unknown): WindowStats {
  const parsed = WindowStatsSchema.safeParse(input);
  if (!parsed.success) throw new DriftError('INVALID_WINDOW_STATS', `invalid window stats: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

export interface LatencyQuantiles {
  p50: number;
  p95: number;
}

/** Read-side figures of a window (for `GET /metrics/predictions`); null where there is nothing to measure. */
export interface WindowSummary {
  frames: number;
  faces: number;
  unknownRate: number | null;
  /** Share of frames with at least one face. */
  detectionRate: number | null;
  /** From the histograms: within half a bin (0.02). */
  meanScore: number | null;
  meanMargin: number | null;
  latencyMs: { detect: LatencyQuantiles | null; embed: LatencyQuantiles | null; total: LatencyQuantiles | null };
  /** Exact means of brightness and contrast; sharpness from its log histogram (geometric bin centres). */
  stats: { brightness: number; contrast: number; sharpness: number } | null;
}

export function summarizeWindow(stats: WindowStats): WindowSummary {
  const latency = (histogram: Histogram): LatencyQuantiles | null => {
    const p50 = quantile(histogram, 0.5);
    const p95 = quantile(histogram, 0.95);
    return p50 === null || p95 === null ? null : { p50, p95 };
  };
  const sharpness = histogramMean(stats.sharpness.histogram);
  return {
    frames: stats.frames,
    faces: stats.faces,
    unknownRate: stats.scoredFaces > 0 ? stats.unknownFaces / stats.scoredFaces : null,
    detectionRate: stats.frames > 0 ? stats.framesWithFaces / stats.frames : null,
    meanScore: histogramMean(stats.score),
    meanMargin: histogramMean(stats.margin),
    latencyMs: { detect: latency(stats.latencyMs.detect), embed: latency(stats.latencyMs.embed), total: latency(stats.latencyMs.total) },
    stats:
      stats.frames > 0 && sharpness !== null
        ? { brightness: stats.brightness.moments.mean, contrast: stats.contrast.moments.mean, sharpness }
        : null,
  };
}
