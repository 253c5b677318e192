import { blobPath } from '@edgeloop/contracts';
import { execFile, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlobServed {
  path: string;
  range: string | undefined;
  status: number;
  /** Body bytes handed to the socket for this request (a broken connection may not have delivered them all). */
  bytes: number;
}

/**
 * The cloud's blob route as a device sees it (`GET /api/v1/blobs/{sha256}`, `Range: bytes=N-` → 206, anything
 * else 404 — the head-delta route too), serving blobs from memory and counting every body byte it sends: the
 * bytes fetched over HTTP, whatever the link did to them. The body goes out in 16 KiB writes, each after the
 * socket drained, so a request the client gave up on stops being counted as soon as the connection stalls.
 */
export class CountingBlobServer {
  readonly requests: BlobServed[] = [];
  private readonly blobs = new Map<string, Buffer>();
  private server: Server | undefined;
  private poller: NodeJS.Timeout | undefined;
  /** bytes_acked of each connection (by the client's address:port), as the kernel last reported it. */
  private readonly acked = new Map<string, number>();
  url = '';

  add(sha256: string, bytes: Buffer): void {
    this.blobs.set(blobPath(sha256), bytes);
  }

  /** Body bytes sent, over every request. */
  get bytesSent(): number {
    return this.requests.reduce((n, r) => n + r.bytes, 0);
  }

  /**
   * Bytes the clients' TCP acknowledged, over every connection (response headers included): what crossed the
   * link, without what a connection broken by the link left in this host's send buffer. Read from the kernel
   * (`ss -ti`, bytes_acked) every 100 ms and when a connection closes.
   */
  get bytesAcked(): number {
    return [...this.acked.values()].reduce((n, b) => n + b, 0);
  }

  private readAcked(text: string): void {
    for (const line of text.split('\n')) {
      const peer = /\S+:\d+\s+(\S+:\d+)\s/.exec(line)?.[1];
      const acked = /bytes_acked:(\d+)/.exec(line)?.[1];
      // bytes_acked counts the SYN as one byte
      if (peer && acked) this.acked.set(peer, Math.max(this.acked.get(peer) ?? 0, Number(acked) - 1));
    }
  }

  private ssArgs(): string[] {
    const { address, port } = this.server!.address() as AddressInfo;
    return ['-tinHO', 'state', 'all', `( sport = :${port} and src ${address} )`];
  }

  async start(host: string): Promise<void> {
    this.server = createServer((req, res) => {
      const blob = this.blobs.get(req.url ?? '');
      const entry: BlobServed = { path: req.url ?? '', range: req.headers.range, status: 404, bytes: 0 };
      this.requests.push(entry);
      if (req.method !== 'GET' || !blob) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not_found', message: `no blob at ${req.url}` }));
        return;
      }
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const from = match ? Number(match[1]) : 0;
      if (from >= blob.length) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${blob.length}` });
        res.end();
        return;
      }
      entry.status = match ? 206 : 200;
      res.writeHead(entry.status, {
        'content-type': 'application/octet-stream',
        'content-length': blob.length - from,
        ...(match ? { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` } : {}),
      });
      let at = from;
      const next = () => {
        while (at < blob.length && !res.destroyed) {
          const chunk = blob.subarray(at, Math.min(at + 16 * 1024, blob.length));
          at += chunk.length;
          entry.bytes += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', next);
        }
        if (!res.destroyed) res.end();
      };
      next();
    });
    this.server.on('connection', (socket) => socket.once('end', () => this.readAcked(spawnSync('ss', this.ssArgs(), { encoding: 'utf8' }).stdout ?? '')));
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}`;
    this.poller = setInterval(() => execFile('ss', this.ssArgs(), (err, stdout) => err || this.readAcked(stdout)), 100);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    clearInterval(this.poller);
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
