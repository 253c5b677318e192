import { Client } from 'minio';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { makeHead, uploadForm } from '../testing/upload-form';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Small on purpose: the test waits for each of them. */
const IDLE_MS = 1500;
const REQUEST_MS = 4000;
const HEADERS_MS = 2000;
/** Node looks for expired requests every quarter of the shorter timeout (connectionsCheckingInterval). */
const CHECK_MS = HEADERS_MS / 4;
/** Scheduling on a loaded two-core machine, the response and the close travelling back. */
const SLACK_MS = 1500;

interface RawExchange {
  /** What the cloud answered, as text (empty when it answered nothing). */
  answer: string;
  /** ms from the first byte sent until the cloud closed the connection. */
  closedAfterMs: number;
}

/**
 * A client on a raw socket: sends `start` at once, then `trickle` one byte every `everyMs` (none when empty),
 * and never finishes. Resolves when the cloud closes the connection; gives up (and fails) after `giveUpMs`.
 */
function slowClient(port: number, start: string, trickle: Buffer, everyMs: number, giveUpMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let answer = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const began = Date.now();
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the cloud kept the connection open for ${giveUpMs} ms (answer so far: ${JSON.stringify(answer)})`));
    }, giveUpMs);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => {
      clearTimeout(giveUp);
      clearInterval(timer);
      resolve({ answer, closedAfterMs: Date.now() - began });
    });
    socket.on('connect', () => {
      socket.write(start);
      if (trickle.length > 0) {
        timer = setInterval(() => {
          if (sent < trickle.length && !socket.destroyed) socket.write(trickle.subarray(sent, ++sent));
        }, everyMs);
      }
    });
  });
}

/**
 * Slow and stalled clients (real S3-protocol server, SQL, the cloud's own HTTP server): an upload body that stops
 * is refused with 408 after EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS, one that trickles is cut at
 * EDGELOOP_HTTP_REQUEST_TIMEOUT_MS, headers that trickle at EDGELOOP_HTTP_HEADERS_TIMEOUT_MS; each time the connection
 * is closed, and nothing is registered or left behind (no version, no blob, no temporary object or file).
 */
describe('slow clients', () => {
  let fx: CloudFixture;
  let s3: Client;
  let port: number;
  const uploadTmp = mkdtempSync(join(tmpdir(), 'edgeloop-slow-clients-'));
  const tmpBefore = process.env.TMPDIR;
  const boundary = 'slowclientboundary';
  const head = makeHead(['ann', 'ben'], 3);
  const manifest = JSON.stringify({ labels: ['ann', 'ben'], files: [{ role: 'head', sha256: sha256(head), size: head.length }] });
  /** The multipart body: the manifest (it declares the head, so the head streams to S3 as it arrives), then the head. */
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n${manifest}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="head"; filename="head.onnx"\r\n\r\n`),
    head,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const requestHead = (name: string) =>
    `POST /api/v1/models/${name}/versions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${fx.adminToken}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`;

  async function objectKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of s3.listObjectsV2('edgeloop', '', true)) keys.push((item as { name: string }).name);
    return keys.sort();
  }

  /** No version of any model, no blob, no temporary upload object, no spooled file. */
  async function expectNothingLeft(): Promise<void> {
    // the cloud cleans up once the request has failed: give it a moment after the close
    const deadline = Date.now() + 5000;
    while ((readdirSync(uploadTmp).length > 0 || (await objectKeys()).length > 0) && Date.now() < deadline) await sleep(100);
    expect(((await (await fx.api('/api/v1/models')).json()) as { models: unknown[] }).models).toEqual([]);
    expect(await objectKeys()).toEqual([]);
    expect(readdirSync(uploadTmp)).toEqual([]);
  }

  beforeAll(async () => {
    fx = await startCloudFixture({
      env: {
        EDGELOOP_UPLOAD_IDLE_TIMEOUT_MS: String(IDLE_MS),
        EDGELOOP_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
        EDGELOOP_HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      },
    });
    port = Number(new URL(fx.url).port);
    s3 = new Client(fx.s3.clientOptions);
    // the cloud runs in this process: its upload spool (os.tmpdir()) goes where the test can look
    process.env.TMPDIR = uploadTmp;
  }, 120_000);

  afterAll(async () => {
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
    await fx?.stop();
    rmSync(uploadTmp, { recursive: true, force: true });
  });

  it('refuses an upload body that stops mid-file with 408 after the idle timeout, and closes the connection', async () => {
    // the manifest and half the head, then nothing
    const half = body.subarray(0, body.length - Math.floor(head.length / 2));
    const exchange = await slowClient(port, requestHead('stalled') + half.toString('latin1'), Buffer.alloc(0), 0, IDLE_MS + SLACK_MS + 3000);
    expect(exchange.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(exchange.answer).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(exchange.answer.slice(exchange.answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'request_timeout' });
    expect(exchange.closedAfterMs).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(exchange.closedAfterMs).toBeLessThan(IDLE_MS + SLACK_MS);
    await expectNothingLeft();
  }, 30_000);

  it('cuts an upload body that trickles (never idle, never done) at the request timeout, and closes the connection', async () => {
    // headers at once, then the body one byte per 100 ms: 4 s bring 40 of its bytes
    const exchange = await slowClient(port, requestHead('trickled'), body, 100, REQUEST_MS + CHECK_MS + SLACK_MS + 3000);
    expect(exchange.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(exchange.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_MS - 100);
    expect(exchange.closedAfterMs).toBeLessThan(REQUEST_MS + CHECK_MS + SLACK_MS);
    await expectNothingLeft();
  }, 30_000);

  it('cuts request headers that trickle at the headers timeout with 408', async () => {
    const text = requestHead('slow-headers');
    const exchange = await slowClient(port, text.slice(0, 20), Buffer.from(text.slice(20)), 100, HEADERS_MS + CHECK_MS + SLACK_MS + 3000);
    expect(exchange.answer).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    expect(exchange.closedAfterMs).toBeGreaterThanOrEqual(HEADERS_MS - 100);
    expect(exchange.closedAfterMs).toBeLessThan(HEADERS_MS + CHECK_MS + SLACK_MS);
    await expectNothingLeft();
  }, 30_000);

  it('still registers an upload that arrives at a normal pace', async () => {
    const res = await fx.api('/api/v1/models/steady/versions', {
      method: 'POST',
      body: uploadForm({ head }, { labels: ['ann', 'ben'], files: [{ role: 'head', sha256: sha256(head), size: head.length }] }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: 'steady', version: 1 });
    expect(await objectKeys()).toEqual([`blobs/sha256/${sha256(head)}`, 'models/steady/1/manifest.json'].sort());
    expect(readdirSync(uploadTmp)).toEqual([]);
  }, 30_000);
});
