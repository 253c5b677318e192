import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { MAX_HEAD_DELTA_BYTES } from '@edgeloop/contracts';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { blobKey, BlobRepository } from '../repositories/blob.repository';
import type { Digested } from './training-task';

/**
 * Inputs and outputs of retraining steps in object storage, each under its sha256: a step's output is
 * written once and never changed, so a retried step (after a crash or a restart) reads exactly what the
 * step before it produced, and a run is reproducible from its record.
 *
 * - `retraining/artifacts/sha256/<hex>.json`: JSON documents (the split dataset, trainer output, calibration,
 *   evaluation); embeddings are base64 of their float32 bytes.
 * - `blobs/sha256/<hex>`: the trained head's ONNX, where the registry keeps every model file.
 * - `head-deltas/<target sha256>/<base sha256>`: the delta from a base head to a trained head
 *   (@edgeloop/contracts `head-delta.ts`), made by train-head from the run's base or on a device's request
 *   (`HeadDeltaService`), served at `GET /api/v1/blobs/{target}/delta?from={base}`, pruned when unused.
 *
 * The large documents are made, hashed and parsed in the training thread (training-task.ts); here they are
 * only bytes: read in chunks into shared memory (a `SharedArrayBuffer`, which a worker thread sees without a
 * copy) and written as they are. `getDocument` (hash check and JSON parse on the calling thread) is for the
 * small documents.
 *
 * The documents this process wrote or read last are also kept in memory by their sha256 (`RecentDocuments`):
 * the dataset (≈ 34 MB at 1,000 × 10) is an input of train-head, calibrate and evaluate, and reading it from
 * object storage three times kept the S3 server busy enough that the API's health check of S3 waited
 * 100–300 ms behind it. What is kept is handed out as it is: the threads only read it (and check it against
 * its sha256 like a read one). Before, each step got a copy of its own to transfer: ≈ 100 MB of new buffers a
 * run on this thread, and V8 answers that much new external memory with a full collection whose pause (up to
 * 150 ms at 1,000 × 10) the API's answers waited behind (docs/benchmarks.md, "Retraining").
 */
@Injectable()
export class RetrainingArtifacts implements OnApplicationShutdown {
  private readonly recent = new RecentDocuments();

  constructor(private readonly blobs: BlobRepository) {}

  onApplicationShutdown(): void {
    this.recent.clear();
  }

  /** Stores a JSON document under the sha256 of its bytes; returns the key and the hash. */
  async putDocument(value: unknown): Promise<{ key: string; sha256: string }> {
    const body = Buffer.from(JSON.stringify(value));
    return this.putDocumentBytes({ bytes: body, sha256: createHash('sha256').update(body).digest('hex') });
  }

  /** Stores a document already serialised and hashed (by the training thread) under its sha256. */
  async putDocumentBytes(document: Digested): Promise<{ key: string; sha256: string }> {
    const key = documentKey(document.sha256);
    await this.putOnce(key, document.bytes);
    this.recent.keep(document.sha256, document.bytes);
    return { key, sha256: document.sha256 };
  }

