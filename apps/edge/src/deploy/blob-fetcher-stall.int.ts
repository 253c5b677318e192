import { blobPath } from '@edgeloop/contracts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tempStateDir } from '../testing/edge-env';
import { BlobFetcher } from './blob-fetcher';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

/** Answers with `bytes` from the Range offset (206) or whole (200); `cutAt` (absolute offset) ends the body there. */
function serve(bytes: Buffer, req: IncomingMessage, res: ServerResponse, after?: { at: number; then: 'stall' | 'break' }): void {
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = match ? Number(match[1]) : 0;
  const head = match
    ? { 'content-length': bytes.length - from, 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` }
    : { 'content-length': bytes.length };
  res.writeHead(match ? 206 : 200, head);
  if (!after || after.at <= from) {
    res.end(bytes.subarray(from));
    return;
  }
  // the first part, then silence with the socket open (a black hole) or a reset
  res.write(bytes.subarray(from, after.at), () => {
    if (after.then === 'break') setTimeout(() => res.socket?.destroy(), 20);
  });
}

/**
 * Download accounting and the stall timeout, against a real HTTP server on loopback: every byte received is
 * counted (also by attempts that fail or are thrown away), every resume is reported, and a body that goes
 * silent mid-way is abandoned after the stall timeout and resumed with Range.
 */
describe('BlobFetcher: stall timeout and byte accounting', () => {
  const blob = randomBytes(256 * 1024);
  const location = { sha256: sha256(blob), size: blob.length, url: blobPath(sha256(blob)) };
  let server: BlobServer | undefined;
  const state = tempStateDir('edge-blob-stall-');
  let n = 0;
  const dest = () => join(state.dir, `blob-${n++}`);

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });
  afterAll(() => state.remove());

  async function start(handler: Handler, options: { attempts?: number; stallTimeoutMs?: number } = {}): Promise<BlobFetcher> {
    server = new BlobServer(handler);
    await server.start();
    return new BlobFetcher({ cloudUrl: server.url, attempts: options.attempts ?? 5, backoffMs: 10, stallTimeoutMs: options.stallTimeoutMs ?? 500 });
  }

  it('abandons a body that goes silent after the stall timeout and resumes it with Range', async () => {
    const fetcher = await start((req, res, index) => serve(blob, req, res, index === 0 ? { at: 100_000, then: 'stall' } : undefined));
    let counted = 0;
    const started = Date.now();
    const result = await fetcher.fetch(location, dest(), undefined, (bytes) => (counted += bytes));
    const elapsed = Date.now() - started;
    expect(server!.ranges).toEqual([undefined, 'bytes=100000-']);
    expect(result).toEqual({ resumedFrom: 0, fetchedBytes: blob.length, resumes: [100_000] });
    expect(counted).toBe(blob.length);
    expect(elapsed).toBeGreaterThanOrEqual(500);
    expect(elapsed).toBeLessThan(5_000);
  }, 15_000);

  it('counts the bytes of a fetch that fails, and the next fetch resumes from them', async () => {
    const fetcher = await start((req, res, index) => serve(blob, req, res, index === 0 ? { at: 70_000, then: 'break' } : undefined), { attempts: 1 });
    const file = dest();
    let counted = 0;
    await expect(fetcher.fetch(location, file, undefined, (bytes) => (counted += bytes))).rejects.toThrow();
    expect(counted).toBe(70_000);
    const result = await fetcher.fetch(location, file, undefined, (bytes) => (counted += bytes));
    expect(result).toEqual({ resumedFrom: 70_000, fetchedBytes: blob.length - 70_000, resumes: [70_000] });
    // on the wire: 70,000 + the rest — each byte counted once
    expect(counted).toBe(blob.length);
    expect(sha256(readFileSync(file))).toBe(location.sha256);
  });

  it('counts the bytes of a poisoned download it threw away, and reports the resume inside the call', async () => {
    const poison = randomBytes(64 * 1024);
    const fetcher = await start((req, res, index) => {
      if (index === 0) {
        res.writeHead(200, { 'content-length': blob.length });
        res.write(poison, () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      serve(blob, req, res);
    });
    let counted = 0;
    const result = await fetcher.fetch(location, dest(), undefined, (bytes) => (counted += bytes));
    // the poisoned prefix (as much of it as arrived before the reset), the resumed rest — the whole then fails
    // its hash — and the whole blob again: twice the blob on the wire, whatever the prefix
    const onTheWire = 2 * blob.length;
    expect(result.resumes).toHaveLength(1);
    expect(result.resumes[0]).toBeGreaterThan(0);
    expect(result.resumes[0]).toBeLessThanOrEqual(poison.length);
    expect(result).toEqual({ resumedFrom: 0, fetchedBytes: onTheWire, resumes: result.resumes });
    expect(counted).toBe(onTheWire);
  });
});

/** Why the namespace test cannot run here, or undefined when it can. */
function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, nft)';
  for (const tool of ['ip', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs \`${tool}\` on the PATH (apt-get install iproute2 nftables)`;
  }
  return undefined;
}

