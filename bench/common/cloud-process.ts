import { missingNodeFlags } from '@edgeloop/config';
import { apiPaths } from '@edgeloop/contracts';
import { freePort, type RedisServer, type S3Server } from '@edgeloop/harness';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CLOUD_PROCESS_DEFAULTS } from '../../apps/cloud/src/app/process-defaults';

const HEALTH_TIMEOUT_MS = 60_000;
const LOG_TAIL_CHARS = 8000;
const START_ATTEMPTS = 3;

/** Where the cloud keeps SQL: in-memory PGlite, PGlite in a folder (created if missing), or a PostgreSQL database. */
export type BenchCloudSql = { kind: 'memory' } | { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };

export interface BenchCloudOptions {
  /** The compiled production entry point (`dist/apps/cloud/src/main.js`). */
  mainJs: string;
  /** Working directory of the child (the repository root). */
  cwd: string;
  s3: S3Server;
  /** The cloud's queues; given Redis, the cloud also runs its embedded aedes broker on a free port. */
  redis?: RedisServer;
  sql: BenchCloudSql;
  /** The cloud's TMPDIR (its upload spool files) and, in `data/`, its data folder. */
  tmpDir: string;
  /** Settings under test (EDGELOOP_* variables), over the defaults set here. */
  env?: Record<string, string>;
  /** `--require`d into the cloud before its entry point (a probe hook); the child then gets an IPC channel. */
  preload?: string;
  /**
   * Node/V8 flags put on the cloud's command line before its entry point, e.g. `--heap-growing-percent=50`
   * (default: BENCH_CLOUD_NODE_FLAGS, split on white space; none when unset). A flag given this way wins over the
   * cloud's own default for it (apps/cloud/src/app/process-defaults.ts), as an operator's would, and V8 reads it
   * at start-up, unlike NODE_OPTIONS, which node refuses for some heap flags.
   */
  nodeFlags?: readonly string[];
  /** How much of the cloud's stdout and stderr to keep (default 8000 characters). */
  logTailChars?: number;
  /** How long to wait for `/health` (default 60 s; PGlite's first open in a folder took ≈ 40 s at load average 15). */
  healthTimeoutMs?: number;
}

export interface BenchCloud {
  child: ChildProcess;
  pid: number;
  url: string;
  /** The embedded broker, when the cloud was given Redis. */
  mqttUrl: string | null;
  adminToken: string;
  /** The flags given on the cloud's command line by the bench (`nodeFlags` or BENCH_CLOUD_NODE_FLAGS). */
  nodeFlags: string[];
  /**
   * The node flags the cloud runs with once healthy, read from `/proc/<pid>/cmdline` (after its relaunch with its
   * own defaults: same pid); null where `/proc` cannot be read.
   */
  runningFlags: string[] | null;
  /** The cloud's stdout and stderr, last few kB, as lines without colour codes or blank lines. */
  logLines(): string[];
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export type BenchCloudWithBroker = BenchCloud & { mqttUrl: string };

/** BENCH_CLOUD_NODE_FLAGS as a list of flags (empty when unset). */
export function benchCloudNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const flags = (env.BENCH_CLOUD_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  // anything else before the entry point would be taken by node as the script to run
  for (const flag of flags) if (!flag.startsWith('--')) throw new Error(`BENCH_CLOUD_NODE_FLAGS holds ${flag}: node flags only (--name or --name=value)`);
  return flags;
}

/** Variables of the caller's environment that would change what the cloud connects to. */
const INHERITED_CLOUD_VARIABLES = /^(EDGELOOP_|S3_|DATABASE_URL$|REDIS_URL$|MQTT_)/;

/**
 * The production cloud as a child process on a free port, so its event loop is its own: the bench's
 * S3 server, SQL as asked, with Redis the embedded aedes broker on a free port, a bootstrap admin token
 * and warn-level logs. A port taken between the probe and the bind is retried with new ports.
 */
export async function startBenchCloud(options: BenchCloudOptions & { redis: RedisServer }): Promise<BenchCloudWithBroker>;
export async function startBenchCloud(options: BenchCloudOptions): Promise<BenchCloud>;
export async function startBenchCloud(options: BenchCloudOptions): Promise<BenchCloud> {
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      lastError = err as Error;
      if (!/EADDRINUSE/.test(lastError.message)) throw lastError;
    }
  }
  throw lastError;
}

