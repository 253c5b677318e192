import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, ApiError } from './api-client';
import { backoffDelay, BlobIntegrityError, BlobStallError, downloadBlob, MAX_BACKOFF_MS } from './blob-download';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

/** An HTTP server on loopback whose answers the test writes; it keeps the headers of every request. */
class TestServer {
  readonly requests: IncomingHttpHeaders[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly handler: Handler) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push(req.headers);
      this.handler(req, res, this.requests.length - 1);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** `bytes` from the Range offset (206) or whole (200). */
function serve(bytes: Buffer, req: IncomingMessage, res: ServerResponse): void {
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = match ? Number(match[1]) : 0;
  res.writeHead(match ? 206 : 200, {
    'content-length': bytes.length - from,
    ...(match ? { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}),
  });
  res.end(bytes.subarray(from));
}

/**
 * downloadBlob on node:http against real sockets: what the global fetch did for it (errors of the API's shape,
 * redirects, abort with the caller's reason) and what it adds (Range resume, sha256, the stall timeout).
 */
describe('downloadBlob (node:http)', () => {
  const blob = randomBytes(300 * 1024);
  const servers: TestServer[] = [];
  let dir: string;
  let n = 0;
  const dest = () => join(dir, `blob-${n++}`);
  const start = async (handler: Handler) => {
    const server = await new TestServer(handler).start();
    servers.push(server);
    return server;
  };
  const options = (extra: Partial<Parameters<typeof downloadBlob>[2]> = {}) => ({
    sha256: sha256(blob),
    size: blob.length,
    dest: dest(),
    backoffMs: 5,
    ...extra,
  });

  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'blob-download-'))));
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('sends the token, asks for no content encoding and resumes a broken body with Range', async () => {
    const server = await start((req, res, index) => {
      if (index > 0) return serve(blob, req, res);
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 100_000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    const opts = options();
    const result = await downloadBlob(new ApiClient({ baseUrl: server.url, token: 'tok-1' }), '/api/v1/blobs/x', opts);
    expect(result).toEqual({ bytes: blob.length, resumedFrom: 0, receivedBytes: blob.length, resumes: [100_000], requests: 2 });
    expect(server.requests.map((h) => h.range)).toEqual([undefined, 'bytes=100000-']);
    expect(server.requests.map((h) => h.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-1']);
    expect(server.requests[0]['accept-encoding']).toBeUndefined();
    expect(sha256(readFileSync(opts.dest))).toBe(sha256(blob));
    expect(existsSync(`${opts.dest}.part`)).toBe(false);
  });

  it('starts over when the server ignores Range and answers 200', async () => {
    const server = await start((req, res, index) => {
      if (index === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(blob.subarray(0, 50_000), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    });
    const opts = options();
    const result = await downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', opts);
    expect(server.requests[1].range).toBe('bytes=50000-');
    expect(result.receivedBytes).toBe(50_000 + blob.length);
    expect(sha256(readFileSync(opts.dest))).toBe(sha256(blob));
  });

  it('throws the API error of a 4xx answer at once, with its code and message', async () => {
    const server = await start((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'blob_not_found', message: 'no blob with that sha256' }));
    });
    const err = await downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, code: 'blob_not_found', message: 'no blob with that sha256' });
    expect(server.requests).toHaveLength(1);
  });

  it('retries a 5xx and names a body that is not JSON by its status', async () => {
    const server = await start((_req, res) => {
      res.writeHead(503);
      res.end('upstream down');
    });
    const err = await downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', options({ attempts: 3 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'http_503', message: 'upstream down' });
    expect(server.requests).toHaveLength(3);
  });

  it('follows a redirect to another origin without the token', async () => {
    const target = await start((req, res) => serve(blob, req, res));
    const origin = await start((_req, res) => {
      res.writeHead(302, { location: `${target.url}/presigned/blob?sig=1` });
      res.end();
    });
    const opts = options();
    await downloadBlob(new ApiClient({ baseUrl: origin.url, token: 'tok-2' }), '/api/v1/blobs/x', opts);
    expect(origin.requests[0].authorization).toBe('Bearer tok-2');
    expect(target.requests[0].authorization).toBeUndefined();
    expect(sha256(readFileSync(opts.dest))).toBe(sha256(blob));
  });

  it('refuses a body longer than declared and one that hashes wrong, keeping nothing', async () => {
    const longer = await start((_req, res) => {
      res.writeHead(200);
      res.end(Buffer.concat([blob, Buffer.alloc(10)]));
    });
    const opts = options({ integrityRetries: 0 });
    await expect(downloadBlob(new ApiClient({ baseUrl: longer.url }), '/b', opts)).rejects.toThrow(BlobIntegrityError);
    const wrong = await start((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.end(randomBytes(blob.length));
    });
    const other = options({ integrityRetries: 1 });
    await expect(downloadBlob(new ApiClient({ baseUrl: wrong.url }), '/b', other)).rejects.toThrow(/downloaded bytes hash to/);
    expect(wrong.requests.map((h) => h.range)).toEqual([undefined, undefined]);
    for (const file of [opts.dest, `${opts.dest}.part`, other.dest, `${other.dest}.part`]) expect(existsSync(file)).toBe(false);
  });

  it('ends a silent body after the stall timeout with a BlobStallError, the bytes that came kept for the next call', async () => {
    const server = await start((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 40_000));
    });
    const opts = options({ attempts: 1, stallTimeoutMs: 300 });
    await expect(downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', opts)).rejects.toThrow(BlobStallError);
    expect(statSync(`${opts.dest}.part`).size).toBe(40_000);
  });

  it("rejects with the caller's abort reason mid-body and keeps what arrived", async () => {
    const server = await start((_req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 60_000));
    });
    const controller = new AbortController();
    const reason = new Error('superseded');
    const opts = options({ signal: controller.signal, onProgress: (received) => received >= 60_000 && controller.abort(reason) });
    await expect(downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', opts)).rejects.toBe(reason);
    expect(statSync(`${opts.dest}.part`).size).toBe(60_000);
    expect(server.requests).toHaveLength(1);
  });

  it('says which URL scheme it cannot fetch', async () => {
    await expect(downloadBlob(new ApiClient({ baseUrl: '' }), 'ftp://example.test/blob', options({ attempts: 1 }))).rejects.toThrow(
      'blob URL ftp://example.test/blob: only http and https are supported',
    );
  });

  it('doubles the wait between attempts up to MAX_BACKOFF_MS, however many attempts are allowed', () => {
    const waits = [1, 2, 3, 4].map((attempt) => backoffDelay(500, attempt));
    [250, 500, 1_000, 2_000].forEach((low, i) => {
      expect(waits[i]).toBeGreaterThanOrEqual(low);
      expect(waits[i]).toBeLessThanOrEqual(2 * low);
    });
    // attempt 99 of EDGE_DOWNLOAD_ATTEMPTS=100 waited 500 × 2^98 ms before the cap
    for (const attempt of [20, 60, 99]) expect(backoffDelay(500, attempt)).toBeLessThanOrEqual(MAX_BACKOFF_MS);
    expect(backoffDelay(60_000, 1)).toBeLessThanOrEqual(60_000);
  });

  it('leaves no abort listener behind on its signal after retries, and stops at once when aborted during a back-off', async () => {
    const server = await start((req, res, index) => {
      if (index > 2) return serve(blob, req, res);
      res.writeHead(503);
      res.end();
    });
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => (listeners++, add(...args))) as typeof add;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => (listeners--, remove(...args))) as typeof remove;
    await downloadBlob(new ApiClient({ baseUrl: server.url }), '/b', options({ signal: controller.signal }));
    expect(server.requests).toHaveLength(4);
    expect(listeners).toBe(0);

    const slow = await start((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const aborting = new AbortController();
    const reason = new Error('superseded');
    const started = Date.now();
    setTimeout(() => aborting.abort(reason), 100);
    await expect(downloadBlob(new ApiClient({ baseUrl: slow.url }), '/b', options({ signal: aborting.signal, backoffMs: 10_000 }))).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
