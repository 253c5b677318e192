import { ApiClient, EdgeloopApi, uploadMultipart } from '@edgeloop/client';
import { apiPaths, type DeploymentResponse, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { findFfmpeg, freePort, requireBinary, startRedis, startS3, type RedisServer, type S3Server } from '@edgeloop/embedded';
import type { Command } from 'commander';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loginFile, saveLogin } from '../cli-config';
import { startPushCamera, type PushCamera } from '../demo/camera';
import { buildGalleryHead, cameraFrames, GALLERY, samplesDir } from '../demo/demo-data';
import { startLoopStory, STORY_CAMERA_ENV } from '../demo/loop-story';
import { startWebhookReceiver, type WebhookReceiver } from '../demo/webhook-receiver';
import { ChildOutput } from '../start/child-output';
import { listenForKeys } from '../start/keys';
import { removeStartState, writeStartState } from '../start/state-file';
import { StatusView } from '../start/status-view';
import { say, story, warn } from '../start/story';
import { enrolPhotos, ensureIdentity } from './identities';

const repoRoot = resolve(__dirname, '..', '..', '..', '..');
const distApps = resolve(__dirname, '..', '..');

interface StartOptions {
  dataDir: string;
  port?: string;
  duration?: string;
  fps: string;
  changeAfter: string;
  verbose?: boolean;
}

/** Demo pace for drift: small buckets and windows so a lighting change shows within a minute or so. */
const DEMO_CLOUD_ENV: Record<string, string> = {
  EDGELOOP_AGGREGATE_BUCKET_SECONDS: '5',
  EDGELOOP_DRIFT_WINDOW_SECONDS: '20',
  // the demo changes the light a few windows after the rollout: a reference grown over more windows would take
  // in the change (two workers at 4 fps fill a 20 s window with ~160 frames, under the 200 PSI and KS need)
  EDGELOOP_DRIFT_REFERENCE_MAX_WINDOWS: '1',
  EDGELOOP_DRIFT_CHECK_SECONDS: '5',
  EDGELOOP_DRIFT_CONFIRM_WINDOWS: '2',
  EDGELOOP_DRIFT_COOLDOWN_SECONDS: '600',
  EDGELOOP_ROLLOUT_TICK_MS: '500',
  EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
};

/**
 * `edgeloop start`: the whole loop on one machine. Redis (append-only file under the data folder) and an
 * S3-protocol server start in this process; the cloud (with its embedded MQTT broker) and two edge workers
 * run as child processes, as they would on separate machines. The workers are provisioned through the API,
 * the gallery model is registered and rolled out to them, one plays franck.mp4 and the other gets frames
 * from a demo camera whose lighting changes part-way, so drift is detected and a signed webhook arrives.
 */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the whole loop on embedded defaults: Redis, S3, SQL, MQTT broker, the cloud, two edge workers')
    .option('--data-dir <dir>', 'where the embedded servers keep their data', process.env.EDGELOOP_DATA_DIR ?? './data')
    .option('--port <port>', 'HTTP port of the cloud (default: a free port)', process.env.EDGELOOP_HTTP_PORT)
    .option('--duration <seconds>', 'stop by itself after this many seconds')
    .option('--fps <fps>', 'frame rate of the demo edge workers', '4')
    .option('--change-after <seconds>', 'when the demo camera’s lighting changes (darker, blurred, strangers)', '60')
    .option('--verbose', 'show every line of the cloud and the workers (one per frame) on the terminal, not only in the log files')
    .action((options: StartOptions) => runStack(options));
}

