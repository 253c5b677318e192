import { MANIFEST_SCHEMA, topics, type ModelManifest, type ReportedState } from '@edgeloop/contracts';
import { startMosquitto, type MosquittoServer } from '@edgeloop/harness';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudSigner } from '../apps/edge/src/testing/cloud-signer';
import { buildEdge } from '../apps/edge/src/testing/edge-process';
import { baseModelsDir, repoRoot, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { LinkProxy, wireBytes, type LinkConnection, type WirePacket } from '../apps/edge/src/testing/link-proxy';
import { MqttObserver } from '../apps/edge/src/testing/mqtt-observer';

const DEVICE = 'cam-netns-1';
const KEEPALIVE_S = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Why this test cannot run here, or undefined when it can. */
function namespaceUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, tc, nft)';
  for (const tool of ['ip', 'tc', 'nft']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs \`${tool}\` on the PATH (apt-get install iproute2 nftables)`;
  }
  return undefined;
}

function run(args: string[]): void {
  const result = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')}: ${result.stderr.trim()}`);
}

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

const unavailable = namespaceUnavailable();
if (unavailable) process.stdout.write(`weak-link.e2e: skipped: ${unavailable}\n`);

/**
 * The field set-up in one test: the edge worker as a process in its own network namespace, behind a veth pair
 * shaped to 400 kbit/s each way (tbf), talking to mosquitto through a counting proxy on the host side. The
 * link is cut silently (an nftables drop rule in the namespace: no FIN, no RST) for longer than 1.5 × the
 * keep-alive while heartbeats are due, then healed; the proxy counts what the reconnect costs.
 */
