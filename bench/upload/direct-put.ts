import type { Client } from 'minio';
import { createReadStream } from 'node:fs';
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';

/**
 * The reference: the same file put straight into the bucket with the minio client, the way the cloud's
 * BlobRepository puts a blob on s3rver (one PUT of known size; the client must have a part size above
 * the file size, since s3rver has no ListMultipartUploads and minio-js goes multipart above it).
 */
export async function minioPut(client: Client, bucket: string, key: string, file: string, size: number): Promise<void> {
  await client.putObject(bucket, key, createReadStream(file), size, { 'Content-Type': 'application/octet-stream' });
}

/**
 * For comparison only: one PUT to a presigned URL with the file streamed as the body (UNSIGNED-PAYLOAD),
 * so the client never holds the object in memory. minio-js's putObject buffers a single-PUT object whole
 * and hashes it before sending; this shows what a streamed put costs on the same server.
 */
export async function streamedPresignedPut(client: Client, bucket: string, key: string, file: string, size: number): Promise<void> {
  const url = await client.presignedPutObject(bucket, key, 600);
  await new Promise<void>((resolve, reject) => {
    // agent: false, a new connection, as the minio client of the bench makes (see run.ts)
    const req = request(url, { method: 'PUT', agent: false, headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if ((res.statusCode ?? 500) < 300) resolve();
        else reject(new Error(`presigned PUT answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`));
      });
      res.on('error', reject);
    });
    pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), req).catch(reject);
  });
}
