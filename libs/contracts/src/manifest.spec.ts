import { ModelManifestSchema, SignedManifestSchema, UploadManifestSchema, manifestFile } from './manifest';
import { signManifest, verifySignedManifest } from './signing';
import { canonicalJson } from './canonical-json';
import { keyPair, manifestExample } from './testing/examples';
import { expectInvalid, expectValid } from './testing/expect-invalid';

describe('ModelManifestSchema', () => {
  it('accepts the design example and the base bundle shape', () => {
    expectValid(ModelManifestSchema, manifestExample());
    const base = { ...manifestExample(), parent: undefined, labels: [], files: manifestExample().files.slice(0, 2), source: 'faceplugin-face-recognition-js@0.0.1' };
    expect(manifestFile(expectValid(ModelManifestSchema, base), 'embedder')?.size).toBe(4884269);
  });

  it('keeps unknown fields, so a parsed manifest is still the signed one', () => {
    const manifest = { ...manifestExample(), trainer: { epochs: 3 } };
    const parsed = expectValid(ModelManifestSchema, manifest);
    expect(canonicalJson(parsed)).toBe(canonicalJson(manifest));
  });

  it.each([
    ['schema', (m: Record<string, unknown>) => void (m.schema = 'edgeloop.model/v2')],
    ['name', (m: Record<string, unknown>) => void (m.name = 'Face ID')],
    ['version', (m: Record<string, unknown>) => void (m.version = 0)],
    ['parent', (m: Record<string, unknown>) => void (m.parent = 7)],
    ['files', (m: Record<string, unknown>) => void (m.files = [])],
    ['thresholds.match', (m: Record<string, unknown>) => void (m.thresholds = { detection: 0.7, match: 1.5 })],
    ['createdAt', (m: Record<string, unknown>) => void (m.createdAt = 'yesterday')],
  ])('names the bad field %s', (path, mutate) => {
    const manifest = manifestExample() as unknown as Record<string, unknown>;
    mutate(manifest);
    expectInvalid(ModelManifestSchema, manifest, path);
  });

  it('names a bad file entry', () => {
    const manifest = manifestExample();
    expectInvalid(ModelManifestSchema, { ...manifest, files: [{ ...manifest.files[0], sha256: 'ABC' }] }, 'files[0].sha256');
    expectInvalid(ModelManifestSchema, { ...manifest, files: [{ ...manifest.files[0], size: -1 }] }, 'files[0].size');
    expectInvalid(ModelManifestSchema, { ...manifest, files: [{ ...manifest.files[0], role: 'classifier' }] }, 'files[0].role');
    expectInvalid(ModelManifestSchema, { ...manifest, files: [{ ...manifest.files[0], format: 'tflite' }] }, 'files[0].format');
    expectInvalid(ModelManifestSchema, { ...manifest, files: [{ ...manifest.files[0], path: '../etc/passwd' }] }, 'files[0].path');
  });

  it('refuses a role twice', () => {
    const manifest = manifestExample();
    const message = expectInvalid(ModelManifestSchema, { ...manifest, files: [...manifest.files, manifest.files[0]] }, 'files[3].role');
    expect(message).toContain('"detector" appears twice');
  });

  it('refuses a head without labels, and duplicate labels', () => {
    expect(expectInvalid(ModelManifestSchema, { ...manifestExample(), labels: [] }, 'labels')).toContain('head needs its labels');
    expectInvalid(ModelManifestSchema, { ...manifestExample(), labels: ['a', 'b', 'a'] }, 'labels[2]');
  });
});

describe('signed manifest', () => {
  it('round-trips a signature and refuses any change or another key', () => {
    const keys = keyPair();
    const signed = signManifest(manifestExample(), keys.privateKey, keys.keyId);
    expectValid(SignedManifestSchema, signed);
    expect(verifySignedManifest(signed, keys.publicKey)).toBe(true);

    const reordered = JSON.parse(JSON.stringify({ signature: signed.signature, manifest: { ...signed.manifest } }));
    expect(verifySignedManifest(reordered, keys.publicKey)).toBe(true);

    const tampered = { ...signed, manifest: { ...signed.manifest, thresholds: { detection: 0.7, match: 0.1 } } };
    expect(verifySignedManifest(tampered, keys.publicKey)).toBe(false);
    expect(verifySignedManifest(signed, keyPair().publicKey)).toBe(false);
  });

  it('names a malformed signature', () => {
    const keys = keyPair();
    const signed = signManifest(manifestExample(), keys.privateKey, keys.keyId);
    expectInvalid(SignedManifestSchema, { ...signed, signature: { ...signed.signature, alg: 'rsa' } }, 'signature.alg');
    expectInvalid(SignedManifestSchema, { ...signed, signature: { ...signed.signature, value: 'abc' } }, 'signature.value');
  });
});

describe('UploadManifestSchema', () => {
  const sha = 'ab'.repeat(32);

  it('accepts what `edgeloop models push --manifest` sends: the file of the user plus every part declared by role, sha256 and size', () => {
    const fromFile = { labels: ['ann', 'ben'], thresholds: { detection: 0.7, match: 0.45 }, metrics: { accuracy: 0.97 }, parent: 3, source: 'training-run-9' };
    const sent = { ...fromFile, files: [{ role: 'embedder', sha256: sha, size: 4884269 }, { role: 'head', sha256: 'cd'.repeat(32), size: 20544 }] };
    expect(expectValid(UploadManifestSchema, sent)).toEqual(sent);
    expectValid(UploadManifestSchema, { files: [{ role: 'head', sha256: sha, size: 1 }] });
  });

  it('accepts what the server reads besides: schema, drift settings, files named by role only', () => {
    expectValid(UploadManifestSchema, {
      schema: 'edgeloop.model/v1',
      drift: { thresholds: { psi: 0.3 }, alarm: { consecutive: 2 }, reference: { frames: 10 } },
      files: [{ role: 'head' }],
    });
    expectValid(UploadManifestSchema, {});
  });

  it.each([
    ['files[0].size', { files: [{ role: 'head', sha256: sha, size: -1 }] }],
    ['files[0].size', { files: [{ role: 'head', sha256: sha, size: 1.5 }] }],
    ['files[0].sha256', { files: [{ role: 'head', sha256: 'ABC', size: 1 }] }],
    ['files[0].role', { files: [{ role: 'classifier' }] }],
    ['files[1].role', { files: [{ role: 'head' }, { role: 'head' }] }],
    ['files[0]', { files: [{ role: 'head', format: 'onnx' }] }],
    ['(root)', { createdBy: 'mallory' }],
    ['(root)', { name: 'face-id', version: 7 }],
    ['(root)', { lables: [] }],
    ['drift', { drift: { threshold: {} } }],
    ['schema', { schema: 'edgeloop.model/v2' }],
    ['labels', { labels: 'alice' }],
  ])('refuses a bad or server-owned field (%s)', (path, value) => {
    expectInvalid(UploadManifestSchema, value, path);
  });
});