async function startOnce(options: BenchCloudOptions): Promise<BenchCloud> {
  const port = await freePort();
  const brokerPort = options.redis ? await freePort() : null;
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!INHERITED_CLOUD_VARIABLES.test(key)) env[key] = value;
  Object.assign(env, {
    TMPDIR: options.tmpDir,
    EDGELOOP_HTTP_HOST: '127.0.0.1',
    EDGELOOP_HTTP_PORT: String(port),
    EDGELOOP_DATA_DIR: path.join(options.tmpDir, 'data'),
    ...sqlEnv(options.sql),
    S3_ENDPOINT: options.s3.endPoint,
    S3_PORT: String(options.s3.port),
    S3_ACCESS_KEY: options.s3.accessKey,
    S3_SECRET_KEY: options.s3.secretKey,
    ...(options.redis ? { REDIS_URL: options.redis.url, EDGELOOP_EMBEDDED_BROKER_PORT: String(brokerPort) } : {}),
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    EDGELOOP_LOG_LEVEL: 'warn',
    ...options.env,
  });
  const nodeFlags = [...(options.nodeFlags ?? benchCloudNodeFlags())];
  // with an IPC channel (a preload's) the cloud does not re-execute itself with its V8 defaults (libs/config
  // applyProcessDefaults): the ones not given are put on its command line here, so it runs as a deployment does
  const startFlags = options.preload ? withCloudDefaults(nodeFlags) : nodeFlags;
  const args = [...startFlags, ...(options.preload ? ['--require', options.preload] : []), options.mainJs];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: options.cwd,
    env,
    stdio: options.preload ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const tailChars = options.logTailChars ?? LOG_TAIL_CHARS;
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-tailChars);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit').then(() => undefined);
  child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const cloud: BenchCloud = {
    child,
    pid: child.pid ?? -1,
    url,
    mqttUrl: brokerPort === null ? null : `mqtt://127.0.0.1:${brokerPort}`,
    adminToken,
    nodeFlags,
    runningFlags: null,
    logLines: () => logLines(log),
    stop,
  };
  try {
    await waitForHealth(url, child, options.healthTimeoutMs ?? HEALTH_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- cloud output ---\n${log.trim()}`);
  }
  cloud.runningFlags = runningFlags(cloud.pid, options.mainJs);
  return cloud;
}

function sqlEnv(sql: BenchCloudSql): Record<string, string> {
  switch (sql.kind) {
    case 'memory':
      return { EDGELOOP_SQL_DIR: 'memory://' };
    case 'pglite':
      mkdirSync(sql.dir, { recursive: true });
      return { EDGELOOP_SQL_DIR: sql.dir };
    case 'postgres':
      return { DATABASE_URL: sql.url };
  }
}

/** The arguments between the node binary and the entry point on a process's command line. */
function runningFlags(pid: number, mainJs: string): string[] | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const script = argv.indexOf(mainJs);
    return script < 0 ? null : argv.slice(1, script);
  } catch {
    return null;
  }
}

function logLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .filter(Boolean);
}

/** `/api/v1/health` answers 200 once SQL, S3 and, when configured, Redis and the MQTT channel are up. */
async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the cloud exited (${child.exitCode ?? child.signalCode}) before it was healthy`);
    }
    try {
      const res = await fetch(`${url}${apiPaths.health()}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the cloud was not healthy within ${timeoutMs} ms (${last})`);
}

/** `flags` plus the cloud's own V8 defaults it does not already give (either spelling), as its relaunch would add them. */
function withCloudDefaults(flags: readonly string[]): string[] {
  return [...flags, ...missingNodeFlags(flags, CLOUD_PROCESS_DEFAULTS)];
}
