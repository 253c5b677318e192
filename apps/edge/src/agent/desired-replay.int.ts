/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { MANIFEST_SCHEMA, topics, type DesiredState, type ModelManifest, type ReportedState } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeConfig } from '../config/edge.config';
import { CloudSigner } from '../testing/cloud-signer';
import { baseModelsDir, edgeTestEnv, tempStateDir } from '../testing/edge-env';
import { MqttObserver } from '../testing/mqtt-observer';
import { EdgeWorker } from '../worker';

const DEVICE = 'cam-replay-1';
const ref = (name: string, version: number) => ({ name, version });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** face-id@version made of the base folder's files: the worker copies them into its store, nothing is downloaded. */
function baseManifest(version: number): ModelManifest {
  const base = JSON.parse(readFileSync(join(baseModelsDir, 'manifest.json'), 'utf8')) as ModelManifest & { files: Array<{ role: string; path?: string }> };
  return {
    schema: MANIFEST_SCHEMA,
    name: 'face-id',
    version,
    files: base.files.filter((f) => f.role !== 'liveness').map(({ path: _path, ...file }) => file),
    labels: [],
    thresholds: base.thresholds,
    metrics: {},
    createdBy: 'test',
  } as ModelManifest;
}

/**
 * Replay of an old signed desired state against a real broker (mosquitto): a `rollback: true` state captured
 * early is published again after newer ones were applied. Its signature is valid, so only its age gives it
 * away — and that must hold after the worker restarts (the newest accepted issuedAt is on disk).
 */
describe('an edge worker refuses a replayed older desired state, across a restart (mosquitto)', () => {
  let mosquitto: MosquittoServer;
  let observer: MqttObserver;
  let worker: EdgeWorker | undefined;
  const state = tempStateDir();
  const signer = new CloudSigner();
  let captured: DesiredState;
  let config: EdgeConfig;

  async function publishDesired(desired: unknown): Promise<number> {
    const since = observer.messages.length;
    await observer.publish(topics.desired(DEVICE), JSON.stringify(desired));
    return since;
  }

  function waitReported(test: (r: ReportedState) => boolean, since: number, timeoutMs = 30_000): Promise<ReportedState> {
    return observer.waitFor<ReportedState>(topics.reported(DEVICE), test, timeoutMs, since);
  }

  async function startWorker(): Promise<EdgeWorker> {
    const started = new EdgeWorker(config);
    await started.start();
    return started;
  }

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE), topics.status(DEVICE)]);
    config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: mosquitto.url,
        EDGE_SIGNING_PUBLIC_KEY: signer.publicKeyPem,
      }),
    );
    // What an attacker recorded long ago: a genuine, signed "roll back to v1".
    captured = signer.desired(DEVICE, baseManifest(1), { deploymentId: 'dep-old-rollback', rollback: true });
    await sleep(5);
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.stop();
    await observer?.close();
    await mosquitto?.stop();
    state.remove();
  });

  it('applies v1 then v2, each newer than the last', async () => {
    let since = await publishDesired(signer.desired(DEVICE, baseManifest(1), { deploymentId: 'dep-v1' }));
    await waitReported((r) => r.state === 'active' && r.deploymentId === 'dep-v1', since);
    await sleep(5);
    since = await publishDesired(signer.desired(DEVICE, baseManifest(2), { deploymentId: 'dep-v2' }));
    const active = await waitReported((r) => r.state === 'active' && r.deploymentId === 'dep-v2', since);
    expect(active.running).toEqual(ref('face-id', 2));
  });

  it('refuses the replayed rollback: counted, logged, reported as failed with the reason, v2 keeps running', async () => {
    await worker!.agent!.idle(); // a refusal is reported when no deployment is under way
    const since = await publishDesired(captured);
    const refused = await waitReported((r) => r.deploymentId === 'dep-old-rollback', since);
    expect(refused).toMatchObject({ state: 'failed', running: ref('face-id', 2), failure: { code: 'invalid_desired' } });
    expect(refused.failure?.message).toMatch(/^stale desired state .*dep-v2.* was already accepted/);
    expect(worker!.agent!.rejected.stale).toBe(1);
    const metrics = await (await fetch(`http://127.0.0.1:${worker!.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/edge_desired_rejected_total\{reason="stale",device="cam-replay-1"\} 1/);
    await worker!.agent!.idle();
    expect(worker!.runtime.running).toEqual(ref('face-id', 2));
  });

  it('still refuses it after a restart, with nothing but the mark on disk to go by', async () => {
    // The cloud clears the retained desired state: the worker forgets its stored copy (nothing to resume).
    await observer.publish(topics.desired(DEVICE), '');
    await waitUntil(() => !existsSync(join(state.dir, 'desired.json')));
    await worker!.stop();
    // While the worker is down the replay is published again, retained: the new session gets it first thing.
    const since = await publishDesired(captured);
    worker = await startWorker();
    const refused = await waitReported((r) => r.deploymentId === 'dep-old-rollback' && r.state === 'failed', since);
    expect(refused.failure).toMatchObject({ code: 'invalid_desired' });
    // Queued for the persistent session and delivered again as the retained message: refused each time.
    expect(worker.agent!.rejected.stale).toBeGreaterThanOrEqual(1);
    await worker.agent!.idle();
    expect(worker.runtime.running).toEqual(ref('face-id', 2));
    // A desired state the cloud issues now is applied as usual.
    const next = await publishDesired(signer.desired(DEVICE, baseManifest(1), { deploymentId: 'dep-real-rollback', rollback: true }));
    const rolledBack = await waitReported((r) => r.state === 'active' && r.deploymentId === 'dep-real-rollback', next);
    expect(rolledBack.running).toEqual(ref('face-id', 1));
  });
});

async function waitUntil(test: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}