async function runStack(options: StartOptions): Promise<void> {
  assertNodeEngine();
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  requireBinary('redis-server');
  // every line of every part goes to <data>/logs; the terminal tells the story (see ../start/story.ts)
  const output = new ChildOutput(dataDir, Boolean(options.verbose));
  story.logTo(output.logFile('start'));
  const children: ChildProcess[] = [];
  let statusView: StatusView | undefined;
  let stopKeys: () => void = () => undefined;
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let receiver: WebhookReceiver | undefined;
  let camera: PushCamera | undefined;
  let stopping: Promise<void> | undefined;

  const stopAll = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      stopKeys();
      statusView?.stop();
      removeStartState(dataDir);
      say(`\nstopping (${reason})…`);
      camera?.stop();
      // edge workers first, then the cloud, then the servers
      await Promise.all(children.slice(1).map((child) => stopChild(child)));
      if (children[0]) await stopChild(children[0]);
      await receiver?.close();
      await s3?.stop();
      await redis?.stop();
      say('stopped.');
      await output.close();
      await story.close();
    })();
    return stopping;
  };
  // A child that exits before it is stopped is reported at once, whenever that happens, and ends the run (exit 1).
  const watchExit = (child: ChildProcess): void => {
    child.once('exit', (code, signal) => {
      if (stopping) return;
      const name = childName(child);
      const reason = `${name} exited ${signal ? `on ${signal}` : `with code ${code}`}`;
      // its last lines, unless --verbose already showed them (its warnings and errors are shown either way)
      if (!output.verbose) for (const line of output.tail(name)) story.line(`${name.padEnd(7)}| ${line}`, true);
      warn(`${reason} (its last lines are above, prefixed "${name}|"; its whole log: ${output.logFile(name)})`);
      void stopAll(reason).then(() => process.exit(1));
    });
  };
  // `on`, not `once`: while a listener of ours is there, the embedded servers' exit hook leaves the shutdown to us (with
  // `once` it saw none left and ended the process by the signal before anything was stopped). A second Ctrl-C
  // does not wait for the graceful stop.
  const onSignal = (reason: string) => () => {
    if (stopping) process.exit(130);
    void stopAll(reason).then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal('Ctrl-C'));
  process.on('SIGTERM', onSignal('SIGTERM'));

  try {
    [redis, s3] = await Promise.all([startRedis({ dir: join(dataDir, 'redis'), appendOnly: true }), startS3({ dir: join(dataDir, 's3') })]);
    const secrets = loadSecrets(dataDir);
    receiver = await startWebhookReceiver(secrets.webhookSecret, (line) => say(`webhook| ${line}`));
    const port = options.port ? Number(options.port) : await freePort();
    const brokerPort = await freePort();
    const cloudUrl = `http://127.0.0.1:${port}`;
    const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
    const demoEnv = Object.fromEntries(Object.entries(DEMO_CLOUD_ENV).filter(([key]) => process.env[key] === undefined));
    const cloud = spawnApp(output, 'cloud', join(distApps, 'cloud', 'src', 'main.js'), {
      ...demoEnv,
      EDGELOOP_HTTP_PORT: String(port),
      EDGELOOP_DATA_DIR: dataDir,
      EDGELOOP_SQL_DIR: join(dataDir, 'sql'),
      EDGELOOP_BOOTSTRAP_TOKEN: secrets.adminToken,
      EDGELOOP_EMBEDDED_BROKER_PORT: String(brokerPort),
      REDIS_URL: redis.url,
      S3_ENDPOINT: s3.endPoint,
      S3_PORT: String(s3.port),
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
    });
    children.push(cloud);
    watchExit(cloud);
    await waitForHealth(cloudUrl, cloud);
    saveLogin({ url: cloudUrl, token: secrets.adminToken });

    story.beginBanner();
    say('');
    say('edgeloop is running');
    say(`  cloud API      ${cloudUrl}/api/v1   (OpenAPI: ${cloudUrl}/api/docs, Prometheus: ${cloudUrl}/metrics)`);
    say(`  MQTT broker    ${brokerUrl}   (embedded in the cloud, device ACLs on)`);
    say(`  Redis          ${redis.url}   (append-only file in ${join(dataDir, 'redis')})`);
    say(`  S3 server      ${s3.url}   (bucket edgeloop, files in ${join(dataDir, 's3')})`);
    say(`  SQL            PGlite in ${join(dataDir, 'sql')}`);
    say(`  webhooks to    ${receiver.url}   (this process verifies each signature)`);
    if (secrets.created) {
      say(`  admin token    ${secrets.adminToken}`);
      say('                 (shown once; the CLI is logged in with it: try `npx edgeloop devices ls`)');
    }
    say(`  logs           ${output.dir}   (every line of the cloud and each worker; --verbose shows them here)`);
    say('  second shell   `npx edgeloop status` shows what runs and the state of the loop');
    say('');

    const api = new ApiClient({ baseUrl: cloudUrl, token: secrets.adminToken });
    const signIn = await new EdgeloopApi(api).createSignInLink();
    say(`open the dashboard: ${cloudUrl}${signIn.path}`);
    say('  (a one-time sign-in link, good for 15 minutes; after that, sign in with an API token)');
    story.endBanner();
    await ensureWebhook(api, receiver.url, secrets.webhookSecret);
    await registerModels(api, dataDir);
    const devices = await ensureDevices(api, dataDir);

    const pushPort = await freePort();
    // The push endpoint always needs a bearer token: this run's camera gets the one its worker is given.
    const pushToken = `push_${randomBytes(24).toString('base64url')}`;
    const edgeCommon = {
      EDGE_MQTT_URL: brokerUrl,
      EDGE_CLOUD_URL: cloudUrl,
      EDGE_FPS: options.fps,
      EDGE_MODELS_DIR: join(repoRoot, 'models', 'base'),
      EDGE_BATCH_MAX_MS: '3000',
      EDGE_HEARTBEAT_S: '5',
      MALLOC_ARENA_MAX: '2',
    };
    const sources = [demoVideoSource(), `http-push:127.0.0.1:${pushPort}`];
    devices.forEach((device, i) => {
      const worker = spawnApp(output, device.device.id, join(distApps, 'edge', 'src', 'main.js'), {
          ...edgeCommon,
          EDGE_DEVICE_ID: device.device.id,
          EDGE_MQTT_PASSWORD: device.credentials.mqtt.password,
          EDGE_HTTP_TOKEN: device.credentials.http.token,
          EDGE_SIGNING_PUBLIC_KEY: device.signingKey.publicKey,
          EDGE_SOURCE: sources[i],
          ...(sources[i].startsWith('http-push:') ? { EDGE_SOURCE_PUSH_TOKEN: pushToken, ...STORY_CAMERA_ENV } : {}),
          EDGE_STATE_DIR: join(dataDir, device.device.id),
        });
      children.push(worker);
      watchExit(worker);
    });

    // for `edgeloop status` in a second terminal, from before the rollout on
    writeStartState({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      dataDir,
      cloudUrl,
      apiUrl: `${cloudUrl}/api/v1`,
      dashboardUrl: `${cloudUrl}/`,
      brokerUrl,
      redisUrl: redis.url,
      s3Url: s3.url,
      webhookReceiverUrl: receiver.url,
      cliConfig: loginFile(),
      logs: { start: output.logFile('start'), ...output.logFiles },
      children: children.map((child) => ({ name: childName(child), pid: child.pid ?? null })),
    });
    await rollOut(api);
    const frames = await cameraFrames(repoRoot, join(dataDir, 'camera'));
    const changeAfter = Number(options.changeAfter);
    say(`the demo camera of ${devices[1].device.id} changes lighting in ${changeAfter} s (darker, blurred, strangers): watch for drift`);
    camera = startPushCamera({
      url: `http://127.0.0.1:${pushPort}/frames`,
      token: pushToken,
      fps: Number(options.fps),
      ...frames,
      changeAfterMs: changeAfter * 1000,
      onChange: () => say(`camera | the lighting changes on ${devices[1].device.id}: darker, blurred, people who are not enrolled`),
    });
    // after the drift the story goes on: a newcomer, labels, a retraining run, its canary (../demo/loop-story.ts)
    startLoopStory({
      api,
      cloudUrl,
      camera,
      cameraDevice: devices[1].device.id,
      calm: frames.normal,
      repoRoot,
      cacheDir: join(dataDir, 'camera'),
      workers: devices.map((device, i) => ({ id: device.device.id, output: children[i + 1]?.stdout })),
      report: say,
      warn,
    });
    statusView = new StatusView(api);
    statusView.start();
    stopKeys = listenForKeys({
      banner: () => story.repeatBanner(),
      verbose: () => {
        output.verbose = !output.verbose;
        say(`frame lines ${output.verbose ? 'on' : 'off'} (all of them are in ${output.dir})`);
      },
      stop: () => void stopAll('Ctrl-C').then(() => process.exit(0)),
    });
    if (!stopping) say(story.tty ? 'press b to see the banner again, v for frame lines, Ctrl-C to stop' : 'press Ctrl-C to stop');

    const timer = options.duration
      ? new Promise<string>((done) => setTimeout(() => done(`--duration ${options.duration}s`), Number(options.duration) * 1000))
      : new Promise<string>(() => undefined);
    await stopAll(await timer);
  } catch (err) {
    await stopAll('a failure at start');
    throw err;
  }
}

