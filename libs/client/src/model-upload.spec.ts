import { UploadManifestSchema } from '@edgeloop/contracts';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUploadManifest } from './model-upload';

describe('buildUploadManifest (what `edgeloop models push` sends)', () => {
  let dir: string;
  const head = Buffer.from('head bytes '.repeat(50));
  const embedder = Buffer.from('embedder bytes '.repeat(80));
  const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'model-upload-spec-'));
    await writeFile(join(dir, 'head.onnx'), head);
    await writeFile(join(dir, 'embedder.onnx'), embedder);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const files = () => [
    { role: 'embedder' as const, file: join(dir, 'embedder.onnx') },
    { role: 'head' as const, file: join(dir, 'head.onnx') },
  ];

  it('declares every file by role, sha256 and size beside the fields of the --manifest file, in a value the contract accepts', async () => {
    const fields = { labels: ['ann', 'ben'], thresholds: { detection: 0.7, match: 0.45 }, metrics: { accuracy: 0.9 }, parent: 2, source: 'run-4' };
    const manifest = await buildUploadManifest(files(), fields);
    expect(manifest).toEqual({
      ...fields,
      files: [
        { role: 'embedder', sha256: sha256(embedder), size: embedder.length },
        { role: 'head', sha256: sha256(head), size: head.length },
      ],
    });
    expect(UploadManifestSchema.safeParse(JSON.parse(JSON.stringify(manifest))).success).toBe(true);
  });

  it('replaces a files list of the --manifest file with what is really sent', async () => {
    const manifest = await buildUploadManifest(files(), { files: [{ role: 'detector' }] });
    expect(manifest.files?.map((f) => f.role)).toEqual(['embedder', 'head']);
  });

  it.each([
    ['a field the server fills in', { createdBy: 'me' }, /createdBy/],
    ['a misspelt field', { lables: ['a'] }, /lables/],
    ['a bad threshold', { thresholds: { detection: 2, match: 0.4 } }, /thresholds\.detection/],
    ['not an object', ['labels'], /JSON object/],
  ])('refuses %s before any byte is sent', async (_title, fields, message) => {
    await expect(buildUploadManifest(files(), fields)).rejects.toThrow(message);
  });
});
