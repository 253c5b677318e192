import { z } from 'zod';
import { API_PREFIX } from './protocol';
import { IdentityLabelSchema, SHA256_PATTERN, Sha256Schema } from './identifiers';
import { MAX_MANIFEST_LABELS } from './manifest';

/**
 * A head delta: how a device that holds one identity head (the *base*) rebuilds an int8 head (the
 * *target*) from the identities (columns of the [D, K] matrix) that changed, instead of downloading the
 * whole target. The base is an int8 head, or a float32 head (an upload) whose columns both sides quantise
 * the one deterministic way (`baseWeights: 'float32'`). It is an optimisation, never a trust path: the
 * device keeps the rebuilt bytes only when their sha256 is the one the signed manifest names for the head,
 * and downloads the full blob otherwise.
 *
 * Wire form (`application/vnd.edgeloop.head-delta`, gzip-compressed as a whole):
 *
 *   u32 LE  length of the header in bytes
 *   header  UTF-8 JSON, `HeadDeltaHeaderSchema`
 *   body    for each column the header adds, in order: its float32 LE scale, then D int8 values
 *
 * Served at `GET /api/v1/blobs/{target sha256}/delta?from={base sha256}`: 200 with the delta (made when a
 * retraining run trains the head, or on the first request for a pair of registered heads), or 404 when the
 * cloud can make none for that pair (the device then fetches `GET /api/v1/blobs/{target sha256}`).
 */

export const HEAD_DELTA_SCHEMA = 'edgeloop.head-delta/v1';
export const HEAD_DELTA_CONTENT_TYPE = 'application/vnd.edgeloop.head-delta';
/** Largest delta (compressed or not) a device accepts; past it, the full blob. */
export const MAX_HEAD_DELTA_BYTES = 64 * 1024 * 1024;
/** Largest embedding width a head delta may describe. */
export const MAX_HEAD_DELTA_DIM = 4096;

/**
 * Columns `from` … `from + count - 1` of the base, taken as they are (int8 values, scale and label); of a
 * float32 base, each column quantised as `quantisePrototypes` does (scale = max |p| / 127 in float32,
 * q = round(p / scale)), which gives the same bytes on every machine.
 */
export const HeadDeltaCopySchema = z.strictObject({
  from: z.number().int().nonnegative().max(MAX_MANIFEST_LABELS),
  count: z.number().int().positive().max(MAX_MANIFEST_LABELS),
});
/** New columns, labelled in order; their scales and values are the body's next `labels.length` records. */
export const HeadDeltaAddSchema = z.strictObject({
  add: z.array(IdentityLabelSchema).min(1).max(MAX_MANIFEST_LABELS),
});

export const HeadDeltaHeaderSchema = z
  .strictObject({
    schema: z.literal(HEAD_DELTA_SCHEMA),
    /** The head the delta applies to (the device's current head). */
    base: Sha256Schema,
    /** How the base stores its columns; absent: int8 (deltas made before float32 bases existed). */
    baseWeights: z.enum(['int8', 'float32']).optional(),
    /** The head it makes: checked again by the device against the signed manifest, which is what counts. */
    target: z.strictObject({ sha256: Sha256Schema, size: z.number().int().positive().max(MAX_HEAD_DELTA_BYTES) }),
    dim: z.number().int().positive().max(MAX_HEAD_DELTA_DIM),
    /** The target's columns, in order: runs copied from the base and runs of new columns. */
    columns: z
      .array(z.union([HeadDeltaCopySchema, HeadDeltaAddSchema]))
      .min(1)
      .max(MAX_MANIFEST_LABELS),
  })
  .superRefine((header, ctx) => {
    const k = header.columns.reduce((n, run) => n + ('add' in run ? run.add.length : run.count), 0);
    if (k > MAX_MANIFEST_LABELS) ctx.addIssue({ code: 'custom', path: ['columns'], message: `${k} columns, at most ${MAX_MANIFEST_LABELS}` });
  });
export type HeadDeltaHeader = z.infer<typeof HeadDeltaHeaderSchema>;

/** Bytes of the body record of one added column: float32 scale + `dim` int8 values. */
export function headDeltaRecordBytes(dim: number): number {
  return 4 + dim;
}

/** The cloud-relative path of the delta from `baseSha256` to `targetSha256`. */
export function headDeltaPath(targetSha256: string, baseSha256: string): string {
  for (const sha of [targetSha256, baseSha256]) {
    if (!SHA256_PATTERN.test(sha)) throw new RangeError(`"${sha.slice(0, 80)}" is not a lowercase hex sha256`);
  }
  return `${API_PREFIX}/blobs/${targetSha256}/delta?from=${baseSha256}`;
}