function run(args: string[]): void {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr.trim()}`);
}

/** The blob server as a process inside the namespace: Range-aware, writes as fast as the link takes it. */
const NAMESPACE_SERVER = `
const { createServer } = require('node:http');
const { readFileSync } = require('node:fs');
const bytes = readFileSync(process.argv[1]);
createServer((req, res) => {
  const m = /^bytes=(\\d+)-$/.exec(req.headers.range || '');
  const from = m ? Number(m[1]) : 0;
  res.writeHead(m ? 206 : 200, { 'content-length': bytes.length - from });
  let at = from;
  const pump = () => {
    while (at < bytes.length) {
      const more = res.write(bytes.subarray(at, at + 16384)); at += 16384;
      if (!more) return res.once('drain', pump);
    }
    res.end();
  };
  pump();
}).listen(8080, process.argv[2], () => process.stdout.write('listening\\n'));
`;

const unavailable = namespaceUnavailable();
if (unavailable) process.stdout.write(`blob-fetcher-stall: the network-namespace test is skipped: ${unavailable}\n`);

/**
 * The same stall on a real link: the server in its own network namespace behind a veth pair; mid-body, an
 * nftables rule in the namespace drops every packet silently (no RST, no FIN — TCP just hears nothing).
 */
describe('BlobFetcher across a veth link that starts dropping packets silently', () => {
  const id = `${process.pid % 10_000}`;
  const ns = `elwl-${id}`;
  const [hostDev, nsDev] = [`elwl${id}a`, `elwl${id}b`];
  const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
  const state = tempStateDir('edge-blob-netns-');
  let server: ChildProcess | undefined;

  afterAll(() => {
    server?.kill('SIGKILL');
    if (!unavailable) spawnSync('ip', ['netns', 'del', ns]);
    state.remove();
  });

  (unavailable ? it.skip : it)(
    'abandons the silent GET after the stall timeout and completes with Range once the link passes packets again',
    async () => {
      const blob = randomBytes(2 * 1024 * 1024);
      const file = join(state.dir, 'blob.bin');
      writeFileSync(file, blob);
      spawnSync('ip', ['netns', 'del', ns]);
      run(['ip', 'netns', 'add', ns]);
      run(['ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev]);
      run(['ip', 'link', 'set', nsDev, 'netns', ns]);
      run(['ip', 'addr', 'add', `${subnet}.1/30`, 'dev', hostDev]);
      run(['ip', 'link', 'set', hostDev, 'up']);
      run(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsDev]);
      run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', nsDev, 'up']);
      run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
      // 4 Mbit/s with a short queue: the body is still coming when the link goes dark
      run(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', nsDev, 'root', 'tbf', 'rate', '4mbit', 'burst', '32kbit', 'latency', '50ms']);
      server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', NAMESPACE_SERVER, file, `${subnet}.2`], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        server!.stdout!.once('data', () => resolve());
        server!.once('exit', (code) => reject(new Error(`the namespace server exited (${code})`)));
      });

      const fetcher = new BlobFetcher({ cloudUrl: `http://${subnet}.2:8080`, attempts: 10, backoffMs: 100, stallTimeoutMs: 1_000 });
      const location = { sha256: sha256(blob), size: blob.length, url: blobPath(sha256(blob)) };
      let counted = 0;
      let droppedAt: number | undefined;
      let healed: Promise<void> | undefined;
      const nft = (...args: string[]) => run(['ip', 'netns', 'exec', ns, 'nft', ...args]);
      const started = Date.now();
      const result = await fetcher.fetch(location, join(state.dir, 'fetched.bin'), undefined, (bytes) => {
        counted += bytes;
        if (droppedAt === undefined && counted >= 512 * 1024) {
          droppedAt = Date.now();
          nft('add', 'table', 'inet', 'elwl');
          nft('add', 'chain', 'inet', 'elwl', 'out', '{ type filter hook output priority 0 ; }');
          nft('add', 'rule', 'inet', 'elwl', 'out', 'drop');
          // the link passes packets again after 3 s: the attempt running then must resume, not start over
          healed = sleep(3_000).then(() => nft('delete', 'table', 'inet', 'elwl'));
        }
      });
      await healed;
      const elapsed = Date.now() - started;
      process.stdout.write(
        `veth black hole for 3 s at ${droppedAt! - started} ms: done after ${elapsed} ms, resumed at ${result.resumes.join(', ')}, ` +
          `${result.fetchedBytes} B received for a ${blob.length} B blob\n`,
      );
      expect(readFileSync(join(state.dir, 'fetched.bin')).equals(blob)).toBe(true);
      expect(result.resumes.length).toBeGreaterThanOrEqual(1);
      expect(result.resumes[0]).toBeGreaterThanOrEqual(512 * 1024);
      // nothing fetched twice: the resume asked for exactly the rest
      expect(result.fetchedBytes).toBe(blob.length);
      expect(elapsed).toBeLessThan(20_000);
    },
    40_000,
  );
});
