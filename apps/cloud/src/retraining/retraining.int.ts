import { stopAllStarted } from '@edgeloop/harness';
import { HEAD_DELTA_CONTENT_TYPE, headDeltaPath, type DomainEvent, type RetrainingRun } from '@edgeloop/contracts';
import type { TrainingExample } from '@edgeloop/training';
import {
  applyHeadDelta,
  buildIdentityHead,
  encodeHeadDelta,
  encodeQuantisedHead,
  quantiseAgainstParent,
  readDeltaBase,
  readHeadDeltaHeader,
  readIdentityHead,
} from '@edgeloop/vision';
import { createHash } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { SqlDatabase } from '../database/sql-database';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { DomainEvents } from '../events/domain-events';
import { EventRelay } from '../events/event-relay';
import { TrainingDataService } from '../identities/training-data.service';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { SimDevice } from '../testing/sim-device';
import { baseFiles, uploadForm } from '../testing/upload-form';
import { HEAD_DELTA_PRUNE_GRACE_MS, HeadDeltaService } from './head-delta.service';
import { RetrainingArtifacts } from './retraining-artifacts';
import { RetrainingRunRepository } from './retraining-run.repository';
import { RetrainingBoot } from './retraining.boot';
import { DEFAULT_RETRAINING_SETTINGS } from './retraining.service';
import { blurredHead, shuffleTrainingLabels, syntheticGallery, type SyntheticGallery } from './testing/synthetic-training-data';

afterAll(() => stopAllStarted());

/**
 * The retraining flow on real Redis (BullMQ flow), S3 (s3rver), SQL (PGlite, kept on disk across a
 * restart) and the embedded broker. The training data is synthetic (a test double of TrainingDataService
 * per model); everything after it — split, training in a worker thread, calibration, evaluation, gate,
 * registration, events — is the cloud's own.
 */
// each case runs a whole flow (five steps, worker threads); on a busy 2-core machine one took over a minute
jest.setTimeout(180_000);

