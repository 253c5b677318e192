import { InvalidImageError, MAX_INPUT_PIXELS, readImageHeader } from '@edgeloop/vision';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '../logger';
import { FrameSource, type FrameSourceOptions } from './frame-source';
import { imageFormatOfMediaType, sniffImageFormat } from './image-format';

export interface HttpPushSourceOptions extends FrameSourceOptions {
  host: string;
  /** 0 picks a free port (tests); address() tells which. */
  port: number;
  /** Largest accepted body; larger ones are answered 413. */
  maxFrameBytes: number;
  /** When set, POST /frames needs `Authorization: Bearer <token>`. */
  token?: string;
  /** Bodies being received at once; more are answered 503 (bounds memory to about this × maxFrameBytes). */
  maxConcurrentUploads?: number;
  /** Largest width × height accepted, read from the image header before the frame is queued; default MAX_INPUT_PIXELS. */
  maxPixels?: number;
}

/** Counts of POST /frames answers by outcome, for /healthz and metrics. */
export interface HttpPushRequestStats {
  accepted: number;
  unauthorized: number;
  unsupportedType: number;
  tooLarge: number;
  /** Refused from the image header: more pixels than `maxPixels` (a decompression bomb). */
  tooManyPixels: number;
  invalidImage: number;
  busy: number;
}

/**
 * An HTTP endpoint that accepts frames: `POST /frames` with an `image/jpeg` or `image/png` body is
 * answered `202 {"seq", "status"}` once the frame is in the newest-wins mailbox (`status` is
 * `rate-limited` when it came above the maximum rate and was dropped). The body's first bytes must match
 * its declared type — bytes that are no image would otherwise displace a real frame from the one-slot
 * mailbox — so such a body is answered 422; a body that has the right signature but is corrupt further
 * on is accepted and fails in the decoder (the worker counts it as a failed frame). An image whose header
 * announces more than `maxPixels` (a decompression bomb: a 750 KB PNG can claim 16000 × 16000) is answered
 * 413 `image_too_large` from its header alone, before it is queued, so it is never decoded. `GET /healthz`
 * reports the source's counters. Errors are JSON `{ "error": code, "message": … }`.
 */
export class HttpPushSource extends FrameSource<Buffer> {
  readonly name: string;
  readonly requests: HttpPushRequestStats = { accepted: 0, unauthorized: 0, unsupportedType: 0, tooLarge: 0, tooManyPixels: 0, invalidImage: 0, busy: 0 };
  private readonly logger = new Logger(HttpPushSource.name);
  private readonly tokenDigest: Buffer | undefined;
  private readonly listening: Promise<AddressInfo>;
  private announce!: { resolve: (address: AddressInfo) => void; reject: (err: Error) => void };
  private uploads = 0;

  constructor(private readonly options: HttpPushSourceOptions) {
    super(options);
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.name = `http-push:${host}:${options.port}`;
    this.tokenDigest = options.token ? digest(options.token) : undefined;
    this.listening = new Promise((resolve, reject) => (this.announce = { resolve, reject }));
    this.listening.catch(() => undefined);
  }

  /** Where the server listens, once it does (rejects when it could not listen). */
  address(): Promise<AddressInfo> {
    return this.listening;
  }

  protected async run(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.options.port, this.options.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const error = new Error(`${this.name}: cannot listen: ${(err as Error).message}`);
      this.announce.reject(error);
      throw error;
    }
    server.on('error', (err) => this.logger.error(`${this.name}: ${err.message}`));
    const address = server.address() as AddressInfo;
    this.announce.resolve(address);
    this.logger.info(`accepting frames on http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/frames`);
    await new Promise<void>((resolve) => {
      if (this.stopped) resolve();
      else this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await close(server);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method_not_allowed', message: 'use GET /healthz' }, { allow: 'GET, HEAD' });
      return reply(res, 200, { status: this.stopped ? 'stopping' : 'ok', source: this.name, stats: this.stats, requests: this.requests });
    }
    if (path !== '/frames') return reply(res, 404, { error: 'not_found', message: `no route ${req.method} ${path}; frames go to POST /frames` });
    if (req.method !== 'POST') return reply(res, 405, { error: 'method_not_allowed', message: 'use POST /frames' }, { allow: 'POST' });
    this.receiveFrame(req, res);
  }

