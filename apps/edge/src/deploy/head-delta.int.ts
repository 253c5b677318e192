/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import { headDeltaPath, MANIFEST_SCHEMA, topics, type ModelManifest, type ReportedState } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { buildIdentityHead, encodeHeadDelta, encodeQuantisedHead, l2Normalise, quantiseAgainstParent, readQuantisedHead } from '@edgeloop/vision';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { EdgeConfig } from '../config/edge.config';
import { CloudSigner } from '../testing/cloud-signer';
import { baseModelsDir, edgeTestEnv, tempStateDir } from '../testing/edge-env';
import { MqttObserver } from '../testing/mqtt-observer';
import { EdgeWorker } from '../worker';

const DEVICE = 'cam-delta-1';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Seeded unit vectors (an LCG), one per label. */
function prototypes(count: number, seed: number): Float32Array[] {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Array.from({ length: count }, () => l2Normalise(Float32Array.from({ length: 512 }, random)));
}

/** The next retrain of a head: `moved` identities re-fitted far, two newcomers, every other row as it was. */
function retrained(parent: Uint8Array, moved: number, seed: number): Uint8Array {
  const q = readQuantisedHead(parent)!;
  const k = q.labels.length;
  const fresh = prototypes(moved + 2, seed);
  const rows: Float32Array[] = q.labels.map((_, j) => Float32Array.from({ length: 512 }, (_, i) => q.values[i * k + j] * q.scales[j]));
  for (let j = 0; j < moved; j++) rows[j] = fresh[j];
  const labels = [...q.labels, `new-${seed}-a`, `new-${seed}-b`];
  return encodeQuantisedHead(quantiseAgainstParent({ labels, prototypes: [...rows, fresh[moved], fresh[moved + 1]] }, q).quantised);
}

/**
 * A device taking a retrained head as a delta (mosquitto, a blob server on loopback that also serves head
 * deltas): it rebuilds the head from the one it runs and checks the manifest's sha256; a corrupt delta or one
 * made for another head ends in a download of the whole head, and the version still goes active.
 */
describe('an edge worker applying head deltas', () => {
  let mosquitto: MosquittoServer;
  let observer: MqttObserver;
  let worker: EdgeWorker;
  let running: Promise<unknown>;
  let server: Server;
  let url = '';
  const state = tempStateDir('edge-delta-');
  const signer = new CloudSigner();
  const blobs = new Map<string, Buffer>();
  /** What the server answers for `GET /api/v1/blobs/{target}/delta` (any `from`). */
  const deltas = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const base = JSON.parse(readFileSync(join(baseModelsDir, 'manifest.json'), 'utf8')) as ModelManifest & { files: Array<{ path: string }> };
  const backbone = base.files
    .filter((f) => f.role !== 'liveness' && f.role !== 'head')
    .map(({ role, sha256: sha, size, format }) => ({ role, sha256: sha, size, format }));

  function manifest(version: number, head: Uint8Array): ModelManifest {
    blobs.set(sha256(head), Buffer.from(head));
    return {
      schema: MANIFEST_SCHEMA,
      name: 'face-id',
      version,
      files: [...backbone, { role: 'head', sha256: sha256(head), size: head.byteLength, format: 'onnx' }],
      labels: readQuantisedHead(head)!.labels,
      thresholds: { detection: 0.7, match: 0.45 },
      metrics: {},
      createdBy: 'test',
    };
  }

  async function deploy(m: ModelManifest, deploymentId: string): Promise<string[]> {
    const before = requests.length;
    const since = observer.messages.length;
    await observer.publish(topics.desired(DEVICE), JSON.stringify(signer.desired(DEVICE, m, { deploymentId })));
    const reported = await observer.waitFor<ReportedState>(
      topics.reported(DEVICE),
      (r) => r.deploymentId === deploymentId && (r.state === 'active' || r.state === 'failed'),
      30_000,
      since,
    );
    expect(reported).toMatchObject({ state: 'active', running: { name: 'face-id', version: m.version }, failure: null });
    expect(worker.runtime.current!.pipeline.labels).toEqual(m.labels);
    return requests.slice(before);
  }

  const stored = (sha: string) => join(state.dir, 'blobs', 'sha256', sha);

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const match = /^\/api\/v1\/blobs\/([0-9a-f]{64})(\/delta\?from=[0-9a-f]{64})?$/.exec(req.url ?? '');
      const body = match ? (match[2] ? deltas.get(match[1]) : blobs.get(match[1])) : undefined;
      if (!body) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"no such blob","details":[]}');
        return;
      }
      res.writeHead(200, { 'content-length': body.byteLength }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    mosquitto = await startMosquitto();
    observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE)]);
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: DEVICE,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: mosquitto.url,
        EDGE_CLOUD_URL: url,
        EDGE_HTTP_TOKEN: 'device-token',
        EDGE_SIGNING_PUBLIC_KEY: signer.publicKeyPem,
      }),
    );
    // agent only (no camera): the deployments are the test
    worker = new EdgeWorker(config);
    await worker.start();
    running = worker.run();
  });

  afterAll(async () => {
    await worker?.stop();
    await running?.catch(() => undefined);
    await observer?.close();
    await mosquitto?.stop();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
    state.remove();
  });

  const labels = Array.from({ length: 120 }, (_, j) => `id-${j}`);
  const h1 = buildIdentityHead({ labels, prototypes: prototypes(120, 1) }, { weights: 'int8' });
  const h2 = retrained(h1, 3, 2);
  const h3 = retrained(h2, 3, 3);
  const h4 = retrained(h3, 3, 4);

  it('rebuilds a retrained head from the running one and a delta, and fetches no head', async () => {
    expect(await deploy(manifest(1, h1), 'dep-1')).toEqual([`/api/v1/blobs/${sha256(h1)}`]);
    const delta = encodeHeadDelta(h1, h2)!;
    expect(delta).toMatchObject({ copied: 117, carried: 5 });
    deltas.set(sha256(h2), delta.bytes);
    expect(await deploy(manifest(2, h2), 'dep-2')).toEqual([headDeltaPath(sha256(h2), sha256(h1))]);
    expect(sha256(readFileSync(stored(sha256(h2))))).toBe(sha256(h2));
    expect(delta.bytes.byteLength).toBeLessThan(h2.byteLength / 10);
  });

  it('a corrupt delta rebuilds a head whose sha256 is not the manifest’s: it is dropped and the head downloaded whole', async () => {
    const raw = gunzipSync(encodeHeadDelta(h2, h3)!.bytes);
    raw[raw.length - 1] ^= 0x01; // the last weight of the last added column
    deltas.set(sha256(h3), new Uint8Array(gzipSync(raw)));
    expect(await deploy(manifest(3, h3), 'dep-3')).toEqual([headDeltaPath(sha256(h3), sha256(h2)), `/api/v1/blobs/${sha256(h3)}`]);
    expect(sha256(readFileSync(stored(sha256(h3))))).toBe(sha256(h3));
  });

  it('a delta made for another head is refused before it is applied: the head is downloaded whole', async () => {
    deltas.set(sha256(h4), encodeHeadDelta(h2, h4)!.bytes); // the device runs h3
    expect(await deploy(manifest(4, h4), 'dep-4')).toEqual([headDeltaPath(sha256(h4), sha256(h3)), `/api/v1/blobs/${sha256(h4)}`]);
    expect(sha256(readFileSync(stored(sha256(h4))))).toBe(sha256(h4));
    expect(existsSync(`${stored(sha256(h4))}.part`)).toBe(false);
  });
});
