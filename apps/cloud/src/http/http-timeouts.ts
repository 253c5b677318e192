import type { Server } from 'node:http';
import { z } from 'zod';

const ms = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** How long the cloud waits for a client that sends slowly or stops (docs/configuration.md). */
export const httpTimeoutEnvShape = {
  /** The whole request, headers and body, must arrive within this; else 408 and the connection is closed. */
  EDGELOOP_HTTP_REQUEST_TIMEOUT_MS: ms(100, 86_400_000).default(300_000),
  /** The request headers must arrive within this; else 408 and the connection is closed. */
  EDGELOOP_HTTP_HEADERS_TIMEOUT_MS: ms(100, 3_600_000).default(60_000),
  /** An idle keep-alive connection is closed after this. */
  EDGELOOP_HTTP_KEEP_ALIVE_TIMEOUT_MS: ms(100, 3_600_000).default(5_000),
  /** An upload body that sends no byte for this long is refused (408) and its connection closed. */
  EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS: ms(100, 3_600_000).default(30_000),
};

type HttpTimeoutEnv = { [K in keyof typeof httpTimeoutEnvShape]: z.output<(typeof httpTimeoutEnvShape)[K]> };

export interface HttpTimeouts {
  requestMs: number;
  headersMs: number;
  keepAliveMs: number;
  uploadIdleMs: number;
}

export function httpTimeoutSettings(env: HttpTimeoutEnv): HttpTimeouts {
  return {
    requestMs: env.EDGELOOP_HTTP_REQUEST_TIMEOUT_MS,
    headersMs: env.EDGELOOP_HTTP_HEADERS_TIMEOUT_MS,
    keepAliveMs: env.EDGELOOP_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    uploadIdleMs: env.EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS,
  };
}

/** Node refuses a headers timeout longer than the request timeout. */
export function httpTimeoutProblems(env: HttpTimeoutEnv): string[] {
  return env.EDGELOOP_HTTP_HEADERS_TIMEOUT_MS > env.EDGELOOP_HTTP_REQUEST_TIMEOUT_MS
    ? ['EDGELOOP_HTTP_HEADERS_TIMEOUT_MS must not exceed EDGELOOP_HTTP_REQUEST_TIMEOUT_MS']
    : [];
}

/**
 * How often Node looks for requests past their headers or request timeout: a quarter of the shorter one
 * (Node's own default is a fixed 30 s, which would let a 1 s timeout run for 30 s), within 100 ms–30 s.
 */
export function connectionsCheckingInterval(timeouts: HttpTimeouts): number {
  return Math.min(30_000, Math.max(100, Math.floor(Math.min(timeouts.headersMs, timeouts.requestMs) / 4)));
}

/**
 * Sets the timeouts on the cloud's HTTP server before it listens (Node starts its timeout checks when the server
 * starts listening, with the interval set then). A request whose headers or body do not arrive in time gets
 * Node's `408 Request Timeout` while no response has started, and its connection is closed.
 */
export function applyHttpTimeouts(server: Server, timeouts: HttpTimeouts): void {
  server.requestTimeout = timeouts.requestMs;
  server.headersTimeout = timeouts.headersMs;
  server.keepAliveTimeout = timeouts.keepAliveMs;
  // a property of every http.Server since Node 18.12, read when it starts listening; not in @types/node's class
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = connectionsCheckingInterval(timeouts);
}
