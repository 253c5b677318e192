/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { MANIFEST_SCHEMA, topics, type ModelManifest, type ReportedState } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgeConfig } from '../config/edge.config';
import { CloudSigner } from '../testing/cloud-signer';
import { baseModelsDir, edgeTestEnv, tempStateDir } from '../testing/edge-env';
import { LinkProxy, wireBytes, type LinkConnection, type WirePacket } from '../testing/link-proxy';
import { MqttObserver } from '../testing/mqtt-observer';
import { EdgeWorker } from '../worker';

const DEVICE = 'cam-weak-reported';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** face-id@1 made of the base folder's files: nothing is downloaded. */
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

const isReported = (p: WirePacket) => p.type === 'publish' && p.topic === topics.reported(DEVICE);

/**
 * An edge worker with nothing new to say loses its link silently (a black hole: mqtt.js keeps saying
 * "connected" until its keep-alive runs out) while heartbeats are due, then gets it back. What it queued
 * into the dead link, and what the reconnect costs on the wire, counted by a TCP proxy in front of mosquitto.
 */
describe('an edge worker reconnecting after a silent partition (mosquitto behind a counting proxy)', () => {
  let mosquitto: MosquittoServer;
  let proxy: LinkProxy;
  let observer: MqttObserver;
  let worker: EdgeWorker | undefined;
  const state = tempStateDir();
  const signer = new CloudSigner();

  beforeAll(async () => {
    mosquitto = await startMosquitto();
    proxy = new LinkProxy({ host: mosquitto.host, port: Number(new URL(mosquitto.url).port) }, { bytesPerSecond: 50_000 });
    await proxy.start();
    observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE), topics.predictions(DEVICE)]);
  });

  afterAll(async () => {
    await worker?.stop();
    await observer?.close();
    await proxy?.stop();
    await mosquitto?.stop();
    state.remove();
  });

  it('queues at most one report into a dead link, replays none of it, and reconnects with ≤ 1 KB up', async () => {
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: proxy.url,
        EDGE_MQTT_KEEPALIVE_S: '4',
        EDGE_HEARTBEAT_S: '1',
        EDGE_SIGNING_PUBLIC_KEY: signer.publicKeyPem,
      }),
    );
    const desired = signer.desired(DEVICE, baseManifest(1), { deploymentId: 'dep-weak-1' });
    const desiredBytes = Buffer.byteLength(JSON.stringify(desired));
    await observer.publish(topics.desired(DEVICE), JSON.stringify(desired));
    worker = new EdgeWorker(config);
    await worker.start();
    await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active' && r.deploymentId === 'dep-weak-1', 30_000);
    await sleep(1_500);

    const dying = proxy.connections[proxy.connections.length - 1];
    const cutAt = Date.now();
    proxy.cut();
    await waitUntil(() => !worker!.channel!.connected, 15_000, 'the keep-alive to notice the dead link');
    const deadMs = Date.now() - cutAt;
    const queued = dying.lost.filter(isReported).length;
    await sleep(1_000);
    const before = proxy.connections.length;
    const since = observer.messages.length;
    proxy.heal();
    await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active', 15_000, since);
    await sleep(500);

    const next = proxy.connections.slice(before).find((c) => c.up.some((p) => p.type === 'connect')) as LinkConnection;
    // mqtt.js resends stored publishes without DUP: stale copies are the reports before this session's `online`
    const online = next.up.findIndex((p) => p.type === 'publish' && p.topic === topics.status(DEVICE));
    const freshReport = next.up.findIndex((p, i) => i > online && isReported(p));
    const subscribed = next.up.findIndex((p) => p.type === 'subscribe');
    const firstReport = Math.max(freshReport, subscribed);
    const upstream = next.up.slice(0, firstReport + 1).concat(next.up.slice(firstReport + 1).filter((p) => p.type === 'puback'));
    const desiredAt = next.down.findIndex((p) => p.type === 'publish' && p.topic === topics.desired(DEVICE));
    const downstream = next.down.filter((p, i) => i <= desiredAt || p.type !== 'publish');
    process.stdout.write(
      `dead link noticed after ${deadMs} ms (keep-alive 4 s, heartbeat 1 s): ${queued} report(s) written into it, ` +
        `${worker.agent!.reports.heartbeatsSkipped} heartbeat(s) skipped; reconnect: ${wireBytes(upstream)} B up ` +
        `(${upstream.map((p) => `${p.type}${p.topic ? ` ${p.topic.split('/').pop()}` : ''} ${p.bytes}`).join(', ')}), ` +
        `${wireBytes(downstream)} B down (retained desired payload ${desiredBytes} B)\n`,
    );
    expect(queued).toBeLessThanOrEqual(1);
    expect(online).toBe(1);
    expect(next.up.slice(0, online).filter(isReported)).toEqual([]);
    expect(wireBytes(upstream)).toBeLessThanOrEqual(1024);
    expect(wireBytes(downstream)).toBeLessThanOrEqual(desiredBytes + 200);
  });

  it('reports a deployment made during a partition within 1 s of the edge switching, while 31 batches drain', async () => {
    const w = worker!;
    proxy.cut();
    await waitUntil(() => !w.channel!.connected, 15_000, 'the keep-alive to notice the dead link');
    // what 2 minutes at 4 fps leave in the outbox: 31 batches of ≈ 6 kB
    for (let i = 0; i < 31; i++) w.outbox!.appendBatch((seq, epoch) => JSON.stringify({ seq, epoch, pad: 'x'.repeat(6_000) }));
    await observer.publish(topics.desired(DEVICE), JSON.stringify(signer.desired(DEVICE, baseManifest(2), { deploymentId: 'dep-weak-2' })));
    let edgeActiveAt: number | undefined;
    w.tracker.onChange((status) => {
      if (status.state === 'active' && status.deploymentId === 'dep-weak-2') edgeActiveAt ??= Date.now();
    });
    const since = observer.messages.length;
    await sleep(500);
    const healedAt = Date.now();
    proxy.heal();
    await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active' && r.deploymentId === 'dep-weak-2', 30_000, since);
    const cloudSawAt = Date.now();
    await waitUntil(() => w.outbox!.stats().rows === 0, 30_000, 'the outbox to drain');
    const drainedAt = Date.now();
    process.stdout.write(
      `deployment during a partition, 31 × 6 kB queued, 400 kbit/s: active on the edge ${edgeActiveAt! - healedAt} ms after the heal, ` +
        `seen by the cloud ${cloudSawAt - healedAt} ms after (${cloudSawAt - edgeActiveAt!} ms behind the edge); outbox drained after ${drainedAt - healedAt} ms\n`,
    );
    expect(edgeActiveAt).toBeDefined();
    expect(cloudSawAt - edgeActiveAt!).toBeLessThan(1_000);
  }, 60_000);
});
