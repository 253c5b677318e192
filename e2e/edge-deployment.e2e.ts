/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { topics, type ModelManifest, type ReportedState } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { EdgeConfig } from '../apps/edge/src/config/edge.config';
import { CloudSigner } from '../apps/edge/src/testing/cloud-signer';
import { edgeTestEnv, franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { HttpTap } from '../apps/edge/src/testing/http-tap';
import { LockstepSource } from '../apps/edge/src/testing/lockstep-source';
import { MqttObserver } from '../apps/edge/src/testing/mqtt-observer';
import { EdgeWorker, type ProcessedFrame } from '../apps/edge/src/worker';

const DEVICE = 'cam-deploy-1';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const ref = (name: string, version: number) => ({ name, version });

/**
 * The edge side of a rollout against a real broker (mosquitto) and a real cloud registry (blobs over
 * HTTP with Range): the test plays the cloud's MQTT gateway, signing desired states with its own key.
 */
describe('deploying model versions to an edge worker (mosquitto, cloud registry)', () => {
  let mosquitto: MosquittoServer;
  let fx: CloudFixture;
  let tap: HttpTap;
  let observer: MqttObserver;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  const state = tempStateDir();
  const signer = new CloudSigner();
  const frames: ProcessedFrame[] = [];
  /** Every state the worker's tracker moved through, with its deployment: what the reports are drawn from. */
  const transitions: Array<{ state: string; deploymentId: string | null }> = [];
  const versions: Record<number, { manifest: ModelManifest; head: Buffer }> = {};

  async function upload(labels: string[], seed: number): Promise<{ manifest: ModelManifest; head: Buffer }> {
    const head = makeHead(labels, seed);
    const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head }, { labels }) });
    expect(res.status).toBe(201);
    const body = JSON.parse(JSON.stringify(await res.json())) as { manifest: ModelManifest };
    return { manifest: body.manifest, head };
  }

  async function publishDesired(desired: unknown): Promise<number> {
    const since = observer.messages.length;
    await observer.publish(topics.desired(DEVICE), JSON.stringify(desired));
    return since;
  }

  function waitReported(test: (r: ReportedState) => boolean, since: number, timeoutMs = 30_000): Promise<ReportedState> {
    return observer.waitFor<ReportedState>(topics.reported(DEVICE), test, timeoutMs, since);
  }

  beforeAll(async () => {
    [mosquitto, fx] = await Promise.all([startMosquitto(), startCloudFixture()]);
    tap = new HttpTap(fx.url);
    await tap.start();
    versions[1] = await upload(['alice', 'bob', 'carol'], 1);
    versions[2] = await upload(['alice', 'bob', 'carol', 'dave'], 2);
    versions[3] = await upload(['erin', 'frank'], 3);
    observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE), topics.status(DEVICE)]);
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: mosquitto.url,
        EDGE_CLOUD_URL: tap.url,
        EDGE_HTTP_TOKEN: fx.adminToken,
        EDGE_SIGNING_PUBLIC_KEY: signer.publicKeyPem,
        EDGE_BATCH_MAX_ITEMS: '10',
      }),
    );
    source = new LockstepSource(franckFrames(), Number.POSITIVE_INFINITY, 20);
    worker = new EdgeWorker(config, { source, onFrame: (frame) => frames.push(frame) });
    worker.tracker.onChange((status) => transitions.push({ state: status.state, deploymentId: status.deploymentId }));
    await worker.start();
    running = worker.run();
  });

  afterAll(async () => {
    await worker?.stop();
    await running?.catch(() => undefined);
    await observer?.close();
    await tap?.stop();
    await fx?.stop();
    await mosquitto?.stop();
    state.remove();
  });

  it('comes online serving the base models and reports idle', async () => {
    await observer.waitFor(topics.status(DEVICE), (s: { status: string }) => s.status === 'online');
    const reported = await waitReported((r) => r.running?.name === 'face-base', 0);
    expect(reported).toMatchObject({ deviceId: DEVICE, state: 'idle', running: ref('face-base', 1), deploymentId: null, failure: null });
  });

  it('deploys v1: copies the base files it has, downloads only the head, verifies, warms, switches and reports active', async () => {
    const requestsBefore = tap.requests.length;
    const coalescedBefore = worker.agent!.reports.coalesced;
    const desired = signer.desired(DEVICE, versions[1]!.manifest, { deploymentId: 'dep-v1' });
    const since = await publishDesired(desired);
    const active = await waitReported((r) => r.state === 'active' && r.deploymentId === 'dep-v1', since);
    expect(active).toMatchObject({ running: ref('face-id', 1), target: null, failure: null, lastKnownGood: ref('face-base', 1) });
    // The worker went through every phase, in order.
    const phases: ReportedState['state'][] = ['downloading', 'verifying', 'warming', 'active'];
    expect(transitions.filter((t) => t.deploymentId === 'dep-v1').map((t) => t.state)).toEqual(phases);
    // Reported state is latest-wins (one report on the wire at a time): a phase that began and ended while the
    // previous report awaited its PUBACK is never published, and is counted as coalesced. What was published
    // is those phases in order (a heartbeat may repeat one), ending with active; if one is missing, reports were
    // coalesced.
    const seen = observer.messages
      .slice(since)
      .filter((m) => m.topic === topics.reported(DEVICE) && (m.json as ReportedState).deploymentId === 'dep-v1')
      .map((m) => (m.json as ReportedState).state)
      .filter((state, i, all) => state !== all[i - 1]);
    expect(seen.at(-1)).toBe('active');
    expect(phases.filter((p) => seen.includes(p))).toEqual(seen);
    if (seen.length < phases.length) expect(worker.agent!.reports.coalesced).toBeGreaterThan(coalescedBefore);
    const fetched = tap.requests.slice(requestsBefore);
    expect(fetched.map((r) => r.path)).toEqual([`/api/v1/blobs/${sha256(versions[1]!.head)}`]);
    await waitForFrames((f) => f.model.name === 'face-id' && f.model.version === 1);
  });

  it('a head-only update downloads only the new head blob and keeps the other sessions', async () => {
    const requestsBefore = tap.requests.length;
    const v1 = worker.runtime.current!;
    const since = await publishDesired(signer.desired(DEVICE, versions[2]!.manifest, { deploymentId: 'dep-v2' }));
    const active = await waitReported((r) => r.state === 'active' && r.deploymentId === 'dep-v2', since);
    expect(active).toMatchObject({ running: ref('face-id', 2), lastKnownGood: ref('face-id', 1) });
    // The detector, landmark and embedder sessions of v1 serve v2; v1 itself (its head) is released.
    const v2 = worker.runtime.current!;
    expect(v2.ref).toEqual(ref('face-id', 2));
    expect(v2.pipeline.sharesSessionsWith(v1.pipeline)).toBe(true);
    expect(v2.pipeline.labels).toEqual(['alice', 'bob', 'carol', 'dave']);
    // v1 is released in the background once its frame in flight is done: the switch does not wait for it.
    await worker.runtime.released();
    await expect(v1.pipeline.process(franckFrames()[0]!)).rejects.toThrow(/released/);
    const result = await v2.pipeline.process(franckFrames()[0]!);
    expect(result.faces).toHaveLength(1);
    expect(result.faces[0]!.embedding).toHaveLength(512);
    const fetched = tap.requests.slice(requestsBefore);
    // it first asks for a delta from the head it runs; these two heads were uploaded, not trained, so the cloud
    // has none (404) and the worker downloads the whole new head — and nothing else
    const head = `/api/v1/blobs/${sha256(versions[2]!.head)}`;
    expect(fetched.map((r) => r.path)).toEqual([`${head}/delta?from=${sha256(versions[1]!.head)}`, head]);
    expect(fetched[0]!.status).toBe(404);
    expect(fetched[1]!.bytes).toBe(versions[2]!.head.length);
    const total = versions[2]!.manifest.files.reduce((n, f) => n + f.size, 0);
    expect((fetched[0]!.bytes + fetched[1]!.bytes) / total).toBeLessThan(0.02);
  });

  it('refuses a manifest with a bad signature and keeps serving v2', async () => {
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const desired = signer.desired(DEVICE, versions[3]!.manifest, { deploymentId: 'dep-badsig', manifestKey: stranger });
    const since = await publishDesired(desired);
    const failed = await waitReported((r) => r.deploymentId === 'dep-badsig' && r.state === 'failed', since);
    expect(failed.failure).toMatchObject({ code: 'signature_invalid' });
    expect(failed).toMatchObject({ running: ref('face-id', 2), target: ref('face-id', 3) });
    await waitForFrames((f) => f.model.version === 2);
  });

  it('refuses a blob whose bytes do not hash to the sha256 the manifest names', async () => {
    const manifest = JSON.parse(JSON.stringify(versions[3]!.manifest)) as ModelManifest;
    const head = manifest.files.find((f) => f.role === 'head')!;
    const realHead = head.sha256;
    head.sha256 = sha256(Buffer.concat([versions[3]!.head.subarray(1), Buffer.from([0])]));
    // The location of the claimed blob serves the real head: same size, other bytes.
    const desired = signer.desired(DEVICE, manifest, {
      deploymentId: 'dep-badsum',
      blobUrl: (sha) => `/api/v1/blobs/${sha === head.sha256 ? realHead : sha}`,
    });
    const since = await publishDesired(desired);
    const failed = await waitReported((r) => r.deploymentId === 'dep-badsum' && r.state === 'failed', since);
    expect(failed.failure).toMatchObject({ code: 'checksum_mismatch' });
    expect(failed.running).toEqual(ref('face-id', 2));
    await waitForFrames((f) => f.model.version === 2);
  });

  it('refuses a lower version without rollback and applies it with rollback', async () => {
    let since = await publishDesired(signer.desired(DEVICE, versions[1]!.manifest, { deploymentId: 'dep-down' }));
    const refused = await waitReported((r) => r.deploymentId === 'dep-down' && r.state === 'failed', since);
    expect(refused.failure).toMatchObject({ code: 'downgrade_refused' });
    expect(refused.running).toEqual(ref('face-id', 2));

    const requestsBefore = tap.requests.length;
    since = await publishDesired(signer.desired(DEVICE, versions[1]!.manifest, { deploymentId: 'dep-rollback', rollback: true }));
    const rolledBack = await waitReported((r) => r.deploymentId === 'dep-rollback' && r.state === 'active', since);
    expect(rolledBack).toMatchObject({ running: ref('face-id', 1), lastKnownGood: ref('face-id', 2) });
    // v1 was still the last-known-good version on disk: nothing to download.
    expect(tap.requests.length).toBe(requestsBefore);
    await waitForFrames((f) => f.model.version === 1);
  });

  it('counts and drops malformed and oversized desired payloads, and keeps working', async () => {
    const before = { ...worker.agent!.rejected };
    await observer.publish(topics.desired(DEVICE), 'not json {');
    await observer.publish(topics.desired(DEVICE), JSON.stringify({ v: 1, deviceId: DEVICE, deploymentId: 'x' }));
    await observer.publish(topics.desired(DEVICE), Buffer.alloc(2 * 1024 * 1024, 0x20));
    await waitUntil(() => worker.agent!.rejected.too_large > before.too_large);
    expect(worker.agent!.rejected).toMatchObject({
      invalid_json: before.invalid_json + 1,
      invalid_payload: before.invalid_payload + 1,
      too_large: before.too_large + 1,
    });
    const metrics = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/edge_desired_rejected_total\{reason="too_large",device="cam-deploy-1"\} 1/);
    // Still serving, still converging: a valid desired state after the junk is applied.
    const count = frames.length;
    await waitUntil(() => frames.length > count + 2);
    const since = await publishDesired(signer.desired(DEVICE, versions[2]!.manifest, { deploymentId: 'dep-after-junk' }));
    await waitReported((r) => r.deploymentId === 'dep-after-junk' && r.state === 'active', since);
    // and frames run on it: "active" now reaches the cloud within milliseconds (no Nagle delay on MQTT), and the last
    // test stops the source — a frame on this version must have run first for the order it checks to be complete
    await waitForFrames((f) => f.model.name === 'face-id' && f.model.version === 2, 1);
  });

  it('serves /healthz with the state, the running version, the broker and the outbox', async () => {
    const res = await fetch(`http://127.0.0.1:${worker.httpPort}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, state: 'active', running: ref('face-id', 2), brokerConnected: true, outboxDepth: expect.any(Number) });
    const metrics = await (await fetch(`http://127.0.0.1:${worker.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/edge_model_info\{name="face-id",version="2",origin="store",device="cam-deploy-1"\} 1/);
    expect(metrics).toMatch(/edge_stage_latency_seconds_bucket\{[^}]*stage="detect"[^}]*\} \d+/);
    expect(metrics).toMatch(/edge_mqtt_connected\{device="cam-deploy-1"\} 1/);
  });

  it('dropped no frame across its hot switches, and no frame ran on a released model', async () => {
    source.stop();
    await running;
    expect(worker.runtime.switches).toBeGreaterThanOrEqual(5);
    expect(worker.stats.failedFrames).toBe(0);
    expect(worker.stats.skippedFrames).toBe(0);
    expect(frames.length).toBe(source.produced);
    expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: frames.length }, (_, i) => i + 1));
    // Versions change only between frames, in the order they were deployed.
    const runs = frames.reduce<string[]>((acc, f) => {
      const v = `${f.model.name}@${f.model.version}`;
      if (acc.at(-1) !== v) acc.push(v);
      return acc;
    }, []);
    expect(runs).toEqual(['face-base@1', 'face-id@1', 'face-id@2', 'face-id@1', 'face-id@2']);
  });

  async function waitForFrames(test: (f: ProcessedFrame) => boolean, count = 2): Promise<void> {
    const start = frames.length;
    await waitUntil(() => frames.slice(start).filter(test).length >= count);
  }
});

async function waitUntil(test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
