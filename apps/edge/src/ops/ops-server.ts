import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '../logger';
import type { EdgeMetrics } from './edge-metrics';

export interface HealthReport {
  /** True while a pipeline is loaded and the frame loop runs. */
  ok: boolean;
  [key: string]: unknown;
}

/**
 * The operations endpoint: `GET /healthz` (200 with a JSON summary while the pipeline runs, 503
 * otherwise) and `GET /metrics` (Prometheus text format).
 */
export class OpsServer {
  private readonly logger = new Logger(OpsServer.name);
  private server: Server | undefined;
  port = 0;

  constructor(
    private readonly metrics: EdgeMetrics,
    private readonly health: () => HealthReport,
  ) {}

  async start(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.logger.error(`${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'internal', message: 'internal error', details: [] }));
      });
    });
    server.on('error', (err) => this.logger.error(`http: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.logger.info(`health and metrics on http://${host}:${this.port} (/healthz, /metrics)`);
    return this.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' });
      res.end(JSON.stringify({ error: 'method_not_allowed', message: `${req.method} is not allowed`, details: [] }));
      return;
    }
    if (path === '/healthz') {
      const report = this.health();
      res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(report));
      return;
    }
    if (path === '/metrics') {
      const text = await this.metrics.text();
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(text);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: `no route ${path}`, details: [] }));
  }
}
