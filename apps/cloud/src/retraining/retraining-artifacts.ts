import { Injectable } from '@nestjs/common';
import type { TrainingExample } from '@edgeloop/training';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { blobKey, BlobRepository } from '../repositories/blob.repository';

/**
 * Inputs and outputs of retraining steps in object storage, each under its sha256: a step's output is
 * written once and never changed, so a retried step (after a crash or a restart) reads exactly what the
 * step before it produced, and a run is reproducible from its record.
 *
 * - `retraining/artifacts/sha256/<hex>.json`: JSON documents (the split dataset, trainer output, calibration,
 *   evaluation); embeddings are base64 of their float32 bytes.
 * - `blobs/sha256/<hex>`: the trained head's ONNX, where the registry keeps every model file.
 */
@Injectable()
export class RetrainingArtifacts {
  constructor(private readonly blobs: BlobRepository) {}

  /** Stores a JSON document under the sha256 of its bytes; returns the key and the hash. */
  async putDocument(value: unknown): Promise<{ key: string; sha256: string }> {
    const body = Buffer.from(JSON.stringify(value));
    const sha256 = createHash('sha256').update(body).digest('hex');
    const key = documentKey(sha256);
    if ((await this.blobs.size(key)) !== body.length) await this.blobs.putStream(key, Readable.from([body]), body.length);
    return { key, sha256 };
  }

  /** Reads a document back and checks it against its hash (a changed object is an error, never used). */
  async getDocument<T>(ref: { key: string; sha256: string }): Promise<T> {
    const body = await this.read(ref.key);
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== ref.sha256) throw new Error(`${ref.key} has sha256 ${actual}, expected ${ref.sha256}`);
    return JSON.parse(body.toString('utf8')) as T;
  }

  /** Stores a model file content-addressed (the key is its sha256); returns hash and size. */
  async putModelFile(bytes: Uint8Array): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const key = blobKey(sha256);
    if ((await this.blobs.size(key)) !== bytes.length) await this.blobs.putStream(key, Readable.from([Buffer.from(bytes)]), bytes.length);
    return { sha256, size: bytes.length };
  }

  /** A model file's bytes, verified against their address. */
  async getModelFile(sha256: string): Promise<Uint8Array> {
    const body = await this.read(blobKey(sha256));
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== sha256) throw new Error(`blob ${sha256} holds bytes of sha256 ${actual}`);
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  private async read(key: string): Promise<Buffer> {
    const size = await this.blobs.size(key);
    if (size === undefined) throw new Error(`${key} is missing from object storage`);
    if (size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.blobs.getRange(key, 0, size - 1)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

export function documentKey(sha256: string): string {
  return `retraining/artifacts/sha256/${sha256}.json`;
}

/** A training example as stored in a document: the embedding as base64 of its float32 bytes. */
export interface StoredExample {
  id: string;
  label: string | null;
  kind: TrainingExample['kind'];
  group: string;
  time: number;
  embedding: string;
}

export function storeExample(e: TrainingExample): StoredExample {
  return { id: e.id, label: e.label, kind: e.kind, group: e.group, time: e.time, embedding: encodeVector(e.embedding) };
}

export function loadExample(e: StoredExample): TrainingExample {
  return { id: e.id, label: e.label, kind: e.kind, group: e.group, time: e.time, embedding: decodeVector(e.embedding) };
}

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeVector(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