interface Secrets {
  adminToken: string;
  webhookSecret: string;
  created: boolean;
}

/** The embedded admin token and webhook secret: created on first start, kept in the data folder (mode 600). */
function loadSecrets(dataDir: string): Secrets {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) return { ...(JSON.parse(readFileSync(file, 'utf8')) as Omit<Secrets, 'created'>), created: false };
  const secrets = { adminToken: `elt_${randomBytes(32).toString('base64url')}`, webhookSecret: randomBytes(24).toString('base64url') };
  writeFileSync(file, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  return { ...secrets, created: true };
}

async function ensureWebhook(api: ApiClient, url: string, secret: string): Promise<void> {
  const { webhooks } = await api.get<{ webhooks: Array<{ id: string; url: string }> }>(apiPaths.webhooks());
  // the receiver listens on a new port every start: replace the old subscription
  for (const old of webhooks) await api.delete(apiPaths.webhook(old.id));
  await api.post(apiPaths.webhooks(), {
    url,
    events: ['drift.detected', 'model.version.created', 'deployment.completed', 'deployment.failed', 'deployment.rolled_back', 'retraining.completed', 'retraining.failed'],
    secret,
    description: 'the receiver of `edgeloop start`',
  });
}

/** face-base@1 (the fetched base bundle) and face-id@1 (the same files plus the gallery head), aliased production. */
async function registerModels(api: ApiClient, dataDir: string): Promise<void> {
  const existing = await api.get<{ models: Array<{ name: string }> }>(apiPaths.models());
  if (existing.models.some((m) => m.name === 'face-id')) return;
  const base = join(repoRoot, 'models', 'base');
  const manifest = JSON.parse(readFileSync(join(base, 'manifest.json'), 'utf8')) as { files: Array<{ role: string; path: string }>; thresholds: unknown; source?: string };
  const parts = manifest.files.filter((f) => f.role !== 'liveness').map((f) => ({ field: f.role, file: join(base, f.path) }));
  const baseVersion = await uploadMultipart<{ version: number }>(api, apiPaths.modelVersions('face-base'), parts, {
    manifest: JSON.stringify({ thresholds: manifest.thresholds, source: manifest.source }),
  });
  await api.put(apiPaths.modelAlias('face-base', 'production'), { version: baseVersion.version });
  say(`registered the base bundle as face-base@${baseVersion.version}`);
  await enrolGallery(api);
  const { head, labels } = await buildGalleryHead(repoRoot);
  const headFile = join(dataDir, 'gallery-head.onnx');
  writeFileSync(headFile, head);
  const withHead = await uploadMultipart<{ version: number }>(api, apiPaths.modelVersions('face-id'), [...parts, { field: 'head', file: headFile }], {
    manifest: JSON.stringify({ labels, thresholds: manifest.thresholds, source: `${manifest.source} + gallery head` }),
  });
  await api.put(apiPaths.modelAlias('face-id', 'production'), { version: withHead.version });
  say(`registered face-id@${withHead.version} with a head for ${labels.join(', ')} (alias production)`);
}

