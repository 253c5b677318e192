import http from 'node:http';
import https from 'node:https';
import { MIMEType } from 'node:util';
import { Logger } from '../logger';
import { Backoff, defaultReconnect, type BackoffOptions } from './backoff';
import { FrameSource, type FrameSourceOptions } from './frame-source';
import { MjpegParser } from './mjpeg-parser';
import { redactUrl } from './source-spec';

export interface MjpegSourceOptions extends FrameSourceOptions {
  /** A part (frame) larger than this is dropped and counted in `rejected`. */
  maxFrameBytes: number;
  reconnect?: BackoffOptions;
  /** No bytes for this long (connecting or streaming) counts as a dropped stream. */
  stallTimeoutMs?: number;
}

/** Why a connection to the camera ended. `permanent` errors end the source instead of reconnecting. */
export class MjpegStreamError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'MjpegStreamError';
  }
}

const STREAM_TYPES = new Set(['multipart/x-mixed-replace', 'multipart/mixed']);

/**
 * A camera's MJPEG stream over HTTP(S) (`multipart/x-mixed-replace`), one frame per part. A dropped,
 * stalled or refused connection (network errors, HTTP 5xx, 408, 429) is opened again with exponential
 * back-off, reset once a connection has delivered a frame. An answer that retrying cannot fix — another
 * HTTP status, a redirect, a body that is not a multipart stream — ends the source with that error.
 * User and password in the URL are sent as HTTP Basic authentication and never logged.
 */
export class MjpegSource extends FrameSource<Buffer> {
  readonly name: string;
  private readonly logger = new Logger(MjpegSource.name);
  private readonly url: URL;
  private readonly backoff: Backoff;
  private readonly stallTimeoutMs: number;

  constructor(
    url: string,
    private readonly options: MjpegSourceOptions,
  ) {
    super(options);
    this.url = new URL(url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`MJPEG needs an http(s) URL, got ${redactUrl(url)}`);
    this.name = `mjpeg:${redactUrl(this.url.href)}`;
    this.backoff = new Backoff(options.reconnect ?? defaultReconnect);
    this.stallTimeoutMs = options.stallTimeoutMs ?? 10_000;
  }

  protected async run(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      if (attempt > 0) this.stats.reconnects++;
      const framesBefore = this.stats.produced + this.stats.rejected;
      try {
        await this.stream();
        if (this.stopped) return;
        this.logger.warn(`${this.name}: the stream ended`);
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof MjpegStreamError && err.permanent) throw err;
        this.logger.warn(`${this.name}: ${(err as Error).message}`);
      }
      if (this.stats.produced + this.stats.rejected > framesBefore) this.backoff.reset();
      const delay = this.backoff.next();
      this.logger.info(`${this.name}: reconnecting in ${delay} ms`);
      await this.sleep(delay);
    }
  }

  /** One connection: resolves when the server ends the body, rejects on any other end. */
  private stream(): Promise<void> {
    return new Promise((resolve, reject) => {
      const client = this.url.protocol === 'https:' ? https : http;
      const request = client.get(this.url, {
        signal: this.signal,
        headers: { accept: 'multipart/x-mixed-replace, multipart/mixed;q=0.9', 'user-agent': 'edgeloop-edge' },
      });
      let settled = false;
      const finish = (error?: MjpegStreamError) => {
        if (settled) return;
        settled = true;
        request.destroy();
        if (error && !this.stopped) reject(error);
        else resolve();
      };
      request.setTimeout(this.stallTimeoutMs, () => finish(new MjpegStreamError(`no data for ${this.stallTimeoutMs} ms`, false)));
      request.on('error', (err: NodeJS.ErrnoException) => finish(new MjpegStreamError(`connection failed: ${err.code ?? err.message}`, false)));
      request.on('response', (response) => {
        const refusal = this.refusal(response);
        if (refusal) {
          response.resume();
          finish(refusal);
          return;
        }
        const boundary = new MIMEType(response.headers['content-type'] ?? '').params.get('boundary') ?? '';
        const parser = new MjpegParser({
          boundary,
          maxFrameBytes: this.options.maxFrameBytes,
          onFrame: (jpeg) => this.push(jpeg, this.name),
          onRejected: (reason) => {
            this.stats.rejected++;
            this.logger.debug(`${this.name}: frame dropped: ${reason}`);
          },
        });
        parser.on('error', (err) => finish(new MjpegStreamError(`malformed multipart stream: ${err.message}`, false)));
        response.on('end', () => finish());
        response.on('error', (err) => finish(new MjpegStreamError(`connection dropped: ${err.message}`, false)));
        response.on('close', () => finish(new MjpegStreamError('connection dropped', false)));
        response.pipe(parser);
      });
    });
  }

  /** The error for a response that is not an MJPEG stream, or undefined when it is one. */
  private refusal(response: http.IncomingMessage): MjpegStreamError | undefined {
    const status = response.statusCode ?? 0;
    if (status !== 200) {
      const transient = status >= 500 || status === 408 || status === 425 || status === 429;
      const where = status >= 300 && status < 400 && response.headers.location ? ` (redirect to ${redactUrl(response.headers.location)} not followed)` : '';
      return new MjpegStreamError(`HTTP ${status} ${response.statusMessage ?? ''}`.trim() + where, !transient);
    }
    const contentType = response.headers['content-type'];
    let media: MIMEType | undefined;
    try {
      media = contentType ? new MIMEType(contentType) : undefined;
    } catch {
      media = undefined;
    }
    if (!media || !STREAM_TYPES.has(media.essence)) {
      return new MjpegStreamError(
        `expected Content-Type multipart/x-mixed-replace (an MJPEG stream), got ${contentType ?? 'none'}` +
          (media?.essence === 'image/jpeg' ? ' — that URL serves single snapshots, not a stream' : ''),
        true,
      );
    }
    if (!media.params.get('boundary')) return new MjpegStreamError(`Content-Type ${contentType} has no boundary parameter`, true);
    return undefined;
  }
}
