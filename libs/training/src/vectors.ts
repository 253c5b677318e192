/** Small vector operations on Float32Array embeddings, shared by the trainer, metrics and clustering. */

/** L2-normalises in place; a zero vector stays zero. */
export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

/** Dot product of two equal-length vectors (unrolled by four). */
export function dot(a: Float32Array, b: Float32Array): number {
  const n = a.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return s0 + s1 + s2 + s3;
}

/** Element-wise mean of equal-length vectors, L2-normalised (a zero sum stays zero). */
export function normalisedMean(vectors: readonly Float32Array[], dimension = vectors[0]?.length ?? 0): Float32Array {
  const sum = new Float32Array(dimension);
  for (const v of vectors) for (let i = 0; i < dimension; i++) sum[i] += v[i];
  return normalise(sum);
}