describe('an edge worker in a network namespace behind a 400 kbit/s veth pair', () => {
  const id = `${process.pid % 10_000}`;
  const ns = `elwk-${id}`;
  const [hostDev, nsDev] = [`elwk${id}a`, `elwk${id}b`];
  const subnet = `10.${150 + (process.pid % 50)}.${process.pid % 250}`;
  const state = tempStateDir('edge-netns-');
  const signer = new CloudSigner();
  let build: { main: string; remove: () => void } | undefined;
  let mosquitto: MosquittoServer | undefined;
  let proxy: LinkProxy | undefined;
  let observer: MqttObserver | undefined;
  let worker: ChildProcess | undefined;
  let output = '';

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await observer?.close();
    await proxy?.stop();
    await mosquitto?.stop();
    if (!unavailable) spawnSync('ip', ['netns', 'del', ns]);
    build?.remove();
    state.remove();
  });

  (unavailable ? it.skip : it)(
    'reconnects after a silent partition with no stale report replayed and ≤ 1 KB up',
    async () => {
      build = buildEdge();
      spawnSync('ip', ['netns', 'del', ns]);
      run(['ip', 'netns', 'add', ns]);
      run(['ip', 'link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev]);
      run(['ip', 'link', 'set', nsDev, 'netns', ns]);
      run(['ip', 'addr', 'add', `${subnet}.1/30`, 'dev', hostDev]);
      run(['ip', 'link', 'set', hostDev, 'up']);
      run(['tc', 'qdisc', 'add', 'dev', hostDev, 'root', 'tbf', 'rate', '400kbit', 'burst', '16kbit', 'latency', '400ms']);
      const inNs = (...args: string[]) => run(['ip', 'netns', 'exec', ns, ...args]);
      inNs('ip', 'addr', 'add', `${subnet}.2/30`, 'dev', nsDev);
      inNs('ip', 'link', 'set', nsDev, 'up');
      inNs('ip', 'link', 'set', 'lo', 'up');
      inNs('tc', 'qdisc', 'add', 'dev', nsDev, 'root', 'tbf', 'rate', '400kbit', 'burst', '16kbit', 'latency', '400ms');

      mosquitto = await startMosquitto();
      proxy = new LinkProxy({ host: mosquitto.host, port: Number(new URL(mosquitto.url).port) }, { listenHost: `${subnet}.1` });
      await proxy.start();
      observer = await MqttObserver.connect(mosquitto.url, [topics.reported(DEVICE)]);
      const desired = signer.desired(DEVICE, baseManifest(1), { deploymentId: 'dep-netns-1' });
      await observer.publish(topics.desired(DEVICE), JSON.stringify(desired));

      worker = spawn('ip', ['netns', 'exec', ns, process.execPath, build.main], {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH,
          NODE_PATH: join(repoRoot, 'node_modules'),
          EDGE_DEVICE_ID: DEVICE,
          EDGE_STATE_DIR: state.dir,
          EDGE_MODELS_DIR: baseModelsDir,
          EDGE_MQTT_URL: proxy.url,
          EDGE_MQTT_KEEPALIVE_S: String(KEEPALIVE_S),
          EDGE_HEARTBEAT_S: '2',
          EDGE_SIGNING_PUBLIC_KEY: signer.publicKeyPem,
          EDGE_LOG_FRAMES: 'false',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      worker.stdout!.on('data', (c: Buffer) => (output += c.toString()));
      worker.stderr!.on('data', (c: Buffer) => (output += c.toString()));
      await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active' && r.deploymentId === 'dep-netns-1', 60_000);
      await sleep(3_000);

      // silent partition, longer than mqtt.js's 1.5 × keep-alive, heartbeats due every 2 s
      inNs('nft', 'add', 'table', 'inet', 'elwk');
      inNs('nft', 'add', 'chain', 'inet', 'elwk', 'in', '{ type filter hook input priority 0 ; }');
      inNs('nft', 'add', 'chain', 'inet', 'elwk', 'out', '{ type filter hook output priority 0 ; }');
      inNs('nft', 'add', 'rule', 'inet', 'elwk', 'in', 'iifname', nsDev, 'drop');
      inNs('nft', 'add', 'rule', 'inet', 'elwk', 'out', 'oifname', nsDev, 'drop');
      const before = proxy.connections.length;
      await sleep(KEEPALIVE_S * 1_500 + 5_000);
      const since = observer.messages.length;
      const healedAt = Date.now();
      inNs('nft', 'delete', 'table', 'inet', 'elwk');
      await observer.waitFor<ReportedState>(topics.reported(DEVICE), (r) => r.state === 'active', 60_000, since);
      const reportedAfterMs = Date.now() - healedAt;
      await sleep(1_000);

      const isReported = (p: WirePacket) => p.type === 'publish' && p.topic === topics.reported(DEVICE);
      const next = proxy.connections.slice(before).find((c) => c.down.some((p) => p.type === 'connack')) as LinkConnection;
      expect(next).toBeDefined();
      const online = next.up.findIndex((p) => p.type === 'publish' && p.topic === topics.status(DEVICE));
      const fresh = next.up.findIndex((p, i) => i > online && isReported(p));
      const last = Math.max(
        fresh,
        next.up.findIndex((p) => p.type === 'subscribe'),
      );
      const upstream = next.up.slice(0, last + 1).concat(next.up.slice(last + 1).filter((p) => p.type === 'puback'));
      const desiredAt = next.down.findIndex((p) => p.type === 'publish' && p.topic === topics.desired(DEVICE));
      const downstream = next.down.filter((p, i) => i <= desiredAt || p.type !== 'publish');
      process.stdout.write(
        `netns, 400 kbit/s veth, ${KEEPALIVE_S * 1.5 + 5} s silent partition, heartbeat 2 s: reported again ${reportedAfterMs} ms after the heal; ` +
          `reconnect ${wireBytes(upstream)} B up (${upstream.map((p) => `${p.type}${p.topic ? ` ${p.topic.split('/').pop()}` : ''} ${p.bytes}`).join(', ')}), ` +
          `${wireBytes(downstream)} B down (retained desired ${Buffer.byteLength(JSON.stringify(desired))} B)\n`,
      );
      expect(online).toBe(1);
      expect(next.up.slice(0, online).filter(isReported)).toEqual([]);
      expect(wireBytes(upstream)).toBeLessThanOrEqual(1024);
    },
    180_000,
  );
});
