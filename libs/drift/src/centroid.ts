import { z } from 'zod';
import { EMBEDDING_DIMENSION } from '@edgeloop/contracts';
import { DriftError } from './errors';

/**
 * Running centroid of face embeddings as a sum and a count: adding and merging are exact sums, so
 * per-batch means (`PredictionBatch.embeddingCentroid`), single hard-example embeddings and stored
 * per-minute rows combine in any order. Plain JSON; about 10 KB at 512 dimensions.
 */
export interface CentroidAccumulator {
  dimension: number;
  count: number;
  /** Element-wise sum of the embeddings added (length `dimension`). */
  sum: number[];
}

export const CentroidAccumulatorSchema = z
  .strictObject({
    dimension: z.number().int().min(1).max(65_536),
    count: z.number().int().nonnegative(),
    sum: z.array(z.number()),
  })
  .superRefine((centroid, ctx) => {
    if (centroid.sum.length !== centroid.dimension) {
      ctx.addIssue({ code: 'custom', path: ['sum'], message: `expected ${centroid.dimension} numbers, got ${centroid.sum.length}` });
    }
  });

export function createCentroid(dimension: number = EMBEDDING_DIMENSION): CentroidAccumulator {
  if (!(Number.isInteger(dimension) && dimension >= 1)) throw new RangeError(`dimension must be a positive integer, got ${dimension}`);
  return { dimension, count: 0, sum: new Array<number>(dimension).fill(0) };
}

function assertDimension(centroid: CentroidAccumulator, vector: readonly number[]): void {
  if (vector.length !== centroid.dimension) {
    throw new DriftError('DIMENSION_MISMATCH', `expected a ${centroid.dimension}-d vector, got ${vector.length}-d`);
  }
}

/** Adds one embedding. Mutates and returns `centroid`. */
export function addEmbedding(centroid: CentroidAccumulator, embedding: readonly number[]): CentroidAccumulator {
  return addMeanEmbedding(centroid, embedding, 1);
}

/** Adds `count` embeddings given by their mean (a batch's `embeddingCentroid`). Mutates and returns `centroid`. */
export function addMeanEmbedding(centroid: CentroidAccumulator, mean: readonly number[], count: number): CentroidAccumulator {
  assertDimension(centroid, mean);
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  for (let i = 0; i < centroid.dimension; i++) centroid.sum[i] += mean[i] * count;
  centroid.count += count;
  return centroid;
}

export function mergeCentroids(first: CentroidAccumulator, ...others: readonly CentroidAccumulator[]): CentroidAccumulator {
  const merged = createCentroid(first.dimension);
  for (const centroid of [first, ...others]) {
    if (centroid.dimension !== merged.dimension) {
      throw new DriftError('DIMENSION_MISMATCH', `cannot merge a ${centroid.dimension}-d centroid into a ${merged.dimension}-d one`);
    }
    for (let i = 0; i < merged.dimension; i++) merged.sum[i] += centroid.sum[i];
    merged.count += centroid.count;
  }
  return merged;
}

/** The mean embedding; null when nothing was added. */
export function centroidMean(centroid: CentroidAccumulator): number[] | null {
  return centroid.count === 0 ? null : centroid.sum.map((value) => value / centroid.count);
}

/** 1 − cos(a, b), in [0, 2]; null when either vector is zero. */
export function cosineDistance(a: readonly number[], b: readonly number[]): number | null {
  if (a.length !== b.length) throw new DriftError('DIMENSION_MISMATCH', `cannot compare a ${a.length}-d and a ${b.length}-d vector`);
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    normA += a[i] * a[i];
    normB += b[i] * b[i];
  }
  if (normA === 0 || normB === 0) return null;
  const cosine = Math.min(1, Math.max(-1, dot / Math.sqrt(normA * normB)));
  return 1 - cosine;
}

/**
 * Cosine distance between the reference and current centroids (the sums point the same way as the
 * means); null when either is empty. 0 for the same direction, 1 for orthogonal centroids.
 */
export function centroidShift(reference: CentroidAccumulator, current: CentroidAccumulator): number | null {
  if (reference.count === 0 || current.count === 0) return null;
  if (reference.dimension !== current.dimension) {
    throw new DriftError('DIMENSION_MISMATCH', `cannot compare a ${reference.dimension}-d and a ${current.dimension}-d centroid`);
  }
  return cosineDistance(reference.sum, current.sum);
}
