import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './host-resolver';

/** One POST of a delivery. */
export interface WebhookPost {
  url: URL;
  /** The address checked by the SSRF rules: the connection goes there, whatever DNS says now. */
  pinned: ResolvedAddress;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
}

/** What came back; `statusCode` is null when no HTTP answer came (refused, reset, timeout, TLS error). */
export interface WebhookAnswer {
  statusCode: number | null;
  latencyMs: number;
  /** The first bytes of the answer's body (at most RESPONSE_EXCERPT_BYTES), as text. */
  responseExcerpt: string | null;
  error: string | null;
}

export const RESPONSE_EXCERPT_BYTES = 1024;

const USER_AGENT = 'edgeloop-webhooks/1';

/**
 * The only class that makes outgoing webhook calls. The connection is pinned to the checked address
 * through a custom `lookup` (TLS still verifies the URL's host name), no agent pool is shared, redirects
 * are not followed (a 3xx is a failed attempt), and one deadline covers connect, request and answer.
 * It never throws: every failure is an answer with an `error`.
 */
@Injectable()
export class WebhookSender {
  post(post: WebhookPost): Promise<WebhookAnswer> {
    const started = performance.now();
    const { url, pinned } = post;
    const lookup: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
      else callback(null, pinned.address, pinned.family);
    };
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return new Promise<WebhookAnswer>((resolve) => {
      let settled = false;
      let statusCode: number | null = null;
      const excerpt: Buffer[] = [];
      let excerptBytes = 0;
      const finish = (error: string | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        req.destroy();
        // `stream: true` leaves out a character cut in half at the end of the excerpt
        const text = excerptBytes > 0 ? new TextDecoder().decode(Buffer.concat(excerpt), { stream: true }).replace(/\u0000/g, '') : null;
        resolve({ statusCode, latencyMs: Math.round((performance.now() - started) * 10) / 10, responseExcerpt: text, error });
      };
      const onResponse = (res: IncomingMessage): void => {
        statusCode = res.statusCode ?? null;
        res.on('data', (chunk: Buffer) => {
          if (excerptBytes < RESPONSE_EXCERPT_BYTES) {
            excerpt.push(chunk.subarray(0, RESPONSE_EXCERPT_BYTES - excerptBytes));
            excerptBytes += Math.min(chunk.length, RESPONSE_EXCERPT_BYTES - excerptBytes);
          }
          // the rest of a long answer is not read: the status and an excerpt are all that is kept
          if (excerptBytes >= RESPONSE_EXCERPT_BYTES) finish(null);
        });
        res.on('end', () => finish(null));
        res.on('error', (err) => finish(statusCode === null ? describe(err) : null));
      };
      const options = {
        method: 'POST',
        hostname,
        port: url.port === '' ? undefined : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers: { ...post.headers, 'Content-Length': String(Buffer.byteLength(post.body)), 'User-Agent': USER_AGENT },
        agent: false,
        lookup,
      } as const;
      const req = url.protocol === 'https:' ? httpsRequest({ ...options, servername: isIpLiteral(hostname) ? undefined : hostname }, onResponse) : httpRequest(options, onResponse);
      const deadline = setTimeout(
        () => finish(statusCode === null ? `no answer within ${post.timeoutMs} ms` : null),
        post.timeoutMs,
      );
      req.on('error', (err) => finish(describe(err)));
      req.end(post.body);
    });
  }
}

function isIpLiteral(hostname: string): boolean {
  return /^[0-9.]+$/.test(hostname) || hostname.includes(':');
}

function describe(err: Error & { code?: string }): string {
  const text = err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
  return text.slice(0, 500);
}
