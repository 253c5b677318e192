import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ApiClient, ApiError } from './api-client';

export interface BlobDownloadOptions {
  sha256: string;
  /** The size the manifest declares; a longer body is refused. */
  size: number;
  /** Path of the finished file; `<dest>.part` holds a partial download between attempts and restarts. */
  dest: string;
  /** Attempts before giving up; each resumes from the bytes already on disk. Default 5. */
  attempts?: number;
  /** First back-off delay in ms, doubled each attempt with jitter. Default 250. */
  backoffMs?: number;
  /**
   * Whole downloads from byte 0 after a finished file failed its sha256 (the partial file it resumed may
   * have been poisoned, or the server was repaired meanwhile). Each one is also an attempt. Default 2.
   */
  integrityRetries?: number;
  /**
   * A request that receives no byte (no headers, no body chunk) for this long is aborted and the next
   * attempt resumes with Range. Default 30 000; 0 = none.
   */
  stallTimeoutMs?: number;
  onProgress?: (received: number, total: number) => void;
  /** Every body chunk received, as it arrives — also on attempts that fail or whose bytes are discarded. */
  onBytes?: (bytes: number) => void;
  /** An attempt that asks for the rest with `Range: bytes=<offset>-` (also the first one, if a `.part` was left). */
  onResume?: (offset: number, attempt: number) => void;
  signal?: AbortSignal;
}

export interface BlobDownloadResult {
  /** The blob's size. */
  bytes: number;
  /** Bytes a `.part` already held when the call started (0 when it was discarded on the way). */
  resumedFrom: number;
  /** Body bytes received by this call, over every attempt: what crossed the network, kept or not. */
  receivedBytes: number;
  /** The offset of every Range request this call made, in order. */
  resumes: number[];
  /** GET requests made. */
  requests: number;
}

export class BlobStallError extends Error {
  readonly code = 'blob_stalled';
}

export class BlobIntegrityError extends Error {
  readonly code = 'blob_sha256_mismatch';
}

/**
 * Downloads a content-addressed blob with HTTP Range resume: bytes already in `<dest>.part` are kept and
 * only the rest is asked for, across retries and process restarts. The finished file's sha256 must equal
 * its address before it is renamed into place. A mismatch discards the partial file — it is never resumed
 * again — and the blob is fetched whole from byte 0, at most `integrityRetries` times (bounded: a server
 * that keeps sending wrong bytes ends in a `BlobIntegrityError`).
 */
export async function downloadBlob(client: ApiClient, path: string, options: BlobDownloadOptions): Promise<BlobDownloadResult> {
  const part = `${options.dest}.part`;
  const attempts = options.attempts ?? 5;
  let resumedFrom = await sizeOf(part);
  const tally = { receivedBytes: 0, resumes: [] as number[], requests: 0 };
  let integrityRetries = options.integrityRetries ?? 2;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(backoffDelay(options.backoffMs ?? 250, attempt), options.signal);
    try {
      let offset = await sizeOf(part);
      if (offset > options.size) {
        await rm(part, { force: true });
        offset = 0;
      }
      if (offset < options.size) {
        if (offset > 0) {
          tally.resumes.push(offset);
          options.onResume?.(offset, attempt);
        }
        tally.requests++;
        await fetchRange(client, path, part, offset, options, (bytes) => {
          tally.receivedBytes += bytes;
          options.onBytes?.(bytes);
        });
      }
      const stored = await sizeOf(part);
      // A body that ended early is resumed on the next attempt, not hashed (and not thrown away).
      if (stored < options.size) throw new Error(`blob ${options.sha256}: the body ended at ${stored} of ${options.size} bytes`);
      const actual = await sha256File(part);
      if (actual !== options.sha256) {
        await rm(part, { force: true });
        throw new BlobIntegrityError(`blob ${options.sha256}: downloaded bytes hash to ${actual}`);
      }
      await rename(part, options.dest);
      return { bytes: options.size, resumedFrom, ...tally };
    } catch (err) {
      lastError = err;
      if (err instanceof BlobIntegrityError) {
        // The partial file is gone (removed above, or never written past the limit): the next try starts at 0.
        await rm(part, { force: true });
        resumedFrom = 0;
        if (integrityRetries-- <= 0 || options.signal?.aborted) throw err;
        continue;
      }
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
        throw err;
      }
      if (options.signal?.aborted) throw err;
    }
  }
  throw lastError;
}

async function fetchRange(
  client: ApiClient,
  path: string,
  part: string,
  offset: number,
  options: BlobDownloadOptions,
  onChunk: (bytes: number) => void,
): Promise<void> {
  const stall = new StallWatch(options.stallTimeoutMs ?? 30_000, options.sha256);
  try {
    await fetchRangeWatched(client, path, part, offset, options, onChunk, stall);
  } catch (err) {
    throw stall.error ?? err;
  } finally {
    stall.stop();
  }
}

/** Aborts a request when nothing arrives for `ms`; every chunk (and the response headers) re-arms it. */
class StallWatch {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  error: BlobStallError | undefined;