describe('retraining flow', () => {
  let fx: CloudFixture;
  const datasets = new Map<string, TrainingExample[]>();
  const events: DomainEvent[] = [];
  let subscription: Subscription | undefined;

  const json = (body: unknown) => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const listen = () => {
    subscription?.unsubscribe();
    subscription = fx.cloud.app.get(EventRelay).events$.subscribe((e) => events.push(e));
  };

  /** Registers `name`@1 (real embedder + a head of `production`'s prototypes) and points production at it. */
  async function baseModel(name: string, head: { labels: string[]; prototypes: Float32Array[] } | null, alias = true): Promise<void> {
    const files: Record<string, Uint8Array> = { detector: baseFiles.detector, embedder: baseFiles.embedder };
    if (head) files.head = buildIdentityHead(head);
    const res = await fx.api(`/api/v1/models/${name}/versions`, {
      method: 'POST',
      body: uploadForm(files, { labels: head?.labels ?? [], thresholds: { detection: 0.8, match: 0.5 } }),
    });
    expect(res.status).toBe(201);
    if (alias) {
      const put = await fx.api(`/api/v1/models/${name}/aliases/production`, {
        method: 'PUT',
        body: JSON.stringify({ version: 1 }),
        headers: { 'content-type': 'application/json' },
      });
      expect(put.status).toBe(200);
    }
  }

  const headOf = (gallery: SyntheticGallery, labels: string[]) => ({ labels, prototypes: labels.map((l) => gallery.centres.get(l)!) });

  async function waitForRun(id: string, done: (run: RetrainingRun) => boolean, timeoutMs = 90_000): Promise<RetrainingRun> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fx.api(`/api/v1/retraining/jobs/${id}`);
      expect(res.status).toBe(200);
      const run = (await res.json()) as RetrainingRun;
      if (done(run)) return run;
      if (Date.now() > deadline) throw new Error(`run ${id} is still ${run.status} at ${run.step} (${run.progress})`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  const finished = (run: RetrainingRun) => ['completed', 'rejected', 'failed'].includes(run.status);

  beforeAll(async () => {
    jest.spyOn(TrainingDataService.prototype, 'collect').mockImplementation(async (input) => {
      const examples = datasets.get(input.modelName) ?? [];
      return {
        examples,
        counts: { enrolment: examples.length, hardExamples: 0, negatives: 0, reembedded: 0, skippedPrivate: 0, unreadable: 0 },
      };
    });
    fx = await startCloudFixture({ broker: 'embedded', persistentSql: true });
    listen();
  });
  afterAll(async () => {
    subscription?.unsubscribe();
    await fx?.stop();
  });

  it('builds, trains, calibrates, evaluates against production on one holdout and registers a better head as candidate', async () => {
    const gallery = syntheticGallery({ identities: 12, perIdentity: 16, strangers: 40, seed: 11, prefix: 'a', sameCosine: 0.35 });
    datasets.set('face-a', gallery.examples);
    // production's prototypes are blurred estimates of the people: a head trained on their examples must do better
    await baseModel('face-a', blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    const base = (await (await fx.api('/api/v1/models/face-a/versions/1')).json()) as any;

    const res = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-a@production' }));
    expect(res.status).toBe(201);
    const queued = (await res.json()) as RetrainingRun;
    expect(queued).toMatchObject({ modelName: 'face-a', baseVersion: 1, trigger: 'manual', status: 'queued', candidate: null });

    const run = await waitForRun(queued.id, finished);
    expect(run.status).toBe('completed');
    expect(run.progress).toBe(1);
    expect(run.error).toBeNull();
    for (const step of ['build-dataset', 'train-head', 'calibrate', 'evaluate', 'register'] as const) {
      expect(run.steps[step]).toMatchObject({ status: 'done', attempts: 1 });
      expect(run.steps[step].durationMs).toBeGreaterThanOrEqual(0);
      expect(run.steps[step].output?.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(run.dataset).toMatchObject({ identities: 12, examples: 12 * 16 + 40 });
    const { train, validation, calibration, holdout } = run.dataset!.splits;
    expect(train + validation + calibration + holdout).toBe(12 * 16 + 40);
    expect(holdout).toBeGreaterThan(0);
    expect(run.report).toMatchObject({ verdict: 'passed', holdoutProbes: holdout, production: { version: 1 } });
    expect(run.report!.primary.candidate).toBeGreaterThan(run.report!.primary.production!);
    expect(run.candidate).toEqual({ name: 'face-a', version: 2 });

    const v2 = (await (await fx.api('/api/v1/models/face-a/versions/2')).json()) as any;
    expect(v2.aliases).toEqual(['candidate']);
    expect(v2.manifest).toMatchObject({
      parent: 1,
      createdBy: 'retraining',
      labels: [...gallery.centres.keys()].sort(),
      thresholds: { detection: 0.8, match: run.report!.candidate.thresholds.match, margin: run.report!.candidate.thresholds.margin },
      lineage: { runId: run.id, datasetDigest: run.dataset!.digest, baseVersion: 1, targetFpir: 0.01 },
    });
    expect(v2.manifest.metrics.dirAtFpir).toBe(run.report!.candidate.metrics.dirAtFpir);
    const file = (m: any, role: string) => m.files.find((f: any) => f.role === role);
    // the same detector and embedder blobs, a new head: a rollout ships only the head
    expect(file(v2.manifest, 'embedder')).toEqual(file(base.manifest, 'embedder'));
    expect(file(v2.manifest, 'detector')).toEqual(file(base.manifest, 'detector'));
    expect(file(v2.manifest, 'head').sha256).not.toBe(file(base.manifest, 'head').sha256);
    const head = await fx.api(`/api/v1/blobs/${file(v2.manifest, 'head').sha256}`);
    expect(head.status).toBe(200);
    const headBytes = new Uint8Array(await head.arrayBuffer());
    expect(headBytes.byteLength).toBe(file(v2.manifest, 'head').size);
    // the candidate's head stores int8 weights with a scale per identity: 512 bytes an identity, not 2,048
    const shipped = readIdentityHead(headBytes, v2.manifest.labels);
    expect(shipped.weights).toBe('int8');
    expect(shipped.labels).toEqual(v2.manifest.labels);
    expect(headBytes.byteLength).toBeLessThan(12 * 512 + 1_000);
    // the registry counts the new head as a verified blob, as it does the files of an upload
    expect(await fx.cloud.app.get(BlobVerificationRepository).verifiedSize(file(v2.manifest, 'head').sha256)).toBe(file(v2.manifest, 'head').size);
    // production did not move
    expect(((await (await fx.api('/api/v1/models/face-a/versions/production')).json()) as any).version).toBe(1);
    // train-head made the delta from the uploaded (float32) head: production's rows were all blurred, so every
    // identity moved and it carries all 12; it rebuilds the candidate's head from the float32 one
    const [newHead, oldHead] = [file(v2.manifest, 'head').sha256, file(base.manifest, 'head').sha256];
    const fromUpload = await fx.api(headDeltaPath(newHead, oldHead));
    expect(fromUpload.status).toBe(200);
    const fromUploadBytes = new Uint8Array(await fromUpload.arrayBuffer());
    expect(readHeadDeltaHeader(fromUploadBytes).header).toMatchObject({ base: oldHead, baseWeights: 'float32', target: { sha256: newHead } });
    const oldHeadBytes = new Uint8Array(await (await fx.api(`/api/v1/blobs/${oldHead}`)).arrayBuffer());
    expect(applyHeadDelta(oldHeadBytes, fromUploadBytes)).toEqual(headBytes);
    expect(await fx.cloud.app.get(RetrainingArtifacts).getHeadDelta(newHead, oldHead)).toBeDefined();
    // a stored one is served as it is; a bad base is a 400
    expect((await fx.api(`/api/v1/blobs/${newHead}/delta?from=abc`)).status).toBe(400);
    const selfDelta = encodeHeadDelta(headBytes, headBytes)!;
    await fx.cloud.app.get(RetrainingArtifacts).putHeadDelta(newHead, newHead, selfDelta.bytes);
    const served = await fx.api(headDeltaPath(newHead, newHead));
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toBe(HEAD_DELTA_CONTENT_TYPE);
    expect(applyHeadDelta(headBytes, new Uint8Array(await served.arrayBuffer()))).toEqual(headBytes);

    const ours = events.filter((e) => (e.data as { runId?: string }).runId === run.id || (e.data as any).model?.name === 'face-a');
    const completed = ours.find((e) => e.type === 'retraining.completed');
    expect(completed?.data).toMatchObject({ candidate: { name: 'face-a', version: 2 }, report: { verdict: 'passed', datasetDigest: run.dataset!.digest } });
    expect(ours.some((e) => e.type === 'model.version.created' && (e.data as any).model.version === 2)).toBe(true);
    const steps = ours.filter((e) => e.type === 'retraining.progress').map((e) => (e.data as any).step);
    expect(steps).toEqual(expect.arrayContaining(['build-dataset', 'train-head', 'calibrate', 'evaluate', 'register']));

    const list = (await (await fx.api('/api/v1/retraining/jobs?model=face-a')).json()) as { runs: RetrainingRun[] };
    expect(list.runs.map((r) => r.id)).toEqual([run.id]);
  });

  it('makes a delta on request from any registered head a device has, stores it, and prunes it once a head is out of use', async () => {
    const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    const gallery = syntheticGallery({ identities: 8, perIdentity: 2, seed: 41, prefix: 'd', sameCosine: 0.35 });
    const known = [...gallery.centres.keys()];
    // v1: an uploaded float32 head; v2 and v3: int8 heads, each keeping the columns of the identities that did not move
    const h1 = buildIdentityHead(headOf(gallery, known.slice(0, 6)));
    const h2 = encodeQuantisedHead(quantiseAgainstParent(headOf(gallery, known.slice(0, 7)), readDeltaBase(h1)!.quantised).quantised);
    const h3 = encodeQuantisedHead(quantiseAgainstParent(headOf(gallery, known), readDeltaBase(h2)!.quantised).quantised);
    for (const [, head, labels] of [
      [1, h1, known.slice(0, 6)],
      [2, h2, known.slice(0, 7)],
      [3, h3, known],
    ] as const) {
      const res = await fx.api('/api/v1/models/face-delta/versions', {
        method: 'POST',
        body: uploadForm({ detector: baseFiles.detector, embedder: baseFiles.embedder, head }, { labels }),
      });
      expect(res.status).toBe(201);
    }
    const artifacts = fx.cloud.app.get(RetrainingArtifacts);
    // nothing stored for v1 → v3 (no run made it): the first request makes it — the two identities v1 lacks —, the next reads it back
    expect(await artifacts.getHeadDelta(sha(h3), sha(h1))).toBeUndefined();
    const first = await fx.api(headDeltaPath(sha(h3), sha(h1)));
    expect(first.status).toBe(200);
    const delta = new Uint8Array(await first.arrayBuffer());
    const header = readHeadDeltaHeader(delta).header;
    expect(header.columns).toEqual([{ from: 0, count: 6 }, { add: known.slice(6) }]);
    expect(sha(applyHeadDelta(h1, delta))).toBe(sha(h3));
    expect(new Uint8Array((await artifacts.getHeadDelta(sha(h3), sha(h1)))!)).toEqual(delta);
    expect(new Uint8Array(await (await fx.api(headDeltaPath(sha(h3), sha(h1)))).arrayBuffer())).toEqual(delta);
    // from v2 (int8) too: one column carried
    const fromV2 = await fx.api(headDeltaPath(sha(h3), sha(h2)));
    expect(fromV2.status).toBe(200);
    expect(readHeadDeltaHeader(new Uint8Array(await fromV2.arrayBuffer())).header.columns).toEqual([{ from: 0, count: 7 }, { add: known.slice(7) }]);
    // 404, nothing stored: a base that is no registered head, a target that is no head, a float32 target (asked twice)
    const unknownHead = sha(new Uint8Array([1, 2, 3]));
    expect((await fx.api(headDeltaPath(sha(h3), unknownHead))).status).toBe(404);
    expect((await fx.api(headDeltaPath(sha(baseFiles.embedder), sha(h1)))).status).toBe(404);
    for (let i = 0; i < 2; i++) expect((await fx.api(headDeltaPath(sha(h1), sha(h3)))).status).toBe(404);
    expect(await artifacts.getHeadDelta(sha(h3), unknownHead)).toBeUndefined();
    expect(await artifacts.getHeadDelta(sha(h1), sha(h3))).toBeUndefined();

    // pruning: in use are heads of aliased versions and of versions devices are told to run or report running
    const db = fx.cloud.app.get(SqlDatabase);
    const deltas = fx.cloud.app.get(HeadDeltaService);
    const later = () => Date.now() + HEAD_DELTA_PRUNE_GRACE_MS + 60_000;
    const stored = async () => ({ v1: !!(await artifacts.getHeadDelta(sha(h3), sha(h1))), v2: !!(await artifacts.getHeadDelta(sha(h3), sha(h2))) });
    // a delta younger than the grace stays whatever its heads
    await deltas.prune();
    expect(await stored()).toEqual({ v1: true, v2: true });
    // v3 is production and a device reports running v1: the v1 → v3 delta stays, v2 → v3 goes (nobody has v2)
    await fx.api('/api/v1/models/face-delta/aliases/production', {
      method: 'PUT',
      body: JSON.stringify({ version: 3 }),
      headers: { 'content-type': 'application/json' },
    });
    await db.query(`insert into devices (id, name, mqtt_password_hash, http_token_hash) values ('cam-delta', 'cam-delta', repeat('0', 64), repeat('d', 64))`);
    await db.query(`insert into device_state (device_id, reported) values ('cam-delta', $1::jsonb)`, [
      JSON.stringify({ running: { name: 'face-delta', version: 1 }, lastKnownGood: null }),
    ]);
    await deltas.prune(later());
    expect(await stored()).toEqual({ v1: true, v2: false });
    // the device moved on to v3: v1's delta has no use left and goes; asked for again, it is made again
    await db.query(`update device_state set reported = $1::jsonb where device_id = 'cam-delta'`, [
      JSON.stringify({ running: { name: 'face-delta', version: 3 }, lastKnownGood: { name: 'face-delta', version: 3 } }),
    ]);
    expect(await deltas.prune(later())).toMatchObject({ removed: 1 });
    expect(await stored()).toEqual({ v1: false, v2: false });
    const again = await fx.api(headDeltaPath(sha(h3), sha(h1)));
    expect(new Uint8Array(await again.arrayBuffer())).toEqual(delta);
  });

  it('keeps a worse candidate (training labels shuffled) as a rejected run with its report, and registers nothing', async () => {
    const gallery = syntheticGallery({ identities: 10, perIdentity: 14, strangers: 30, seed: 21, prefix: 'b', sameCosine: 0.35 });
    datasets.set('face-b', shuffleTrainingLabels(gallery.examples));
    await baseModel('face-b', headOf(gallery, [...gallery.centres.keys()]));

    const res = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-b@1' }));
    expect(res.status).toBe(201);
    const run = await waitForRun(((await res.json()) as RetrainingRun).id, finished);
    expect(run.status).toBe('rejected');
    expect(run.candidate).toBeNull();
    expect(run.finishedAt).not.toBeNull();
    expect(run.report?.verdict).toBe('rejected');
    expect(run.report!.reasons.length).toBeGreaterThan(0);
    expect(run.report!.primary.candidate).toBeLessThan(run.report!.primary.production!);
    const versions = (await (await fx.api('/api/v1/models/face-b/versions')).json()) as any;
    expect((versions.versions ?? versions).length).toBe(1);
    expect((await fx.api('/api/v1/models/face-b/versions/candidate')).status).toBe(404);
    const completed = events.find((e) => e.type === 'retraining.completed' && (e.data as any).runId === run.id);
    expect(completed?.data).toMatchObject({ candidate: null, report: { verdict: 'rejected' } });
  });

  it('starts one run when two triggers arrive at once; the other caller gets 409 naming it', async () => {
    const gallery = syntheticGallery({ identities: 8, perIdentity: 14, strangers: 20, seed: 31, prefix: 'c', sameCosine: 0.35 });
    datasets.set('face-c', gallery.examples);
    await baseModel('face-c', blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    const [first, second] = await Promise.all([
      fx.api('/api/v1/retraining/jobs', json({ base: 'face-c@production' })),
      fx.api('/api/v1/retraining/jobs', json({ base: 'face-c@production' })),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([201, 409]);
    const [created, refused] = first.status === 201 ? [first, second] : [second, first];
    const run = (await created.json()) as RetrainingRun;
    expect(await refused.json()).toMatchObject({ error: 'retraining_in_progress', details: [{ runId: run.id }] });
    const list = (await (await fx.api('/api/v1/retraining/jobs?model=face-c')).json()) as { runs: RetrainingRun[] };
    expect(list.runs).toHaveLength(1);
    await waitForRun(run.id, finished);
    // once it finished, the model may be retrained again
    const again = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-c@production' }));
    expect(again.status).toBe(201);
    await waitForRun(((await again.json()) as RetrainingRun).id, finished);
  });

  it('ends a run that cannot succeed as failed, with the step and the reason, at once (no retries)', async () => {
    datasets.set('face-empty', []);
    await baseModel('face-empty', null);
    const res = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-empty@production' }));
    expect(res.status).toBe(201);
    const run = await waitForRun(((await res.json()) as RetrainingRun).id, finished);
    expect(run).toMatchObject({ status: 'failed', step: 'build-dataset', candidate: null });
    expect(run.error).toMatch(/^build-dataset: no labelled examples/);
    expect(run.steps['build-dataset']).toMatchObject({ status: 'failed', attempts: 1 });
    expect(run.finishedAt).not.toBeNull();
    const failed = events.find((e) => e.type === 'retraining.failed' && (e.data as any).runId === run.id);
    expect(failed?.data).toMatchObject({ modelName: 'face-empty', step: 'build-dataset', error: expect.stringMatching(/no labelled examples/) });
    // a failed run does not block the next one
    expect((await fx.api('/api/v1/retraining/jobs', json({ base: 'face-empty@production' }))).status).toBe(201);
  });

  it('answers bad input with a clear 4xx error and starts nothing', async () => {
    await baseModel('face-noprod', null, false);
    const runsBefore = ((await (await fx.api('/api/v1/retraining/jobs?limit=500')).json()) as { runs: unknown[] }).runs.length;
    const cases: Array<[unknown, number, string]> = [
      [{ base: 'face-noprod@production' }, 404, 'not_found'],
      [{ base: 'no-such-model@production' }, 404, 'not_found'],
      [{ base: 'face-noprod@9' }, 404, 'not_found'],
      [{ base: 'not a reference' }, 400, 'invalid_body'],
      [{}, 400, 'invalid_body'],
      [{ base: 'face-a@production', autoCanary: 'yes' }, 400, 'invalid_body'],
      [{ base: 'face-a@production', extra: 1 }, 400, 'invalid_body'],
    ];
    for (const [body, status, error] of cases) {
      const res = await fx.api('/api/v1/retraining/jobs', json(body));
      expect({ body, status: res.status }).toEqual({ body, status });
      const answer = (await res.json()) as { error: string; message: string };
      expect(answer.error).toBe(error);
      expect(answer.message.length).toBeGreaterThan(5);
    }
    expect(((await (await fx.api('/api/v1/models/face-noprod/versions/1')).json()) as any).manifest).toBeDefined();
    const noprod = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-noprod@production' }));
    expect(((await noprod.json()) as { message: string }).message).toMatch(/no production alias/);
    expect((await fx.api('/api/v1/retraining/jobs/rt_doesnotexist')).status).toBe(404);
    expect((await fx.api('/api/v1/retraining/jobs/bad%20id!')).status).toBe(400);
    expect((await fx.api('/api/v1/retraining/jobs?limit=0')).status).toBe(400);
    const runsAfter = ((await (await fx.api('/api/v1/retraining/jobs?limit=500')).json()) as { runs: unknown[] }).runs.length;
    expect(runsAfter).toBe(runsBefore);
    // settings are validated the same way
    const bad = await fx.api('/api/v1/retraining/settings/face-a', { ...json({ targetFpir: 2 }), method: 'PUT' });
    expect(bad.status).toBe(400);
    expect((await fx.api('/api/v1/retraining/settings/face-a')).status).toBe(200);
    expect(((await (await fx.api('/api/v1/retraining/settings/face-a')).json()) as any).targetFpir).toBe(0.01);
  });

  it('starts runs on drift (with enough new labels) and on a count of new labels, once per cool-down', async () => {
    const put = (model: string, settings: unknown) => fx.api(`/api/v1/retraining/settings/${model}`, { ...json(settings), method: 'PUT' });
    const runsOf = async (model: string) => ((await (await fx.api(`/api/v1/retraining/jobs?model=${model}`)).json()) as { runs: RetrainingRun[] }).runs;
    const drift = (model: string) =>
      fx.cloud.app.get(DomainEvents).emit('drift.detected', {
        driftEventId: `drift-${model}-${events.length}`,
        model: { name: model, version: 1 },
        window: { start: new Date(Date.now() - 60_000).toISOString(), end: new Date().toISOString() },
        reference: { kind: 'training' },
        devices: ['cam-1'],
        evidence: [{ metric: 'unknown_rate', value: 0.4, threshold: 0.1 }],
      });
    const gallery = syntheticGallery({ identities: 8, perIdentity: 14, strangers: 20, seed: 51, prefix: 'e', sameCosine: 0.35 });
    for (const model of ['face-e', 'face-f']) {
      datasets.set(model, gallery.examples);
      await baseModel(model, blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    }
    const db = fx.cloud.app.get(SqlDatabase);
    let labelled = 0;
    const label = async (model: string, n: number) => {
      const ids = Array.from({ length: n }, () => `${model}-he-${labelled++}`);
      for (const id of ids) {
        await db.query(
          `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, embedding, captured_at, label, labelled_at)
           values ($1, 'cam-1', $1, $2, 1, 'unknown', 0.9, '[]', now(), 'e-001', now())`,
          [id, model],
        );
      }
      return ids;
    };

    // drift asks for labelling only until enough new examples are labelled
    expect((await put('face-e', { driftMinNewExamples: 2, cooldownSeconds: 3600 })).status).toBe(200);
    await drift('face-e');
    expect(await runsOf('face-e')).toHaveLength(0);
    await label('face-e', 2);
    await drift('face-e');
    const [byDrift] = await runsOf('face-e');
    expect(byDrift).toMatchObject({ trigger: 'drift', baseVersion: 1 });
    expect((await waitForRun(byDrift.id, finished)).status).toBe('completed');
    // within the cool-down, more drift starts nothing
    await label('face-e', 5);
    await drift('face-e');
    expect(await runsOf('face-e')).toHaveLength(1);

    // labels: a run once `labelsThreshold` examples are labelled since the last run
    expect((await put('face-f', { labelsThreshold: 3, driftMinNewExamples: null })).status).toBe(200);
    const first = await label('face-f', 2);
    await fx.cloud.app.get(DomainEvents).emit('hard-example.labelled', { ids: first, label: 'e-001' });
    expect(await runsOf('face-f')).toHaveLength(0);
    const more = await label('face-f', 1);
    await fx.cloud.app.get(DomainEvents).emit('hard-example.labelled', { ids: more, label: 'e-001' });
    const [byLabels] = await runsOf('face-f');
    expect(byLabels).toMatchObject({ trigger: 'labels' });
    await waitForRun(byLabels.id, finished);
    await drift('face-f');
    expect(await runsOf('face-f')).toHaveLength(1);
  });

  it('rolls a failed canary back and leaves production where it was', async () => {
    const gallery = syntheticGallery({ identities: 8, perIdentity: 14, strangers: 20, seed: 61, prefix: 'g', sameCosine: 0.35 });
    datasets.set('face-g', gallery.examples);
    await baseModel('face-g', blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    const sims: SimDevice[] = [];
    try {
      for (const name of ['gate-1', 'gate-2']) {
        const res = await fx.api('/api/v1/devices', json({ name, group: 'gates' }));
        expect(res.status).toBe(201);
        const body = (await res.json()) as any;
        // the candidate does not load on these devices
        const sim = new SimDevice({
          id: body.device.id,
          mqttUrl: fx.mqttUrl!,
          password: body.credentials.mqtt.password,
          publicKeyPem: body.signingKey.publicKey,
          failOn: (m) => m.version > 1,
        });
        await sim.connect();
        sims.push(sim);
      }
      const deploy = await fx.api('/api/v1/deployments', json({ model: 'face-g@1', target: { group: 'gates' } }));
      expect(deploy.status).toBe(201);
      const deadline = Date.now() + 30_000;
      while (!sims.every((s) => s.running?.version === 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(sims.map((s) => s.running?.version)).toEqual([1, 1]);

      expect(
        (await fx.api('/api/v1/retraining/settings/face-g', { ...json({ canary: { percent: 50, batchSize: 1, observeSeconds: 0 } }), method: 'PUT' })).status,
      ).toBe(200);
      const res = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-g@production', autoCanary: true }));
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as RetrainingRun;
      const run = await waitForRun(
        id,
        (r) => ['rolled_back', 'promoted', 'skipped'].includes(r.canary.state) || r.status === 'failed' || r.status === 'rejected',
        60_000,
      );
      expect(run).toMatchObject({ status: 'completed', candidate: { name: 'face-g', version: 2 }, canary: { state: 'rolled_back' } });
      expect(run.canary.reason).toMatch(/deployment\.(failed|rolled_back)/);
      const deployment = (await (await fx.api(`/api/v1/deployments/${run.canary.deploymentId}`)).json()) as any;
      expect(deployment.status).toBe('failed');
      expect(((await (await fx.api('/api/v1/models/face-g/versions/production')).json()) as any).version).toBe(1);
      expect(((await (await fx.api('/api/v1/models/face-g/versions/candidate')).json()) as any).version).toBe(2);
      expect(sims.map((s) => s.running?.version)).toEqual([1, 1]);
    } finally {
      for (const sim of sims) await sim.stop();
    }
  });

  it('adds a run whose flow Redis lost again, and it runs to the end', async () => {
    const gallery = syntheticGallery({ identities: 8, perIdentity: 14, strangers: 20, seed: 71, prefix: 'h', sameCosine: 0.35 });
    datasets.set('face-h', gallery.examples);
    await baseModel('face-h', blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    // a queued run whose jobs are not in Redis (as after a Redis that lost its data), older than the grace period
    const run = await fx.cloud.app.get(RetrainingRunRepository).insertIfNoneActive({
      id: 'rt_lostflow0001',
      modelName: 'face-h',
      baseVersion: 1,
      trigger: 'manual',
      settings: DEFAULT_RETRAINING_SETTINGS,
      autoCanary: false,
      createdBy: null,
    });
    expect(run).toBeDefined();
    await fx.cloud.app.get(SqlDatabase).query(`update retraining_runs set created_at = now() - interval '5 minutes' where id = 'rt_lostflow0001'`);
    await new Promise((r) => setTimeout(r, 1000));
    expect(((await (await fx.api('/api/v1/retraining/jobs/rt_lostflow0001')).json()) as RetrainingRun).status).toBe('queued');
    await fx.cloud.app.get(RetrainingBoot).reconcile();
    const done = await waitForRun('rt_lostflow0001', finished);
    expect(done).toMatchObject({ status: 'completed', candidate: { name: 'face-h', version: 2 } });
  });

  it('resumes a step the cloud was stopped in the middle of, and finishes the run', async () => {
    const gallery = syntheticGallery({ identities: 60, perIdentity: 20, strangers: 60, seed: 41, prefix: 'd', sameCosine: 0.35 });
    datasets.set('face-d', gallery.examples);
    await baseModel('face-d', blurredHead(gallery, [...gallery.centres.keys()], 0.3));
    // the logistic trainer over 1,260 examples keeps train-head busy long enough to stop the cloud in it
    const put = await fx.api('/api/v1/retraining/settings/face-d', { ...json({ trainer: { method: 'logistic', seed: 1 } }), method: 'PUT' });
    expect(put.status).toBe(200);
    const res = await fx.api('/api/v1/retraining/jobs', json({ base: 'face-d@production' }));
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as RetrainingRun;
    const during = await waitForRun(id, (r) => r.step === 'train-head' && r.steps['train-head'].status === 'running');
    expect(during.status).toBe('running');

    await fx.restart();
    listen();
    const run = await waitForRun(id, finished, 120_000);
    expect(run.status).toBe('completed');
    expect(run.steps['build-dataset'].attempts).toBe(1);
    // stopped once in the middle of train-head, then run again to the end after the restart
    expect(run.steps['train-head']).toMatchObject({ status: 'done', attempts: 2 });
    expect(run.candidate).toEqual({ name: 'face-d', version: 2 });
  });
});
