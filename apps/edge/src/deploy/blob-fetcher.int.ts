import { BlobIntegrityError } from '@edgeloop/client';
import { blobPath } from '@edgeloop/contracts';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempStateDir } from '../testing/edge-env';
import { BlobFetcher } from './blob-fetcher';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

/** A blob server on loopback whose answer to the n-th request the test decides; it records each Range header. */
class BlobServer {
  readonly ranges: Array<string | undefined> = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly handler: Handler) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.ranges.push(req.headers.range);
      this.handler(req, res, this.ranges.length - 1);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** Answers with `bytes`, honouring `Range: bytes=N-` with a 206. */
function serve(bytes: Buffer, req: IncomingMessage, res: ServerResponse): void {
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (match) {
    const from = Number(match[1]);
    res.writeHead(206, { 'content-length': bytes.length - from, 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` });
    res.end(bytes.subarray(from));
  } else {
    res.writeHead(200, { 'content-length': bytes.length });
    res.end(bytes);
  }
}

/**
 * The blob fetcher against a real HTTP server that first hands out poisoned bytes: a partial download whose
 * finished file fails its sha256 is thrown away and the blob fetched whole again, never resumed.
 */
describe('BlobFetcher with a poisoned partial download', () => {
  const blob = randomBytes(256 * 1024);
  const poison = randomBytes(64 * 1024);
  const location = (url = blobPath(sha256(blob))) => ({ sha256: sha256(blob), size: blob.length, url });
  let server: BlobServer | undefined;
  const state = tempStateDir('edge-blob-');
  const dest = join(state.dir, sha256(blob));

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(() => state.remove());

  async function start(handler: Handler): Promise<BlobFetcher> {
    server = new BlobServer(handler);
    await server.start();
    return new BlobFetcher({ cloudUrl: server.url, attempts: 5, backoffMs: 10 });
  }

  it('discards a resumed download that fails its hash and fetches the repaired blob from byte 0', async () => {
    const fetcher = await start((req, res, index) => {
      if (index === 0) {
        // The first answer carries a poisoned prefix and breaks off: the edge keeps it as `.part`.
        res.writeHead(200, { 'content-length': blob.length });
        res.write(poison, () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      serve(blob, req, res); // repaired: the right bytes from now on
    });
    const result = await fetcher.fetch(location(), dest);
    expect(sha256(readFileSync(dest))).toBe(sha256(blob));
    expect(existsSync(`${dest}.part`)).toBe(false);
    // Resumed once after the break (the poisoned prefix stayed), then the whole blob again from 0.
    expect(server!.ranges).toEqual([undefined, `bytes=${poison.length}-`, undefined]);
    expect(result.resumedFrom).toBe(0);
  });

  it('discards a poisoned `.part` left by an earlier run instead of resuming it for good', async () => {
    writeFileSync(`${dest}.part`, poison);
    const fetcher = await start((req, res) => serve(blob, req, res));
    await fetcher.fetch(location(), dest);
    expect(sha256(readFileSync(dest))).toBe(sha256(blob));
    expect(server!.ranges).toEqual([`bytes=${poison.length}-`, undefined]);
  });

  it('gives up with a checksum error after a bounded number of whole downloads when the bytes stay wrong', async () => {
    const other = `${dest}-other`;
    const wrong = Buffer.concat([poison, blob.subarray(poison.length)]);
    const fetcher = await start((req, res) => serve(wrong, req, res));
    await expect(fetcher.fetch(location(), other)).rejects.toBeInstanceOf(BlobIntegrityError);
    expect(server!.ranges).toEqual([undefined, undefined, undefined]);
    expect(existsSync(other)).toBe(false);
    expect(existsSync(`${other}.part`)).toBe(false);
  });
});