  private receiveFrame(req: IncomingMessage, res: ServerResponse): void {
    const { maxFrameBytes } = this.options;
    if (this.tokenDigest && !this.authorized(req.headers.authorization)) {
      this.requests.unauthorized++;
      return reply(res, 401, { error: 'unauthorized', message: 'POST /frames needs Authorization: Bearer <token>' }, { 'www-authenticate': 'Bearer' });
    }
    const contentType = req.headers['content-type'];
    const format = imageFormatOfMediaType(contentType);
    if (!format) {
      this.requests.unsupportedType++;
      this.stats.rejected++;
      return reply(res, 415, {
        error: 'unsupported_media_type',
        message: `POST /frames takes Content-Type image/jpeg or image/png, got ${contentType ?? 'none'}`,
      });
    }
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > maxFrameBytes) return this.tooLarge(res);
    if (this.uploads >= (this.options.maxConcurrentUploads ?? 4)) {
      this.requests.busy++;
      return reply(res, 503, { error: 'busy', message: 'too many frames being uploaded at once; retry' }, { 'retry-after': '1' });
    }
    this.uploads++;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return false;
      done = true;
      this.uploads--;
      return true;
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxFrameBytes) {
        finish();
        chunks.length = 0;
        this.tooLarge(res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => finish());
    req.on('close', () => finish());
    req.on('end', () => {
      if (!finish()) return;
      const body = Buffer.concat(chunks, size);
      if (body.length === 0) {
        this.requests.invalidImage++;
        this.stats.rejected++;
        return reply(res, 400, { error: 'empty_body', message: 'the request has no image' });
      }
      const actual = sniffImageFormat(body);
      if (actual !== format) {
        this.requests.invalidImage++;
        this.stats.rejected++;
        return reply(res, 422, {
          error: 'invalid_image',
          message: `the body is not ${format === 'jpeg' ? 'a JPEG' : 'a PNG'} (its first bytes are ${actual ? `a ${actual.toUpperCase()} signature` : 'no image signature'})`,
        });
      }
      void this.admit(body, req, res);
    });
  }

  /** Checks the header's dimensions (no pixel is decoded), then queues the frame. */
  private async admit(body: Buffer, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await readImageHeader(body, { maxPixels: this.options.maxPixels ?? MAX_INPUT_PIXELS });
    } catch (err) {
      if (err instanceof InvalidImageError && err.code === 'IMAGE_TOO_LARGE') {
        this.requests.tooManyPixels++;
        this.stats.rejected++;
        this.logger.warn(`${this.name}: refused a frame from ${req.socket.remoteAddress ?? 'unknown'}: ${err.message}`);
        return reply(res, 413, { error: 'image_too_large', message: err.message });
      }
      // A header that does not parse is left to the decoder, which counts the frame as failed.
    }
    const pushed = this.push(body, `${this.name} from ${req.socket.remoteAddress ?? 'unknown'}`);
    if (pushed.status === 'stopped') return reply(res, 503, { error: 'stopping', message: 'the source is stopping' });
    this.requests.accepted++;
    reply(res, 202, { seq: pushed.seq, status: pushed.status });
  }

  private tooLarge(res: ServerResponse): void {
    this.requests.tooLarge++;
    this.stats.rejected++;
    // Close the connection rather than read the rest of an oversized body.
    reply(res, 413, { error: 'payload_too_large', message: `a frame may be at most ${this.options.maxFrameBytes} bytes` }, { connection: 'close' });
  }

  private authorized(header: string | undefined): boolean {
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    return !!match && !!this.tokenDigest && timingSafeEqual(digest(match[1].trim()), this.tokenDigest);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
