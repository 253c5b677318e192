import { ApiClient, uploadModelVersion } from '@edgeloop/client';
import { canonicalJson, ModelVersionResponseSchema } from '@edgeloop/contracts';
import { Client } from 'minio';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../testing/upload-form';

const LIMIT = 12 * 1024 * 1024;
const labels = ['alice', 'bob', 'carol'];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The same registry tests on PGlite and, when DATABASE_URL names a server, on PostgreSQL. */
const engines: Array<'pglite' | 'postgres'> = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

describe.each(engines)('model registry over HTTP (real S3-protocol server, SQL on %s)', (engine) => {
  let fx: CloudFixture;
  let s3: Client;

  beforeAll(async () => {
    fx = await startCloudFixture({ sql: engine, env: { EDGELOOP_MAX_UPLOAD_BYTES: String(LIMIT) } });
    expect(fx.sql).toBe(engine);
    s3 = new Client(fx.s3.clientOptions);
  });
  afterAll(() => fx?.stop());

  async function blobKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const item of s3.listObjectsV2('edgeloop', 'blobs/', true)) keys.push((item as { name: string }).name);
    return keys.sort();
  }

  async function versionCount(name: string): Promise<number> {
    const res = await fx.api(`/api/v1/models/${name}/versions`);
    if (res.status === 404) return 0;
    return ((await res.json()) as { versions: unknown[] }).versions.length;
  }

  async function upload(name: string, form: FormData, token?: string | null) {
    const res = await fx.api(`/api/v1/models/${name}/versions`, { method: 'POST', body: form, token });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  }

  describe('the base bundle', () => {
    let v1: Record<string, any>;

    beforeAll(async () => {
      const res = await upload('face-id', uploadForm({ ...baseFiles, head: makeHead(labels) }, { labels, metrics: { accuracy: 0.97 } }));
      expect(res.status).toBe(201);
      // fetch parses in Node's own realm; re-parse so objects are plain in the test's realm
      v1 = JSON.parse(JSON.stringify(res.body));
    });

    it('registers version 1 with a manifest naming every file by role and sha256', () => {
      expect(v1.version).toBe(1);
      expect(v1.manifest).toMatchObject({ schema: 'edgeloop.model/v1', name: 'face-id', version: 1, labels, metrics: { accuracy: 0.97 } });
      expect(v1.manifest.files.map((f: { role: string }) => f.role)).toEqual(['detector', 'landmarks', 'embedder', 'head']);
      const detector = v1.manifest.files.find((f: { role: string }) => f.role === 'detector');
      expect(detector).toMatchObject({ sha256: sha256(baseFiles.detector), size: baseFiles.detector.length, format: 'onnx' });
    });

    it('reads it back by version and by alias', async () => {
      const byVersion = (await (await fx.api('/api/v1/models/face-id/versions/1')).json()) as any;
      expect(byVersion.manifest).toEqual(v1.manifest);
      const put = await fx.api('/api/v1/models/face-id/aliases/production', {
        method: 'PUT',
        body: JSON.stringify({ version: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      expect(put.status).toBe(200);
      const byAlias = (await (await fx.api('/api/v1/models/face-id/versions/production')).json()) as any;
      expect(byAlias).toMatchObject({ version: 1, aliases: ['production'] });
      expect(byAlias.manifest).toEqual(v1.manifest);
      const list = (await (await fx.api('/api/v1/models')).json()) as any;
      expect(list.models).toEqual([expect.objectContaining({ name: 'face-id', latestVersion: 1, aliases: { production: 1 } })]);
      // the versions list answers each version as ModelVersionResponseSchema does, aliases included
      const versions = (await (await fx.api('/api/v1/models/face-id/versions')).json()) as any;
      expect(versions.versions).toEqual([expect.objectContaining({ version: 1, aliases: ['production'] })]);
      expect(ModelVersionResponseSchema.safeParse(versions.versions[0]).success).toBe(true);
    });

    it('stores the signed manifest in S3 and the signature verifies with the served public key', async () => {
      const keys = (await (await fetch(`${fx.url}/api/v1/keys`)).json()) as any;
      const key = createPublicKey(keys.keys[0].publicKey);
      expect(v1.signature.keyId).toBe(keys.keys[0].keyId);
      const ok = verify(null, Buffer.from(canonicalJson(v1.manifest)), key, Buffer.from(v1.signature.value, 'base64'));
      expect(ok).toBe(true);
      const tampered = { ...v1.manifest, labels: ['mallory', 'bob', 'carol'] };
      expect(verify(null, Buffer.from(canonicalJson(tampered)), key, Buffer.from(v1.signature.value, 'base64'))).toBe(false);
      const stream = await s3.getObject('edgeloop', 'models/face-id/1/manifest.json');
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({ manifest: v1.manifest, signature: v1.signature });
    });

    it('serves a blob whole and by HTTP Range', async () => {
      const hash = sha256(baseFiles.embedder);
      const whole = await fx.api(`/api/v1/blobs/${hash}`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get('accept-ranges')).toBe('bytes');
      expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(hash);
      const part = await fx.api(`/api/v1/blobs/${hash}`, { headers: { range: 'bytes=1000-1999' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${baseFiles.embedder.length}`);
      expect(Buffer.from(await part.arrayBuffer())).toEqual(baseFiles.embedder.subarray(1000, 2000));
      const tail = await fx.api(`/api/v1/blobs/${hash}`, { headers: { range: `bytes=${baseFiles.embedder.length - 10}-` } });
      expect(Buffer.from(await tail.arrayBuffer())).toEqual(baseFiles.embedder.subarray(baseFiles.embedder.length - 10));
      const past = await fx.api(`/api/v1/blobs/${hash}`, { headers: { range: `bytes=${baseFiles.embedder.length}-` } });
      expect(past.status).toBe(416);
      expect((await fx.api(`/api/v1/blobs/${'0'.repeat(64)}`)).status).toBe(404);
    });

    it('streams a file whose sha256 and size the manifest declares straight to S3', async () => {
      const head = makeHead(['x', 'y', 'z'], 7);
      const declared = [{ role: 'head', sha256: sha256(head), size: head.length }];
      const res = await upload('streamed', uploadForm({ head }, { labels: ['x', 'y', 'z'], files: declared }));
      expect(res.status).toBe(201);
      expect(await blobKeys()).toContain(`blobs/sha256/${sha256(head)}`);
      const back = await fx.api(`/api/v1/blobs/${sha256(head)}`);
      expect(Buffer.from(await back.arrayBuffer())).toEqual(head);
    });

    it('registers what `edgeloop models push` sends (the client declares every file in the one upload manifest schema)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'models-push-'));
      try {
        const head = makeHead(['p', 'q'], 11);
        await writeFile(join(dir, 'head.onnx'), head);
        const api = new ApiClient({ baseUrl: fx.url, token: fx.adminToken });
        const fields = { labels: ['p', 'q'], thresholds: { detection: 0.7, match: 0.5 }, metrics: { accuracy: 0.9 }, source: 'cli-test' };
        const version = await uploadModelVersion(api, 'pushed', [{ role: 'head', file: join(dir, 'head.onnx') }], fields);
        expect(version.manifest).toMatchObject({ ...fields, name: 'pushed', version: 1, files: [{ role: 'head', sha256: sha256(head), size: head.length }] });
        expect(await blobKeys()).toContain(`blobs/sha256/${sha256(head)}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('stores only one new blob for a version that changes only the head', async () => {
      const before = await blobKeys();
      const newHead = makeHead([...labels, 'dave'], 2);
      const res = await upload('face-id', uploadForm({ ...baseFiles, head: newHead }, { labels: [...labels, 'dave'], parent: 1 }));
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ version: 2, parent: 1 });
      const after = await blobKeys();
      expect(after.length).toBe(before.length + 1);
      expect(after.filter((k) => !before.includes(k))).toEqual([`blobs/sha256/${sha256(newHead)}`]);
    });
  });

  describe('bad input: a clear JSON error, nothing registered, no blob left', () => {
    const name = 'bad-input';
    let blobsBefore: string[];

    beforeEach(async () => {
      blobsBefore = await blobKeys();
    });
    afterEach(async () => {
      expect(await versionCount(name)).toBe(0);
      expect(await blobKeys()).toEqual(blobsBefore);
    });

    const cases: Array<[string, () => FormData, number, string]> = [
      ['an empty file', () => uploadForm({ detector: Buffer.alloc(0) }), 422, 'invalid_artifact'],
      ['a truncated ONNX file', () => uploadForm({ detector: baseFiles.detector.subarray(0, 300_000) }), 422, 'invalid_artifact'],
      ['a garbage file', () => uploadForm({ embedder: Buffer.from('this is not a model at all '.repeat(100)) }), 422, 'invalid_artifact'],
      ['a valid ONNX with the wrong inputs for its role', () => uploadForm({ embedder: baseFiles.landmarks }), 422, 'invalid_artifact'],
      ['a head whose width does not match the labels', () => uploadForm({ head: makeHead(['a', 'b']) }, { labels: ['a', 'b', 'c'] }), 422, 'invalid_artifact'],
      ['an unknown role', () => uploadForm({ recognizer: baseFiles.landmarks }), 400, 'unknown_role'],
      ['no file part', () => uploadForm({}, { labels: [] }), 400, 'missing_file'],
      ['a malformed manifest', () => uploadForm({ landmarks: baseFiles.landmarks }, '{"labels": ['), 400, 'invalid_manifest'],
      ['a manifest with an unknown field type', () => uploadForm({ landmarks: baseFiles.landmarks }, { labels: 'alice' }), 400, 'invalid_manifest'],
      ['a manifest naming a file not uploaded', () => uploadForm({ landmarks: baseFiles.landmarks }, { files: [{ role: 'detector' }] }), 400, 'manifest_file_missing'],
      ['a head without labels', () => uploadForm({ head: makeHead(['a', 'b']) }), 400, 'invalid_manifest'],
    ];

    it.each(cases)('%s', async (_title, form, status, code) => {
      const res = await upload(name, form());
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ error: code, message: expect.any(String), details: expect.any(Array) });
      expect(res.body.message.length).toBeGreaterThan(10);
    });

    it('a file that differs from the sha256 its manifest declares (streamed straight to S3)', async () => {
      const declared = [{ role: 'embedder', sha256: sha256(baseFiles.detector), size: baseFiles.embedder.length }];
      const res = await upload(name, uploadForm({ embedder: baseFiles.embedder }, { files: declared }));
      expect(res.status).toBe(422);
      expect(res.body.message).toMatch(/sha256/);
    });

    it('a file shorter than the size its manifest declares', async () => {
      const declared = [{ role: 'embedder', sha256: sha256(baseFiles.embedder), size: baseFiles.embedder.length + 10 }];
      const res = await upload(name, uploadForm({ embedder: baseFiles.embedder }, { files: declared }));
      expect(res.status).toBe(422);
    });

    it('a file of the wrong role names the problem', async () => {
      const res = await upload(name, uploadForm({ detector: baseFiles.embedder }));
      expect(res.status).toBe(422);
      expect(res.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ role: 'detector', code: 'role_mismatch' })]));
    });

    it('an invalid model name', async () => {
      const res = await upload('Bad%20Name!', uploadForm({ landmarks: baseFiles.landmarks }));
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_model_name');
      const upper = await upload('UPPER', uploadForm({ landmarks: baseFiles.landmarks }));
      expect(upper.body.error).toBe('invalid_model_name');
    });

    it('an over-limit body is refused with 413, declared or streamed', async () => {
      const big = Buffer.alloc(LIMIT + 1024 * 1024, 7);
      const declared = await upload(name, uploadForm({ detector: big }));
      expect(declared.status).toBe(413);
      expect(declared.body.error).toBe('payload_too_large');
      const streamed = await postChunked(`${fx.url}/api/v1/models/${name}/versions`, fx.adminToken, big);
      expect(streamed.status).toBe(413);
      expect(JSON.parse(streamed.body).error).toBe('payload_too_large');
    });

    it('a client that disconnects mid-upload leaves nothing behind and the API keeps serving', async () => {
      await abortMidUpload(`${fx.url}/api/v1/models/${name}/versions`, fx.adminToken, baseFiles.embedder);
      await new Promise((r) => setTimeout(r, 500));
      expect((await fetch(`${fx.url}/api/v1/health`)).status).toBe(200);
    });
  });

  it('gives ten concurrent uploads to one model ten distinct, gap-free versions', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => upload('concurrent', uploadForm({ head: makeHead(['x', 'y'], 100 + i) }, { labels: ['x', 'y'] }))),
    );
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
    expect(results.map((r) => r.body.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  describe('tokens and roles', () => {
    let viewer: string;
    let operator: string;

    beforeAll(async () => {
      const make = async (role: string) => {
        const res = await fx.api('/api/v1/tokens', {
          method: 'POST',
          body: JSON.stringify({ name: `${role}-token`, role }),
          headers: { 'content-type': 'application/json' },
        });
        expect(res.status).toBe(201);
        const body = (await res.json()) as any;
        expect(body.token).toMatch(/^elt_/);
        return body.token as string;
      };
      viewer = await make('viewer');
      operator = await make('operator');
    });

    it('no token is 401 and an unknown token is 401', async () => {
      expect((await fx.api('/api/v1/models', { token: null })).status).toBe(401);
      const res = await fx.api('/api/v1/models', { token: 'elt_0000000000000000000000000000000000' });
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error).toBe('unauthorized');
    });

    it('a viewer reads but cannot upload or move aliases', async () => {
      expect((await fx.api('/api/v1/models', { token: viewer })).status).toBe(200);
      const res = await upload('face-id', uploadForm({ landmarks: baseFiles.landmarks }), viewer);
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('forbidden');
      const alias = await fx.api('/api/v1/models/face-id/aliases/production', {
        method: 'PUT',
        token: viewer,
        body: JSON.stringify({ version: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      expect(alias.status).toBe(403);
    });

    it('an operator uploads but cannot manage tokens', async () => {
      const res = await upload('operator-model', uploadForm({ landmarks: baseFiles.landmarks }), operator);
      expect(res.status).toBe(201);
      expect((await fx.api('/api/v1/tokens', { token: operator })).status).toBe(403);
    });

    it('a revoked token stops working at once', async () => {
      const list = (await (await fx.api('/api/v1/tokens')).json()) as any;
      const id = list.tokens.find((t: { name: string }) => t.name === 'viewer-token').id;
      expect(list.tokens.every((t: Record<string, unknown>) => !('token' in t) && !('tokenHash' in t))).toBe(true);
      expect((await fx.api(`/api/v1/tokens/${id}`, { method: 'DELETE' })).status).toBe(204);
      expect((await fx.api('/api/v1/models', { token: viewer })).status).toBe(401);
    });
  });
});

/** Posts a multipart body with chunked transfer encoding (no Content-Length), the way a streaming client does. */
function postChunked(url: string, token: string, file: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const boundary = 'edgeloopboundary';
    const req = request(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="detector"; filename="d.onnx"\r\n\r\n`);
    let offset = 0;
    const pump = () => {
      while (offset < file.length) {
        const chunk = file.subarray(offset, offset + 256 * 1024);
        offset += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(`\r\n--${boundary}--\r\n`);
    };
    pump();
  });
}

/** Sends the start of a multipart upload and then destroys the connection. */
function abortMidUpload(url: string, token: string, file: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const boundary = 'edgeloopboundary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="embedder"; filename="e.onnx"\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const req = request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(body.length),
      },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => req.destroy(), 200));
  });
}
