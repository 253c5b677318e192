import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import { startS3, stopAllStarted, type S3Server } from '@edgeloop/embedded';
import { waitUntilStopped } from '@edgeloop/harness';

// backstop: whatever a failing test left running
afterAll(() => stopAllStarted());

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('startS3', () => {
  let s3: S3Server;
  let minio: Client;
  const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
  const key = `blobs/sha256/${createHash('sha256').update(body).digest('hex')}`;

  beforeAll(async () => {
    s3 = await startS3();
    minio = new Client(s3.clientOptions);
  });

  afterAll(async () => {
    await s3?.stop();
  });

  it('exposes minio client options with s3rver credentials', () => {
    expect(s3).toMatchObject({ endPoint: '127.0.0.1', accessKey: 'S3RVER', secretKey: 'S3RVER', useSSL: false });
    expect(s3.port).not.toBe(9000);
  });

  it('creates a bucket and stores an object of known size', async () => {
    await minio.makeBucket('models', s3.region);
    expect(await minio.bucketExists('models')).toBe(true);
    const uploaded = await minio.putObject('models', key, body, body.length, { 'Content-Type': 'application/octet-stream' });
    expect(uploaded.etag).toBeTruthy();
  });

  it('stats the object', async () => {
    const stat = await minio.statObject('models', key);
    expect(stat.size).toBe(body.length);
  });

  it('serves a byte range (getPartialObject)', async () => {
    const part = await readAll(await minio.getPartialObject('models', key, 1000, 96));
    expect(part.equals(body.subarray(1000, 1096))).toBe(true);
  });

  it('serves a presigned GET through fetch, with Range', async () => {
    const url = await minio.presignedGetObject('models', key, 60);
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(body)).toBe(true);
    const ranged = await fetch(url, { headers: { Range: 'bytes=4000-4095' } });
    expect(ranged.status).toBe(206);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(body.subarray(4000, 4096))).toBe(true);
  });

  it('keeps buckets in a given dir across servers (embedded mode)', async () => {
    const first = await startS3({ buckets: ['persisted'] });
    const dir = first.dir;
    const client = new Client(first.clientOptions);
    await client.putObject('persisted', 'a.txt', 'kept', 4);
    // a second server on the same folder sees the object
    const second = await startS3({ dir });
    try {
      const text = await readAll(await new Client(second.clientOptions).getObject('persisted', 'a.txt'));
      expect(text.toString()).toBe('kept');
    } finally {
      await second.stop();
    }
    expect(existsSync(dir)).toBe(true); // a given dir is never removed
    await first.stop();
    expect(existsSync(dir)).toBe(false); // the temp dir the harness made is
  });

  it('stop() frees the port even with keep-alive connections open', async () => {
    const other = await startS3({ buckets: ['keepalive'] });
    await new Client(other.clientOptions).bucketExists('keepalive'); // leaves a keep-alive socket
    await other.stop();
    await expect(waitUntilStopped({ port: other.port })).resolves.toEqual({ processGone: true, portFree: true });
  });
});
