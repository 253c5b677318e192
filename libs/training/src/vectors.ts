/** Small vector operations on Float32Array embeddings, shared by the trainer, metrics and clustering. */

/** L2-normalises in place; a zero vector stays zero. */
export function normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] /= norm;
  return v;
}

/**
 * Copies `source` into `target` from element `offset` on, as bytes (both are float32 of this machine, so the bytes are
 * the values). `target.set(source, offset)` does the same, but V8 (Node 24) copies a Float32Array into another value by
 * value: 11,000 embeddings of 512 values (22 MB) took 80–110 ms that way, 5–20 ms through byte views, on the cloud's
 * event loop while a dataset was packed. Out of range: a RangeError, as `set` throws.
 */
export function copyVector(target: Float32Array, source: Float32Array, offset: number): void {
  if (offset < 0 || offset + source.length > target.length) {
    throw new RangeError(`${source.length} values at ${offset} do not fit in ${target.length}`);
  }
  new Uint8Array(target.buffer, target.byteOffset + offset * 4, source.byteLength).set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
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

/** Whether this machine stores a float32 little-endian (x86-64 and arm64 do): then the bytes are copied as they are. */
const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/**
 * The vector's float32 values, little-endian, as base64: how embeddings are kept in SQL and in retraining
 * documents. One copy of the bytes on a little-endian machine (a value-by-value `writeFloatLE` cost about 30×
 * as much, and 10,000 embeddings are decoded at once when a dataset is built).
 */
export function encodeVectorBase64(v: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const bytes = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) bytes.writeFloatLE(v[i], i * 4);
  return bytes.toString('base64');
}

/** The vector `encodeVectorBase64` wrote, in an array of its own; a length that is not whole float32 values is an error. */
export function decodeVectorBase64(text: string): Float32Array {
  if (LITTLE_ENDIAN) {
    // decoded straight into the array's own memory: no intermediate buffer (a retrain of 10,000 embeddings made 20 MB of
    // them, garbage the moment they were copied, and V8 answers that much new external memory with a full collection)
    const length = Buffer.byteLength(text, 'base64');
    if (length % 4 === 0) {
      const out = new Float32Array(length / 4);
      if (Buffer.from(out.buffer).write(text, 'base64') === length) return out;
    }
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError(`an embedding of ${bytes.length} bytes is not whole float32 values`);
  const out = new Float32Array(bytes.length / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
