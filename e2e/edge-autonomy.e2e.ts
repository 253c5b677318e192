/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { topics, type ModelManifest, type PredictionBatch, type ReportedState } from '@edgeloop/contracts';
import { freePort, startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { CloudSigner } from '../apps/edge/src/testing/cloud-signer';
import { baseModelsDir, franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { buildEdge, EdgeProcess } from '../apps/edge/src/testing/edge-process';
import { HttpTap } from '../apps/edge/src/testing/http-tap';
import { MqttObserver } from '../apps/edge/src/testing/mqtt-observer';

const DEVICE = 'cam-autonomy-1';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const ref = (name: string, version: number) => ({ name, version });

/**
 * The worker as a real process: killed with SIGKILL in the middle of a download and of a batch backlog,
 * started with no broker and no cloud. State lives only in its state directory.
 */
describe('edge autonomy (worker process, mosquitto, cloud registry)', () => {
  let build: ReturnType<typeof buildEdge>;
  let mosquitto: MosquittoServer;
  let fx: CloudFixture;
  let tap: HttpTap;
  let observer: MqttObserver;
  const state = tempStateDir('edge-autonomy-');
  const aux = tempStateDir('edge-autonomy-aux-');
  const signer = new CloudSigner();
  const children: EdgeProcess[] = [];
  const versions: Record<number, { manifest: ModelManifest; head: Buffer }> = {};
  let framesDir: string;
  let keyFile: string;

  const blobFile = (sha: string) => join(state.dir, 'blobs', 'sha256', sha);

  function env(overrides: Record<string, string> = {}): Record<string, string> {
    return {
      EDGE_DEVICE_ID: DEVICE,
      EDGE_STATE_DIR: state.dir,
      EDGE_MODELS_DIR: baseModelsDir,
      EDGE_SOURCE: `folder:${framesDir}`,
      EDGE_FPS: '4',
      EDGE_LOG_LEVEL: 'info',
      EDGE_LOG_FRAMES: 'false',
      EDGE_HTTP_PORT: '0',
      EDGE_MQTT_URL: mosquitto.url,
      EDGE_MQTT_RECONNECT_MS: '250',
      EDGE_HEARTBEAT_S: '2',
      EDGE_CLOUD_URL: tap.url,
      EDGE_HTTP_TOKEN: fx.adminToken,
      EDGE_SIGNING_PUBLIC_KEY: keyFile,
      EDGE_BATCH_MAX_ITEMS: '2',
      EDGE_DOWNLOAD_BACKOFF_MS: '100',
      ...overrides,
    };
  }

  function start(overrides: Record<string, string> = {}): EdgeProcess {
    const child = new EdgeProcess(build.main, env(overrides));
    children.push(child);
    return child;
  }

  async function upload(labels: string[], seed: number): Promise<{ manifest: ModelManifest; head: Buffer }> {
    const head = makeHead(labels, seed);
    const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head }, { labels }) });
    expect(res.status).toBe(201);
    return { manifest: (JSON.parse(JSON.stringify(await res.json())) as { manifest: ModelManifest }).manifest, head };
  }

  async function deploy(version: number, deploymentId: string): Promise<number> {
    const since = observer.messages.length;
    await observer.publish(topics.desired(DEVICE), JSON.stringify(signer.desired(DEVICE, versions[version]!.manifest, { deploymentId })));
    return since;
  }

  beforeAll(async () => {
    build = buildEdge();
    [mosquitto, fx] = await Promise.all([startMosquitto(), startCloudFixture()]);
    tap = new HttpTap(fx.url);
    await tap.start();
    // v1 has a large head (≈3 MB) so a throttled download can be interrupted; v2 is a small head-only update.
    versions[1] = await upload(
      Array.from({ length: 1500 }, (_, i) => `id-${i}`),
      1,
    );
    versions[2] = await upload(['alice', 'bob', 'carol'], 2);
    framesDir = join(aux.dir, 'frames');
    mkdirSync(framesDir);
    franckFrames()
      .slice(0, 3)
      .forEach((jpeg, i) => writeFileSync(join(framesDir, `frame-${i}.jpg`), jpeg));
    keyFile = join(aux.dir, 'registry.pem');
    writeFileSync(keyFile, signer.publicKeyPem);
    // it acks batches and hard examples as the cloud does: a row leaves the outbox on that ack
    observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE), topics.predictions(DEVICE), topics.hardExamples(DEVICE)], {
      clientId: `autonomy-cloud-${process.pid}`,
      clean: false,
    });
  });

  // A test that fails leaves no worker behind to fight the next one for its MQTT session.
  afterEach(async () => {
    for (const child of children) if (child.alive) await child.kill();
  });

  afterAll(async () => {
    for (const child of children) await child.kill();
    await observer?.close();
    await tap?.stop();
    await fx?.stop();
    await mosquitto?.stop();
    build?.remove();
    state.remove();
    aux.remove();
  });

  it('a worker killed with SIGKILL mid-download restarts and completes the update, resuming the partial blob', async () => {
    const headSha = sha256(versions[1]!.head);
    const headSize = versions[1]!.head.length;
    tap.bytesPerSecond = 400_000;
    const first = start();
    await first.httpPort();
    const since = await deploy(1, 'dep-kill');
    const part = `${blobFile(headSha)}.part`;
    await until(() => existsSync(part) && statSync(part).size > 300_000, 20_000);
    expect(await first.kill('SIGKILL')).toBeNull();
    const kept = statSync(part).size;
    expect(kept).toBeLessThan(headSize);
    expect(existsSync(join(state.dir, 'active.json'))).toBe(false);

    tap.bytesPerSecond = 0;
    const second = start();
    const active = await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active' && r.deploymentId === 'dep-kill', 30_000, since);
    expect(active.running).toEqual(ref('face-id', 1));
    const requests = tap.blobRequests(headSha);
    expect(requests.at(-1)!.range).toBe(`bytes=${kept}-`);
    expect(requests.at(-1)!.bytes).toBe(headSize - kept);
    expect(second.output).toMatch(/resuming the stored desired state/);
    expect(existsSync(part)).toBe(false);

    expect(await second.kill('SIGTERM')).toBe(0);
  });

  it('a worker killed with SIGKILL in the middle of a switch boots on a valid version and converges', async () => {
    // A head-only switch warms up in milliseconds and the worker reports only its latest state, so "warming"
    // may never be published: the head comes slowly until the download is reported, then at full speed, and the
    // worker is killed the moment the head has landed — while it verifies, loads, switches or moves pointers.
    const headSha = sha256(versions[2]!.head);
    tap.bytesPerSecond = 200_000;
    const worker = start();
    await worker.httpPort();
    const since = await deploy(2, 'dep-v2');
    await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'downloading' && r.deploymentId === 'dep-v2', 30_000, since);
    tap.bytesPerSecond = 0;
    await until(() => existsSync(blobFile(headSha)), 30_000);
    await worker.kill('SIGKILL');
    const active = JSON.parse(readFileSync(join(state.dir, 'active.json'), 'utf8')) as { name: string; version: number };
    expect([1, 2]).toContain(active.version);

    const again = start();
    await until(async () => (await again.health()).ok === true, 30_000);
    expect([1, 2]).toContain(((await again.health()).running as { version: number }).version);
    const converged = await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active' && r.deploymentId === 'dep-v2', 30_000, since);
    expect(converged).toMatchObject({ running: ref('face-id', 2), lastKnownGood: ref('face-id', 1) });
    expect(await again.kill('SIGTERM')).toBe(0);
  });

  it('starts with no broker and no cloud and serves the active version from disk', async () => {
    const deadBroker = `mqtt://127.0.0.1:${await freePort()}`;
    const deadCloud = `http://127.0.0.1:${await freePort()}`;
    const offline = start({ EDGE_MQTT_URL: deadBroker, EDGE_CLOUD_URL: deadCloud });
    await until(async () => Number((await offline.health()).frames) >= 3, 30_000);
    const health = await offline.health();
    expect(health).toMatchObject({ ok: true, running: ref('face-id', 2), lastKnownGood: ref('face-id', 1), brokerConnected: false, state: 'active' });
    expect(health.failedFrames).toBe(0);
    expect(await offline.kill('SIGTERM')).toBe(0);
  });

  it('falls back to the last-known-good version when the active one no longer loads, still offline', async () => {
    appendFileSync(blobFile(sha256(versions[2]!.head)), Buffer.from([0]));
    const offline = start({ EDGE_MQTT_URL: `mqtt://127.0.0.1:${await freePort()}`, EDGE_CLOUD_URL: `http://127.0.0.1:${await freePort()}` });
    await until(async () => Number((await offline.health()).frames) >= 3, 30_000);
    const health = await offline.health();
    expect(health).toMatchObject({ ok: true, running: ref('face-id', 1), lastKnownGood: ref('face-base', 1), target: ref('face-id', 2) });
    expect(health.failedFrames).toBe(0);
    expect(offline.output).toMatch(/cannot load face-id@2: the head blob \w+ is missing or corrupt/);
    // The stored desired state still asks for v2: the worker tries to fetch the removed blob again.
    expect(['downloading', 'failed']).toContain(health.state);
    expect(await offline.kill('SIGTERM')).toBe(0);
  });

  it('keeps prediction batches through SIGKILL while the broker is down and delivers them all, in order', async () => {
    // The runs above made batches with no broker; they wait in the outbox too.
    const online = start();
    await online.httpPort();
    await until(async () => Number((await online.health()).outboxDepth) === 0 && Number((await online.health()).lastSeq) > 0, 30_000).catch(
      async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await online.health())}\n${online.output.slice(-3000)}`);
      },
    );
    await mosquitto.halt();
    const before = Number((await online.health()).lastSeq);
    await until(async () => Number((await online.health()).lastSeq) >= before + 3, 30_000);
    const health = await online.health();
    expect(health.outboxDepth).toBeGreaterThanOrEqual(2);
    await online.kill('SIGKILL');
    const lastSeq = Number(health.lastSeq);

    await mosquitto.resume();
    const again = start();
    await until(() => new Set(seqs()).size >= lastSeq, 30_000);
    const unique = [...new Set(seqs())];
    expect(unique.slice(0, lastSeq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(Number((await again.health()).outboxDropped)).toBe(0);
    expect(await again.kill('SIGTERM')).toBe(0);
  });

  function seqs(): number[] {
    return observer.on(topics.predictions(DEVICE)).map((m) => (m.json as PredictionBatch).seq);
  }
});

async function until(test: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await test()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
