import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { CloudConfig } from '../config/cloud.config';
import { ModelUploadSpooler, type SpooledUpload } from './model-upload.spooler';
import type { UploadStaging } from './model-upload.staging';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const boundary = 'spoolerspec';
const filePart = (role: string, bytes: Buffer) =>
  Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${role}"; filename="${role}.onnx"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    bytes,
    Buffer.from('\r\n'),
  ]);
const fieldPart = (name: string, value: string) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const body = (...parts: Buffer[]) => Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);

/** The spooler on real HTTP requests; S3 and SQL are replaced by a recording staging. */
describe('ModelUploadSpooler', () => {
  let server: Server;
  let url: string;
  let spoolDir: string;
  let previousTmp: string | undefined;
  let staged: Array<{ role: string; bytes: Buffer }>;
  let released: string[];
  let removed: string[];
  let nextRequest: ((outcome: Promise<SpooledUpload>) => void) | undefined;

  const staging = {
    verifiedPresent: async () => false,
    newStagedBlob: (declared: { sha256: string; size: number }) => ({ tempKey: `tmp/uploads/${declared.sha256}`, ...declared }),
    put: async (_blob: unknown, role: string, stream: Readable) => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      staged.push({ role, bytes: Buffer.concat(chunks) });
    },
    removeTemporary: async (keys: string[]) => void removed.push(...keys),
    releaseClaims: async (uploadId: string) => void released.push(uploadId),
  };
  const config = { maxUploadBytes: 64 * 1024, httpTimeouts: { uploadIdleMs: 300 } } as unknown as CloudConfig;
  const spooler = new ModelUploadSpooler(config, staging as unknown as UploadStaging);

  beforeAll(async () => {
    // the spooler's temporary folders go under os.tmpdir(): a folder of this test's own, to see them go
    spoolDir = await mkdtemp(join(tmpdir(), 'spooler-spec-'));
    previousTmp = process.env.TMPDIR;
    process.env.TMPDIR = spoolDir;
    server = createServer((req: IncomingMessage, res) => {
      const outcome = spooler.spool(req);
      nextRequest?.(outcome);
      outcome.then(
        () => res.end('ok'),
        () => res.end('refused'),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    process.env.TMPDIR = previousTmp;
    if (previousTmp === undefined) delete process.env.TMPDIR;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(spoolDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    staged = [];
    released = [];
    removed = [];
  });

  /** Sends the chunks (the last one `gapMs` later when set; chunked when `chunked`) and waits for the spooler's outcome. */
  async function send(chunks: Buffer[], options: { gapMs?: number; chunked?: boolean } = {}): Promise<SpooledUpload> {
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const headers = { 'content-type': `multipart/form-data; boundary=${boundary}`, ...(options.chunked ? {} : { 'content-length': length }) };
    const received = new Promise<Promise<SpooledUpload>>((resolve) => (nextRequest = resolve));
    const req = request(url, { method: 'POST', headers, agent: false });
    req.on('error', () => undefined);
    req.on('response', (res) => res.resume());
    const last = chunks.length - 1;
    chunks.slice(0, last).forEach((chunk) => req.write(chunk));
    const finish = () => {
      if (!req.destroyed) req.end(chunks[last]);
    };
    if (options.gapMs) setTimeout(finish, options.gapMs).unref();
    else finish();
    return await received;
  }

  it('returns every file on disk with its sha256 and size, and the manifest the contract parsed; dispose() removes them', async () => {
    const head = Buffer.alloc(5000, 3);
    const upload = await send([body(fieldPart('manifest', JSON.stringify({ labels: ['a', 'b'] })), filePart('head', head))]);
    expect(upload.manifest).toEqual({ labels: ['a', 'b'] });
    expect(upload.files).toEqual([expect.objectContaining({ role: 'head', fileName: 'head.onnx', sha256: sha256(head), size: head.length })]);
    expect(await readFile(upload.files[0].path)).toEqual(head);
    expect(staged).toEqual([]);
    await upload.dispose();
    expect(await readdir(spoolDir)).toEqual([]);
    expect(released).toEqual([upload.uploadId]);
  });

  it('stages a file whose sha256 and size the manifest declared first while it is received', async () => {
    const head = Buffer.alloc(7000, 9);
    const manifest = { files: [{ role: 'head', sha256: sha256(head), size: head.length }] };
    const upload = await send([body(fieldPart('manifest', JSON.stringify(manifest)), filePart('head', head))]);
    expect(staged).toEqual([{ role: 'head', bytes: head }]);
    expect(upload.files[0].staged).toEqual({ tempKey: `tmp/uploads/${sha256(head)}`, sha256: sha256(head), size: head.length });
    await upload.dispose();
    expect(removed).toEqual([`tmp/uploads/${sha256(head)}`]);
  });

  it.each([
    ['an unknown role', [body(filePart('backdoor', Buffer.alloc(10, 1)))], 'unknown_role'],
    ['a role twice', [body(filePart('head', Buffer.alloc(10, 1)), filePart('head', Buffer.alloc(10, 2)))], 'duplicate_role'],
    ['another field', [body(fieldPart('x', '1'), filePart('head', Buffer.alloc(10, 1)))], 'unknown_field'],
    ['no file', [body(fieldPart('manifest', '{}'))], 'missing_file'],
    ['an empty file', [body(filePart('head', Buffer.alloc(0)))], 'invalid_artifact'],
    ['a manifest the contract refuses', [body(fieldPart('manifest', '{"createdBy":"me"}'), filePart('head', Buffer.alloc(10, 1)))], 'invalid_manifest'],
    ['a body over the limit, counted as it streams', [filePart('head', Buffer.alloc(80 * 1024, 1)), Buffer.from(`--${boundary}--\r\n`)], 'payload_too_large'],
  ])('refuses %s and leaves nothing behind', async (_title, chunks, code) => {
    await expect(send(chunks, { chunked: true })).rejects.toMatchObject({ code });
    expect(await readdir(spoolDir)).toEqual([]);
    expect(released).toHaveLength(1);
  });

  it('refuses a body whose declared length is over the limit before reading it', async () => {
    await expect(send([body(filePart('head', Buffer.alloc(80 * 1024, 1)))])).rejects.toMatchObject({ code: 'payload_too_large', status: 413 });
    expect(await readdir(spoolDir)).toEqual([]);
    expect(released).toEqual([]);
  });

  it('refuses a body that stops arriving for the idle time with 408, and leaves nothing behind', async () => {
    const whole = body(filePart('head', Buffer.alloc(4000, 5)));
    const started = Date.now();
    await expect(send([whole.subarray(0, 2000), whole.subarray(2000)], { gapMs: 1500 })).rejects.toMatchObject({ code: 'request_timeout', status: 408 });
    expect(Date.now() - started).toBeLessThan(1400);
    expect(await readdir(spoolDir)).toEqual([]);
    expect(released).toHaveLength(1);
  });
});
