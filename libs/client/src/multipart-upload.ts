import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basename } from 'node:path';
import type { z } from 'zod';
import { ApiClient, ApiError, parseAnswer, routeOf } from './api-client';

export interface UploadPart {
  /** The form field: a file role such as `detector`, `embedder`, `head`. */
  field: string;
  file: string;
}

/**
 * Streams files from disk as one multipart/form-data POST with a known Content-Length (so servers without
 * chunked uploads and S3 back ends that need sizes work), reporting progress. A file is never read whole.
 */
export async function uploadMultipart<T>(
  client: ApiClient,
  path: string,
  parts: UploadPart[],
  fields: Record<string, string> = {},
  onProgress?: (sent: number, total: number) => void,
): Promise<T> {
  return (await sendMultipart(client, path, parts, fields, onProgress)).body as T;
}

/** `uploadMultipart` whose answer is read with the route's response schema (an ApiResponseError naming the route otherwise). */
export async function uploadMultipartParsed<S extends z.ZodType>(
  client: ApiClient,
  path: string,
  schema: S,
  parts: UploadPart[],
  fields: Record<string, string> = {},
  onProgress?: (sent: number, total: number) => void,
): Promise<z.output<S>> {
  const { status, body } = await sendMultipart(client, path, parts, fields, onProgress);
  return parseAnswer(schema, body, routeOf('POST', path), status);
}

async function sendMultipart(
  client: ApiClient,
  path: string,
  parts: UploadPart[],
  fields: Record<string, string>,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ status: number; body: unknown }> {
  const boundary = `edgeloop-${randomBytes(12).toString('hex')}`;
  const pieces: Array<Buffer | { file: string; size: number }> = [];
  for (const [name, value] of Object.entries(fields)) {
    pieces.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  let fileBytes = 0;
  for (const part of parts) {
    const size = (await stat(part.file)).size;
    fileBytes += size;
    const name = basename(part.file).replace(/["\r\n]/g, '_');
    pieces.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${part.field}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    );
    pieces.push({ file: part.file, size });
    pieces.push(Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  const length = pieces.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.size), 0);
  const url = new URL(client.url(path));
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = send(url, {
      method: 'POST',
      headers: client.headers({ 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(length) }),
    });
    req.on('error', (err) => reject(new ApiError(0, 'unreachable', `upload failed: ${err.message}`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        if ((res.statusCode ?? 500) >= 400) {
          reject(
            new ApiError(
              res.statusCode ?? 500,
              String(body?.error ?? `http_${res.statusCode}`),
              String(body?.message ?? text.slice(0, 200)),
              (body?.details as unknown[]) ?? [],
            ),
          );
        } else resolve({ status: res.statusCode ?? 200, body });
      });
    });
    (async () => {
      let sent = 0;
      for (const piece of pieces) {
        if (Buffer.isBuffer(piece)) {
          if (!req.write(piece)) await new Promise((r) => req.once('drain', r));
          continue;
        }
        for await (const chunk of createReadStream(piece.file, { highWaterMark: 256 * 1024 })) {
          sent += (chunk as Buffer).length;
          onProgress?.(sent, fileBytes);
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
      }
      req.end();
    })().catch((err: Error) => {
      req.destroy(err);
    });
  });
}
