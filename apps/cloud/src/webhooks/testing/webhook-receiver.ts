import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  method: string;
  headers: IncomingHttpHeaders;
  /** The raw body bytes as text, before any JSON parsing (what a signature is checked on). */
  body: string;
  at: number;
}

/** How the receiver answers the n-th request (0-based) to a path; `hang` never answers. */
export type ReceiverBehaviour = (n: number, req: ReceivedRequest) => { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/** A webhook receiver for tests: an HTTP server on 127.0.0.1 (a free port) that records every request. */
export class WebhookReceiver {
  readonly received: ReceivedRequest[] = [];
  private readonly behaviours = new Map<string, ReceiverBehaviour>();
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | undefined;
  port = 0;

  /** Sets how `path` answers; paths without a behaviour answer 204. */
  on(path: string, behaviour: ReceiverBehaviour): this {
    this.behaviours.set(path, behaviour);
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): ReceivedRequest[] {
    return this.received.filter((r) => r.path === path);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? '/', 'http://receiver').pathname;
    const request: ReceivedRequest = { path, method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
    const n = this.at(path).length;
    this.received.push(request);
    const answer = this.behaviours.get(path)?.(n, request) ?? { status: 204 };
    if (answer === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
    res.end(answer.body ?? '');
  }
}
