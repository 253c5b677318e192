import { Injectable, Logger } from '@nestjs/common';
import { Client } from 'minio';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CloudConfig } from '../config/cloud.config';

const SINGLE_PUT_LIMIT = 5 * 1024 ** 3;

export function blobKey(sha256: string): string {
  return `blobs/sha256/${sha256}`;
}

export function manifestKey(name: string, version: number): string {
  return `models/${name}/${version}/manifest.json`;
}

/**
 * Object storage (S3 protocol: MinIO in production, s3rver in tests and the embedded mode) through the
 * minio client. Uploads always pass their size; large ones go multipart where the server has it and fall
 * back to one PUT where it answers 501 (s3rver).
 */
@Injectable()
export class BlobRepository {
  private readonly logger = new Logger(BlobRepository.name);
  private readonly client: Client;
  private readonly singlePutClient: Client;
  private multipartSupported = true;
  readonly bucket: string;

  constructor(config: CloudConfig) {
    if (!config.s3) throw new Error('S3 is not configured (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY)');
    const { endPoint, port, useSSL, accessKey, secretKey, region } = config.s3;
    this.client = new Client({ endPoint, port, useSSL, accessKey, secretKey, region });
    this.singlePutClient = new Client({ endPoint, port, useSSL, accessKey, secretKey, region, partSize: SINGLE_PUT_LIMIT });
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

  async ping(): Promise<void> {
    await this.client.bucketExists(this.bucket);
  }

  async size(key: string): Promise<number | undefined> {
    try {
      return (await this.client.statObject(this.bucket, key)).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Puts a local file of known size under `key`. */
  async putFile(key: string, file: string, size: number, contentType = 'application/octet-stream'): Promise<void> {
    const meta = { 'Content-Type': contentType };
    if (this.multipartSupported || size <= 64 * 1024 ** 2) {
      try {
        await this.client.putObject(this.bucket, key, createReadStream(file), size, meta);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'NotImplemented') throw err;
        this.multipartSupported = false;
        this.logger.warn('the S3 server has no multipart upload; large blobs go up in one PUT');
      }
    }
    await this.singlePutClient.putObject(this.bucket, key, createReadStream(file), size, meta);
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
