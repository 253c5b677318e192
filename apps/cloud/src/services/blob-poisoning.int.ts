import { Client } from 'minio';
import { createHash } from 'node:crypto';
import { request, type ClientRequest } from 'node:http';
import { Readable } from 'node:stream';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../testing/upload-form';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const BUCKET = 'edgeloop';

/**
 * Blob poisoning through the upload fast path: a manifest that declares a file's sha256 and size must never
 * put other bytes under that content address — not with a wrong size, not by racing a genuine upload, not by
 * an object that was already there unverified.
 */
/** On PGlite and, when DATABASE_URL names a server, on PostgreSQL too (where the claim/lock order matters). */
const engines: Array<'pglite' | 'postgres'> = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

describe.each(engines)('content addresses hold only bytes that hash to them (real S3-protocol server, SQL on %s)', (engine) => {
  let fx: CloudFixture;
  let s3: Client;

  beforeAll(async () => {
    fx = await startCloudFixture({ sql: engine });
    s3 = new Client(fx.s3.clientOptions);
    const res = await upload('face-base', uploadForm(baseFiles));
    expect(res.status).toBe(201);
  });
  afterAll(() => fx?.stop());

  async function upload(name: string, form: FormData) {
    const res = await fx.api(`/api/v1/models/${name}/versions`, { method: 'POST', body: form });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  async function stored(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await s3.getObject(BUCKET, key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async function objects(prefix = ''): Promise<Array<{ name: string; size: number }>> {
    const found: Array<{ name: string; size: number }> = [];
    for await (const item of s3.listObjectsV2(BUCKET, prefix, true)) found.push(item as { name: string; size: number });
    return found;
  }

  /** The object under the content address and the API's download both hash to the address, whole. */
  async function expectIntact(bytes: Buffer): Promise<void> {
    const hash = sha256(bytes);
    expect(sha256(await stored(`blobs/sha256/${hash}`))).toBe(hash);
    const res = await fx.api(`/api/v1/blobs/${hash}`);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(Number(res.headers.get('content-length'))).toBe(bytes.length);
    expect(body.length).toBe(bytes.length);
    expect(sha256(body)).toBe(hash);
  }

  it('(a) declaring a registered blob with a wrong size and sending that many bytes changes nothing stored', async () => {
    const detector = sha256(baseFiles.detector);
    const junk = Buffer.from('0123456789');
    const res = await upload('face-base', uploadForm({ detector: junk }, { files: [{ role: 'detector', sha256: detector, size: junk.length }] }));
    expect(res.status).toBe(422);
    await expectIntact(baseFiles.detector);
    expect(await objects('tmp/')).toEqual([]);
    // face-base@1 still deploys: a second version sharing the detector registers and the blob is whole
    const again = await upload('face-base', uploadForm({ detector: baseFiles.detector }, { files: [{ role: 'detector', sha256: detector, size: baseFiles.detector.length }] }));
    expect(again.status).toBe(201);
    await expectIntact(baseFiles.detector);
  });

  it('(a) a request that declares a wrong size for a blob not stored yet leaves nothing under its address', async () => {
    const head = makeHead(['p', 'q'], 31);
    const res = await upload('wrong-size', uploadForm({ head: head.subarray(0, 10) }, { labels: ['p', 'q'], files: [{ role: 'head', sha256: sha256(head), size: 10 }] }));
    expect(res.status).toBe(422);
    expect((await objects('blobs/')).map((o) => o.name)).not.toContain(`blobs/sha256/${sha256(head)}`);
    expect(await objects('tmp/')).toEqual([]);
  });

  it('(a) a valid model whose bytes do not hash to the declared sha256 (right size) leaves nothing under either address', async () => {
    const labels = ['m', 'n'];
    const declaredHead = makeHead(labels, 61);
    const sent = makeHead(labels, 62);
    expect(sent.length).toBe(declaredHead.length);
    const declared = sha256(declaredHead);
    const res = await upload('wrong-hash', uploadForm({ head: sent }, { labels, files: [{ role: 'head', sha256: declared, size: sent.length }] }));
    expect(res.status).toBe(422);
    expect(res.body.message).toMatch(/sha256/);
    const names = (await objects('blobs/')).map((o) => o.name);
    expect(names).not.toContain(`blobs/sha256/${declared}`);
    expect(names).not.toContain(`blobs/sha256/${sha256(sent)}`);
    expect(await objects('tmp/')).toEqual([]);
  });

  it('(b) junk under a declared address, held open while the genuine bundle uploads, never becomes the blob', async () => {
    const labels = ['ann', 'ben', 'cat'];
    const head = makeHead(labels, 77);
    const hash = sha256(head);
    const junk = Buffer.alloc(head.length, 0x41);
    const attack = holdOpenUpload(`${fx.url}/api/v1/models/face-base/versions`, fx.adminToken, { labels, files: [{ role: 'head', sha256: hash, size: head.length }] }, junk);
    // wait until the junk bytes are in the bucket somewhere (whatever key the server put them under)
    const deadline = Date.now() + 10_000;
    while (!(await objects()).some((o) => o.size === head.length)) {
      if (Date.now() > deadline) throw new Error('the held-open upload never reached S3');
      await new Promise((r) => setTimeout(r, 50));
    }
    const genuine = await upload('face-base', uploadForm({ ...baseFiles, head }, { labels }));
    expect(genuine.status).toBe(201);
    await expectIntact(head);
    const refused = await attack.finish();
    expect(refused).toBeGreaterThanOrEqual(400);
    expect(refused).toBeLessThan(500);
    await expectIntact(head);
    expect(await objects('tmp/')).toEqual([]);
  });

  it('an object already under an address but never verified is not taken as present: the next upload rewrites it', async () => {
    const head = makeHead(['r', 's'], 55);
    const hash = sha256(head);
    const junk = Buffer.alloc(head.length, 0x42);
    await s3.putObject(BUCKET, `blobs/sha256/${hash}`, junk, junk.length);
    const res = await upload('unverified', uploadForm({ head }, { labels: ['r', 's'] }));
    expect(res.status).toBe(201);
    await expectIntact(head);
    // the same through the declared fast path
    const head2 = makeHead(['r', 's'], 56);
    await s3.putObject(BUCKET, `blobs/sha256/${sha256(head2)}`, Buffer.alloc(head2.length, 0x43), head2.length);
    const declared = await upload('unverified', uploadForm({ head: head2 }, { labels: ['r', 's'], files: [{ role: 'head', sha256: sha256(head2), size: head2.length }] }));
    expect(declared.status).toBe(201);
    await expectIntact(head2);
  });

  it('two uploads of the same content at once both succeed and the blob is correct', async () => {
    const labels = ['u', 'v'];
    const head = makeHead(labels, 91);
    const files = [{ role: 'head', sha256: sha256(head), size: head.length }];
    const results = await Promise.all([
      upload('same-content', uploadForm({ head }, { labels, files })),
      upload('same-content', uploadForm({ head }, { labels, files })),
      upload('same-content', uploadForm({ head }, { labels })),
    ]);
    expect(results.map((r) => r.status)).toEqual([201, 201, 201]);
    await expectIntact(head);
    expect(await objects('tmp/')).toEqual([]);
  });

  it('a failing upload of the same content at the same time never removes the blob a succeeding one registers', async () => {
    const labels = ['w', 'x'];
    for (let seed = 200; seed < 204; seed++) {
      const head = makeHead(labels, seed);
      const files = [{ role: 'head', sha256: sha256(head), size: head.length }];
      const [failing, succeeding] = await Promise.all([
        upload('race', uploadForm({ head, embedder: baseFiles.embedder.subarray(0, 200_000) }, { labels, files })),
        upload('race', uploadForm({ head }, { labels, files })),
      ]);
      expect(failing.status).toBe(422);
      expect(succeeding.status).toBe(201);
      await expectIntact(head);
    }
  });
});

/**
 * Sends the manifest and a file part, then holds the request open (no closing boundary) until `finish()`,
 * which ends the body and resolves with the status the server answered.
 */
function holdOpenUpload(url: string, token: string, manifest: unknown, file: Buffer): { finish(): Promise<number> } {
  const boundary = 'edgeloopholdopen';
  let req: ClientRequest;
  const answered = new Promise<number>((resolve, reject) => {
    req = request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    Readable.from([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n${JSON.stringify(manifest)}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="head"; filename="head.onnx"\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}\r\n`),
    ]).pipe(req, { end: false });
  });
  return {
    finish() {
      req.end(`Content-Disposition: form-data; name="note"\r\n\r\nheld\r\n--${boundary}--\r\n`);
      return answered;
    },
  };
}
