import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { SignedManifest } from '@edgeloop/contracts';
import { HASH_READ_BYTES, sha256File } from '@edgeloop/client';
import { ModelStore } from './model-store';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

function signed(version: number, files: Record<string, string>): SignedManifest {
  return {
    manifest: {
      schema: 'edgeloop.model/v1',
      name: 'face-id',
      version,
      files: Object.entries(files).map(([role, text]) => ({ role, sha256: sha(text), size: text.length, format: 'onnx' })),
      labels: ['alice'],
      thresholds: { detection: 0.8, match: 0.45 },
      metrics: {},
      createdBy: 'spec',
    },
    signature: { alg: 'ed25519', keyId: 'k', value: 'A'.repeat(86) + '==' },
  } as SignedManifest;
}

describe('ModelStore', () => {
  let root: string;
  let store: ModelStore;
  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'model-store-'));
    store = new ModelStore(root);
    await store.open();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const putBlob = (text: string) => writeFileSync(store.blobFile(sha(text)), text);

  it('moves the pointers atomically and reads them back', async () => {
    expect(await store.readPointer('active')).toBeUndefined();
    await store.writePointers({ name: 'face-id', version: 2, deploymentId: 'd2', at: 1 }, { name: 'face-id', version: 1, deploymentId: null, at: 1 });
    expect(await store.readPointer('active')).toMatchObject({ version: 2, deploymentId: 'd2' });
    expect(await store.readPointer('last-known-good')).toMatchObject({ version: 1 });
    await store.writePointers({ name: 'face-id', version: 3, deploymentId: 'd3', at: 2 }, null);
    expect(await store.readPointer('last-known-good')).toBeUndefined();
    expect(readdirSync(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('ignores a torn or foreign pointer file rather than failing', async () => {
    writeFileSync(join(root, 'active.json'), '{"name":"face-id","vers');
    expect(await store.readPointer('active')).toBeUndefined();
  });

  it('removes temp files a killed process left behind', async () => {
    writeFileSync(join(root, 'active.json.tmp-123-1'), 'x');
    await store.open();
    expect(readdirSync(root)).not.toContain('active.json.tmp-123-1');
  });

  it('collects blobs, partial downloads and versions no kept version references', async () => {
    const v1 = signed(1, { detector: 'det', embedder: 'emb', head: 'head-1' });
    const v2 = signed(2, { detector: 'det', embedder: 'emb', head: 'head-2' });
    const v3 = signed(3, { detector: 'det', embedder: 'emb', head: 'head-3' });
    for (const text of ['det', 'emb', 'head-1', 'head-2', 'head-3']) putBlob(text);
    writeFileSync(`${store.blobFile(sha('other'))}.part`, 'oth');
    for (const version of [v1, v2, v3]) await store.saveVersion(version);
    const gc = await store.collectGarbage({ versions: [v3.manifest, v2.manifest], blobs: [] });
    expect(gc).toMatchObject({ removedBlobs: 1, removedPartials: 1, removedVersions: 1 });
    expect(await store.hasBlob(sha('head-1'))).toBe(false);
    expect(await store.hasBlob(sha('det'))).toBe(true);
    expect(await store.readVersion(v1.manifest)).toBeUndefined();
    expect(await store.readVersion(v2.manifest)).toMatchObject({ manifest: { version: 2 } });
  });

  it('removes nothing when a kept version cannot be read', async () => {
    putBlob('det');
    await expect(store.collectGarbage({ versions: [{ name: 'face-id', version: 9 }], blobs: [] })).rejects.toThrow(/unreadable/);
    expect(await store.hasBlob(sha('det'))).toBe(true);
  });

  it('detects a blob whose bytes no longer match its name', async () => {
    putBlob('det');
    expect(await store.blobIntact(sha('det'))).toBe(true);
    writeFileSync(store.blobFile(sha('det')), 'tampered');
    expect(await store.blobIntact(sha('det'))).toBe(false);
  });

  it('hashes files of every size around its read buffer, and imports a local file only when its bytes match', async () => {
    for (const size of [0, 1, HASH_READ_BYTES - 1, HASH_READ_BYTES, HASH_READ_BYTES + 1, 2 * HASH_READ_BYTES + 17]) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 11)) & 0xff;
      const file = join(root, `file-${size}`);
      writeFileSync(file, bytes);
      expect(await sha256File(file)).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    const source = join(root, `file-${2 * HASH_READ_BYTES + 17}`);
    const digest = await sha256File(source);
    expect(await store.importBlob(sha('other'), source)).toBe(false);
    expect(await store.importBlob(digest, source)).toBe(true);
    expect(await store.blobIntact(digest)).toBe(true);
  });
});