/**
 * The demo gallery enrolled through the identities API with the base bundle's embedder: the cloud detects,
 * aligns and embeds each photo and keeps the aligned crop, so retraining (and any later embedder) starts
 * from these people. A refused photo is reported and skipped; the demo goes on.
 */
async function enrolGallery(api: ApiClient): Promise<void> {
  const enrolling = new ApiClient({ baseUrl: api.baseUrl, token: api.token, timeoutMs: 300_000 });
  let enrolled = 0;
  for (const [person, photos] of Object.entries(GALLERY)) {
    try {
      await ensureIdentity(enrolling, person);
      const files = photos.map((name) => ({ name, bytes: readFileSync(join(samplesDir(repoRoot), name)) }));
      for (const result of await enrolPhotos(enrolling, person, files, 'face-base@production')) {
        if (result.status === 'enrolled') enrolled++;
        else warn(`gallery | ${person}: ${result.message}`);
      }
    } catch (err) {
      warn(`gallery | ${person} not enrolled: ${(err as Error).message}`);
    }
  }
  say(`enrolled ${enrolled} gallery photos of ${Object.keys(GALLERY).length} people through the identities API`);
}

/** Two edge workers, provisioned through the API once; their credentials are kept in the data folder. */
async function ensureDevices(api: ApiClient, dataDir: string): Promise<ProvisionDeviceResponse[]> {
  const file = join(dataDir, 'devices.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as ProvisionDeviceResponse[];
  const devices: ProvisionDeviceResponse[] = [];
  for (const [id, site] of [
    ['edge-1', 'lobby'],
    ['edge-2', 'entrance'],
  ]) {
    devices.push(await api.post<ProvisionDeviceResponse>(apiPaths.devices(), { id, name: `demo camera ${id}`, group: 'demo', labels: { site } }));
  }
  writeFileSync(file, `${JSON.stringify(devices, null, 2)}\n`, { mode: 0o600 });
  say(`provisioned ${devices.map((d) => d.device.id).join(' and ')} (group demo)`);
  return devices;
}

/** Rolls face-id@production out to the demo group unless the devices already have it as their desired state. */
async function rollOut(api: ApiClient): Promise<void> {
  const { deployments } = await api.get<{ deployments: DeploymentResponse[] }>(apiPaths.deployments());
  if (deployments.some((d) => d.status === 'completed' || d.status === 'in_progress')) return;
  const deployment = await api.post<DeploymentResponse>(apiPaths.deployments(), { model: 'face-id@production', target: { group: 'demo' }, strategy: { type: 'all' } });
  say(`rollout ${deployment.id}: ${deployment.model.name}@${deployment.model.version} to ${deployment.devices.length} devices`);
  void followRollout(api, deployment.id);
}

async function followRollout(api: ApiClient, id: string): Promise<void> {
  const seen = new Map<string, string>();
  for (let i = 0; i < 240; i++) {
    const deployment = await api.get<DeploymentResponse>(apiPaths.deployment(id)).catch(() => undefined);
    if (!deployment) return;
    for (const d of deployment.devices) {
      const line = `${d.phase}${d.state ? ` (${d.state})` : ''}`;
      if (seen.get(d.deviceId) !== line) {
        seen.set(d.deviceId, line);
        say(`rollout| ${d.deviceId}: ${line}`);
      }
    }
    if (deployment.status !== 'in_progress' && deployment.status !== 'pending') {
      say(`rollout| ${id}: ${deployment.status}${deployment.reason ? ` — ${deployment.reason}` : ''}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** franck.mp4 through ffmpeg (on the PATH or from npm) when there is one, otherwise the clip's sample frames. */
function demoVideoSource(): string {
  const clip = join(samplesDir(repoRoot), 'franck.mp4');
  if (findFfmpeg() && existsSync(clip)) return `file:${clip}`;
  return `folder:${samplesDir(repoRoot)}`;
}

/**
 * The edge workers need what package.json's `engines.node` says (node:sqlite): refuse an older Node.js here
 * with one line rather than start a stack whose workers crash at boot. The children run on this same node.
 */
function assertNodeEngine(): void {
  const engines = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '';
  const need = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(engines.trim());
  if (!need) return;
  const have = process.versions.node.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const wanted = Number(need[i + 1]);
    if (have[i] > wanted) return;
    if (have[i] < wanted) {
      throw new Error(
        `Node.js ${process.versions.node} (${process.execPath}) is too old: the edge workers need Node.js ${engines} (node:sqlite). ` +
          '`npm start` runs the Node 24 from node_modules/.bin; otherwise install Node.js 22.13 or later.',
      );
    }
  }
}

const names = new WeakMap<ChildProcess, string>();

function childName(child: ChildProcess): string {
  return names.get(child) ?? 'a child';
}

/** Runs one app as a child process; its output goes to its log file (and the terminal, see ChildOutput). */
function spawnApp(output: ChildOutput, name: string, entry: string, env: Record<string, string>): ChildProcess {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  names.set(child, name);
  output.attach(name, child);
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

/** The first start creates the PGlite database (initdb in WebAssembly): seconds on an idle machine, a minute or more on a busy small one. */
async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the cloud exited with code ${child.exitCode} while starting`);
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the cloud did not answer ${url}/api/v1/health within ${timeoutMs / 1000} s`);
}