  constructor(
    private readonly ms: number,
    private readonly sha256: string,
  ) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  touch(): void {
    if (this.ms <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.error = new BlobStallError(`blob ${this.sha256}: no byte received for ${this.ms} ms`);
      this.controller.abort(this.error);
    }, this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

async function fetchRangeWatched(
  client: ApiClient,
  path: string,
  part: string,
  offset: number,
  options: BlobDownloadOptions,
  onChunk: (bytes: number) => void,
  stall: StallWatch,
): Promise<void> {
  const headers = client.headers(offset > 0 ? { range: `bytes=${offset}-` } : {});
  const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
  const res = await get(new URL(client.url(path)), headers, signal);
  stall.touch();
  const status = res.statusCode ?? 0;
  if (status !== 200 && status !== 206) {
    const text = await readText(res, ERROR_BODY_LIMIT).catch(() => '');
    let code = `http_${status}`;
    let message = text.slice(0, 200);
    try {
      const body = JSON.parse(text) as { error?: string; message?: string };
      code = body.error ?? code;
      message = body.message ?? message;
    } catch {
      // not JSON
    }
    throw new ApiError(status, code, message);
  }
  const append = status === 206 && offset > 0;
  let received = append ? offset : 0;
  // Every byte that arrived is on disk before this returns or throws: a break, a stall or an abort mid-body
  // ends the file stream gracefully (its queued writes flushed) instead of destroying it, so the next attempt
  // resumes exactly where the counted bytes end. (stream.pipeline would destroy the file stream on a source
  // error and drop writes still queued — a loaded device then re-downloaded bytes it had already counted.)
  const out = createWriteStream(part, { flags: append ? 'a' : 'w' });
  const outFailed = new Promise<never>((_, reject) => out.once('error', reject));
  outFailed.catch(() => undefined);
  let failure: unknown;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      stall.touch();
      onChunk(chunk.length);
      received += chunk.length;
      if (received > options.size) throw new BlobIntegrityError(`blob ${options.sha256}: more than the declared ${options.size} bytes`);
      options.onProgress?.(received, options.size);
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), outFailed]);
    }
  } catch (err) {
    failure = err;
  } finally {
    // a body left early (too long, a failed write) must not keep the connection busy
    if (!res.complete) res.destroy();
  }
  await Promise.race([new Promise<void>((resolve) => out.end(resolve)), outFailed]);
  if (failure !== undefined) throw failure;
}

/** How much of an error answer's body is read for its code and message. */
const ERROR_BODY_LIMIT = 16 * 1024;
/** Redirects followed, as fetch would (a presigned URL behind a redirect); the token never leaves its origin. */
const MAX_REDIRECTS = 5;

/**
 * `GET url` on node:http(s) — not the global fetch, whose undici stack costs a small device ≈ 20 MB of memory
 * at its first download. Aborting `signal` destroys the request and its response with the signal's reason,
 * which is what the caller then sees (as with fetch). Redirects are followed; the authorization header is
 * dropped when one leaves the origin. No `accept-encoding` is sent: the body is the blob's bytes as stored.
 */
async function get(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  for (let redirects = 0; ; redirects++) {
    const res = await requestOnce(url, headers, signal);
    const location = res.headers.location;
    if (!REDIRECT_STATUSES.has(res.statusCode ?? 0) || !location) return res;
    res.resume();
    if (redirects >= MAX_REDIRECTS) throw new Error(`GET ${url.origin}${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, url);
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase() !== 'authorization'));
    }
    url = next;
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * One `GET` on node:http(s), no redirect followed: not the global fetch, whose undici stack costs a process
 * ≈ 20 MB of RSS the first time it is used (docs/benchmarks.md, "Edge worker"). Aborting `signal` ends the
 * request and its answer with the signal's reason. The edge's head-delta fetch uses it too.
 */
export function requestOnce(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const send = url.protocol === 'https:' ? httpsRequest : url.protocol === 'http:' ? httpRequest : undefined;
    if (!send) return reject(new TypeError(`blob URL ${url.origin}${url.pathname}: only http and https are supported`));
    let res: IncomingMessage | undefined;
    const onAbort = () => {
      req.destroy(signal.reason);
      res?.destroy(signal.reason);
      reject(signal.reason);
    };
    const req = send(url, { method: 'GET', headers }, (answer) => {
      res = answer;
      answer.once('close', () => signal.removeEventListener('abort', onAbort));
      resolve(answer);
    });
    req.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

async function readText(res: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= limit) {
      res.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** Bytes read at a time by `sha256File`. */
export const HASH_READ_BYTES = 1024 * 1024;

/**
 * sha256 of a file, read through one buffer. A read stream's 64 KiB chunks come from glibc's main heap
 * (below its 128 KiB mmap threshold) and are freed only when V8 collects them: on the edge, hashing the base
 * models (7 MB) at the first switch left the heap 2–5 MB larger for good. One 1 MiB buffer is mapped on its own
 * and given back whole.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafeSlow(HASH_READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The longest wait between two attempts: the doubling stops there (EDGE_DOWNLOAD_ATTEMPTS may be up to 100). */
export const MAX_BACKOFF_MS = 30_000;

/** The wait before `attempt` (1, 2, …): `base` doubled each attempt up to MAX_BACKOFF_MS, the upper half jittered. */
export function backoffDelay(base: number, attempt: number): number {
  const ceiling = Math.min(base * 2 ** (attempt - 1), Math.max(base, MAX_BACKOFF_MS));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Waits `ms`; an abort (also one before the call) rejects with the signal's reason, and no listener is left behind. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
