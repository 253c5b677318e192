import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TappedRequest {
  method: string;
  path: string;
  range: string | undefined;
  /** The cloud's status code, once it answered. */
  status?: number;
  /** Response body bytes sent to the client (so far). */
  bytes: number;
}

/**
 * A real HTTP reverse proxy in front of the cloud for edge tests: it records every request (path, Range,
 * bytes sent) and can slow the response body down, so a test can see what a worker downloaded and kill it
 * in the middle of a download.
 */
export class HttpTap {
  readonly requests: TappedRequest[] = [];
  /** Bytes per second of response bodies; 0 = unlimited. */
  bytesPerSecond = 0;
  private server: Server | undefined;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    const target = new URL(this.target);
    const server = createServer((req, res) => {
      const entry: TappedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', range: header(req.headers, 'range'), bytes: 0 };
      this.requests.push(entry);
      const upstream = request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } },
        (answer) => {
          entry.status = answer.statusCode;
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.on('data', (chunk: Buffer) => {
            entry.bytes += chunk.length;
            if (!res.write(chunk) || this.bytesPerSecond > 0) {
              answer.pause();
              const wait = this.bytesPerSecond > 0 ? (chunk.length / this.bytesPerSecond) * 1000 : 0;
              const resume = () => setTimeout(() => answer.resume(), wait);
              if (res.writableNeedDrain) res.once('drain', resume);
              else resume();
            }
          });
          answer.on('end', () => res.end());
          answer.on('error', () => res.destroy());
        },
      );
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** Requests for one blob. */
  blobRequests(sha256: string): TappedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(`/blobs/${sha256}`));
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
