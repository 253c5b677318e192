import { Injectable, Logger } from '@nestjs/common';
import { Client, CopyConditions } from 'minio';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { CloudConfig } from '../config/cloud.config';

const SINGLE_PUT_LIMIT = 5 * 1024 ** 3;

export function blobKey(sha256: string): string {
  return `blobs/sha256/${sha256}`;
}

/** Where an upload's bytes wait until their hash is known; never read by anyone but that upload. */
export const TEMP_UPLOAD_PREFIX = 'tmp/uploads/';

export function tempUploadKey(): string {
  return `${TEMP_UPLOAD_PREFIX}${randomUUID()}`;
}

/** Hard-example crops, stored under the sha256 of their bytes. */
export function cropKey(sha256: string): string {
  return `hard-examples/crops/sha256/${sha256}.jpg`;
}

/** A single S3 copy takes up to 5 GiB. */
export const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;

export function manifestKey(name: string, version: number): string {
  return `models/${name}/${version}/manifest.json`;
}

/** The key the health check asks for: never written (any answer but an error proves S3 serves the bucket). */
export const HEALTH_PROBE_KEY = '.edgeloop/health-probe';

/**
 * Object storage (S3 protocol: MinIO in production, s3rver in tests and the embedded mode) through the
 * minio client. Blobs up to 5 GiB go up as one streamed, presigned PUT of known size (which every S3 server
 * has, s3rver included); larger ones go multipart in 16 MiB parts.
 */
@Injectable()
export class BlobRepository {
  private readonly logger = new Logger(BlobRepository.name);
  private readonly client: Client;
  private readonly multipartClient: Client;
  readonly bucket: string;

  constructor(config: CloudConfig) {
    if (!config.s3) throw new Error('S3 is not configured (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY)');
    const { endPoint, port, useSSL, accessKey, secretKey, region } = config.s3;
    this.client = new Client({ endPoint, port, useSSL, accessKey, secretKey, region });
    this.multipartClient = new Client({ endPoint, port, useSSL, accessKey, secretKey, region, partSize: 16 * 1024 ** 2 });
    this.bucket = config.bucket;
  }

  async ensureBucket(region: string): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      await this.client.makeBucket(this.bucket, region).catch(async (err: { code?: string }) => {
        if (err.code !== 'BucketAlreadyOwnedByYou' && !(await this.client.bucketExists(this.bucket))) throw err;
      });
      this.logger.log(`created bucket ${this.bucket}`);
    }
  }

  /**
   * The health check: a GET of a key that is never written. `NoSuchKey` means the server answered and the bucket
   * exists; a missing bucket or any other error is down. Not `bucketExists`: a HEAD on the bucket, which s3rver (the
   * embedded mode's S3 server) answers by listing up to 1,000 of the bucket's objects — the check grew with the
   * bucket (raw payloads, crops, models) and waited behind every other request while it walked them; a GET of one
   * key costs the same on any S3 server whatever the bucket holds. (It also never looked at bucketExists' answer.)
   */
  async ping(): Promise<void> {
    try {
      const stream = await this.client.getObject(this.bucket, HEALTH_PROBE_KEY);
      stream.destroy();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NoSuchKey') return;
      if (code === 'NoSuchBucket') throw new Error(`bucket ${this.bucket} does not exist`);
      throw err;
    }
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await this.client.statObject(this.bucket, key)).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Puts a local file of known size under `key`, streamed from disk. */
  async putFile(key: string, file: string, size: number): Promise<void> {
    if (size > SINGLE_PUT_LIMIT) {
      // beyond one PUT's 5 GiB limit: multipart, with parts small enough to keep memory bounded
      await this.multipartClient.putObject(this.bucket, key, createReadStream(file), size);
      return;
    }
    await this.putStream(key, createReadStream(file), size);
  }

  /**
   * Streams exactly `size` bytes into `key` with one presigned PUT: the body goes from the source to the
   * socket as it comes (minio-js putObject would collect a single-PUT body in memory to hash it first).
   */
  async putStream(key: string, body: Readable, size: number): Promise<void> {
    const url = new URL(await this.client.presignedPutObject(this.bucket, key, 15 * 60));
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    await new Promise<void>((resolve, reject) => {
      const req = send(url, { method: 'PUT', headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' } });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text = (text + chunk.toString()).slice(0, 2000)));
        res.on('end', () => {
          if ((res.statusCode ?? 500) < 300) resolve();
          else reject(new Error(`S3 PUT ${key} answered ${res.statusCode}: ${text.slice(0, 300)}`));
        });
      });
      req.on('error', reject);
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    });
  }

  async putJson(key: string, value: unknown): Promise<void> {
    const body = Buffer.from(JSON.stringify(value));
    await this.client.putObject(this.bucket, key, body, body.length, { 'Content-Type': 'application/json' });
  }

  async getJson<T>(key: string): Promise<T> {
    const stream = await this.client.getObject(this.bucket, key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
  }

  /** A byte range [start, end] (inclusive) of an object, streamed. */
  getRange(key: string, start: number, end: number): Promise<Readable> {
    return this.client.getPartialObject(this.bucket, key, start, end - start + 1);
  }

  /** Server-side copy of `from` to `to` (both in this bucket), up to 5 GiB. */
  async copy(from: string, to: string): Promise<void> {
    await this.client.copyObject(this.bucket, to, `/${this.bucket}/${from}`, new CopyConditions());
  }

  /** Keys under `prefix` last modified before `cutoff`. */
  async keysOlderThan(prefix: string, cutoff: Date): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
      const { name, lastModified } = item as { name?: string; lastModified?: Date };
      if (name && lastModified && lastModified < cutoff) keys.push(name);
    }
    return keys;
  }

  /** The whole of a small object, refused when it is over `limit` bytes. */
  async getSmall(key: string, limit: number): Promise<Buffer | undefined> {
    const size = await this.size(key);
    if (size === undefined) return undefined;
    if (size > limit) throw new Error(`${key} has ${size} bytes, over the ${limit} expected`);
    if (size === 0) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.getRange(key, 0, size - 1)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async remove(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, key).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchObject';
}