  /** Reads a document back and checks it against its hash (a changed object is an error, never used). */
  async getDocument<T>(ref: { key: string; sha256: string }): Promise<T> {
    const kept = this.recent.get(ref.sha256);
    const body = kept ? Buffer.from(kept.buffer, kept.byteOffset, kept.byteLength) : await this.read(ref.key);
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== ref.sha256) throw new Error(`${ref.key} has sha256 ${actual}, expected ${ref.sha256}`);
    return JSON.parse(body.toString('utf8')) as T;
  }

  /**
   * A document's bytes with the hash the run recorded, for the training thread to check and parse: in shared
   * memory, which the caller hands to a thread as it is and nobody changes.
   */
  async getDocumentBytes(ref: { key: string; sha256: string }): Promise<Digested> {
    const kept = this.recent.get(ref.sha256);
    if (kept) return { bytes: kept, sha256: ref.sha256 };
    const bytes = await this.read(ref.key);
    this.recent.keep(ref.sha256, bytes);
    return { bytes, sha256: ref.sha256 };
  }

  /** Stores a model file content-addressed (the key is its sha256); returns hash and size. */
  async putModelFile(bytes: Uint8Array, sha256 = createHash('sha256').update(bytes).digest('hex')): Promise<{ sha256: string; size: number }> {
    await this.putOnce(blobKey(sha256), bytes);
    return { sha256, size: bytes.length };
  }

  /** A model file's bytes, verified against their address. */
  async getModelFile(sha256: string): Promise<Uint8Array> {
    const body = await this.read(blobKey(sha256));
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== sha256) throw new Error(`blob ${sha256} holds bytes of sha256 ${actual}`);
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  /** A model file's bytes with its address, for the training thread to check. */
  async getModelFileBytes(sha256: string): Promise<Digested> {
    return { bytes: await this.read(blobKey(sha256)), sha256 };
  }

  /** Stores the delta from the head `baseSha256` to the head `targetSha256`. */
  async putHeadDelta(targetSha256: string, baseSha256: string, bytes: Uint8Array): Promise<void> {
    await this.putOnce(headDeltaKey(targetSha256, baseSha256), bytes);
  }

  /** The delta from `baseSha256` to `targetSha256`, or undefined when none was made. */
  async getHeadDelta(targetSha256: string, baseSha256: string): Promise<Buffer | undefined> {
    return this.blobs.getSmall(headDeltaKey(targetSha256, baseSha256), MAX_HEAD_DELTA_BYTES);
  }

  /** Keys of stored head deltas last written before `cutoff`. */
  async headDeltaKeysOlderThan(cutoff: Date): Promise<string[]> {
    return this.blobs.keysOlderThan(HEAD_DELTA_PREFIX, cutoff);
  }

  /** Removes one stored head delta (by its key, as `headDeltaKeysOlderThan` lists it). */
  async removeHeadDelta(key: string): Promise<void> {
    if (!key.startsWith(HEAD_DELTA_PREFIX)) throw new RangeError(`${key} is not a head delta`);
    await this.blobs.remove(key);
  }

  private async putOnce(key: string, bytes: Uint8Array): Promise<void> {
    if ((await this.blobs.size(key)) === bytes.length) return;
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // 1 MiB chunks: the socket takes them as it drains, no one write of the whole document; paced, see PUT_PAUSE_MS
    const chunks = async function* () {
      for (let at = 0; at < body.length; at += PUT_CHUNK_BYTES) {
        if (at > 0) await sleep(PUT_PAUSE_MS);
        yield body.subarray(at, Math.min(body.length, at + PUT_CHUNK_BYTES));
      }
    };
    await this.blobs.putStream(key, Readable.from(chunks()), body.length);
  }

  /** The object's bytes, in shared memory (seen by a worker thread without a copy), filled chunk by chunk. */
  private async read(key: string): Promise<Buffer> {
    const size = await this.blobs.size(key);
    if (size === undefined) throw new Error(`${key} is missing from object storage`);
    const body = Buffer.from(new SharedArrayBuffer(size));
    if (size === 0) return body;
    let at = 0;
    for await (const chunk of await this.blobs.getRange(key, 0, size - 1)) {
      const bytes = chunk as Buffer;
      if (at + bytes.length > size) throw new Error(`${key} is longer than its ${size} bytes`);
      bytes.copy(body, at);
      at += bytes.length;
    }
    if (at !== size) throw new Error(`${key}: read ${at} of ${size} bytes`);
    return body;
  }
}

/** Bytes of documents `RecentDocuments` keeps at most (the 1,000 × 10 dataset is ≈ 34 MB). */
const RECENT_DOCUMENT_BYTES = 96 * 1024 * 1024;
/** A kept document is dropped this long after it was kept: a finished run's inputs do not stay in memory. */
const RECENT_DOCUMENT_MS = 10 * 60_000;

/**
 * The last documents written or read, by sha256, within a byte budget (the least recently used leave first) and
 * for a while after they came in (lru-cache). The bytes themselves are handed out: every reader only reads them.
 */
class RecentDocuments {
  private readonly documents = new LRUCache<string, Uint8Array>({
    maxSize: RECENT_DOCUMENT_BYTES,
    maxEntrySize: RECENT_DOCUMENT_BYTES,
    sizeCalculation: (bytes) => Math.max(1, bytes.byteLength),
    ttl: RECENT_DOCUMENT_MS,
    // expired documents leave on a timer of their own, not only when next looked up
    ttlAutopurge: true,
  });

  /** Keeps `bytes` (nobody may change or transfer them after this), unless they are too large to keep. */
  keep(sha256: string, bytes: Uint8Array): void {
    if (bytes.byteLength <= RECENT_DOCUMENT_BYTES && !this.documents.has(sha256)) this.documents.set(sha256, bytes);
  }

  /** The kept bytes, or undefined when the document is not kept. */
  get(sha256: string): Uint8Array | undefined {
    return this.documents.get(sha256);
  }

  clear(): void {
    this.documents.clear();
  }
}

const PUT_CHUNK_BYTES = 1 << 20;
/**
 * Pause between two chunks of a PUT (≈ 50 MB/s at most). The embedded mode's S3 server (s3rver, one Node
 * process) answers nothing else while a body streams in at full speed: during a 34 MB PUT its bucket check —
 * the API's health check of S3 — took 266–416 ms (the PUT 0.35 s); with 20 ms between 1 MiB chunks, at most
 * 11–35 ms (the PUT 0.7 s), load 7.
 */
const PUT_PAUSE_MS = 20;

export const HEAD_DELTA_PREFIX = 'head-deltas/';

export function headDeltaKey(targetSha256: string, baseSha256: string): string {
  return `${HEAD_DELTA_PREFIX}${targetSha256}/${baseSha256}`;
}

/** The (target, base) pair of a head delta's key, or undefined for a key of another shape. */
export function parseHeadDeltaKey(key: string): { target: string; base: string } | undefined {
  const match = /^head-deltas\/([0-9a-f]{64})\/([0-9a-f]{64})$/.exec(key);
  return match ? { target: match[1], base: match[2] } : undefined;
}

export function documentKey(sha256: string): string {
  return `retraining/artifacts/sha256/${sha256}.json`;
}
