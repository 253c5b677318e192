import { apiPaths } from '@edgeloop/contracts';
import { freePort, type RedisServer, type S3Server } from '@edgeloop/harness';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const HEALTH_TIMEOUT_MS = 60_000;
const LOG_TAIL_CHARS = 8000;
const START_ATTEMPTS = 3;

/** Where the cloud keeps SQL: PGlite in a folder of the bench's temp dir, or a PostgreSQL database. */
export type IngestSql = { kind: 'pglite'; dir: string } | { kind: 'postgres'; url: string };

export interface IngestCloudOptions {
  /** The compiled production entry point (`dist/apps/cloud/src/main.js`). */
  mainJs: string;
  /** Working directory of the child (the repository root). */
  cwd: string;
  s3: S3Server;
  redis: RedisServer;
  sql: IngestSql;
  /** The cloud's TMPDIR and data folder. */
  tmpDir: string;
  /** Ingest and drift settings under test (EDGELOOP_* variables). */
  env: Record<string, string>;
  /** `--require`d into the cloud before its entry point (the probe hook); the child then gets an IPC channel. */
  preload?: string;
}

export interface IngestCloud {
  child: ChildProcess;
  pid: number;
  url: string;
  mqttUrl: string;
  adminToken: string;
  /** The cloud's stdout and stderr, last few kB. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** Variables of the caller's environment that would change what the cloud connects to. */
const INHERITED_CLOUD_VARIABLES = /^(EDGELOOP_|S3_|DATABASE_URL$|REDIS_URL$|MQTT_)/;

/**
 * The production cloud (`node dist/apps/cloud/src/main.js`) as a child process, so its event loop is its
 * own: the embedded aedes broker on a free port, the bench's Redis and s3rver, SQL on PGlite in a folder
 * or on PostgreSQL, a bootstrap admin token and warn-level logs. A port taken between the probe and the
 * bind is retried with new ports.
 */
export async function startIngestCloud(options: IngestCloudOptions): Promise<IngestCloud> {
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

async function startOnce(options: IngestCloudOptions): Promise<IngestCloud> {
  const port = await freePort();
  const brokerPort = await freePort();
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!INHERITED_CLOUD_VARIABLES.test(key)) env[key] = value;
  if (options.sql.kind === 'pglite') mkdirSync(options.sql.dir, { recursive: true });
  Object.assign(env, {
    TMPDIR: options.tmpDir,
    EDGELOOP_HTTP_HOST: '127.0.0.1',
    EDGELOOP_HTTP_PORT: String(port),
    EDGELOOP_DATA_DIR: path.join(options.tmpDir, 'data'),
    ...(options.sql.kind === 'pglite' ? { EDGELOOP_SQL_DIR: options.sql.dir } : { DATABASE_URL: options.sql.url }),
    S3_ENDPOINT: options.s3.endPoint,
    S3_PORT: String(options.s3.port),
    S3_ACCESS_KEY: options.s3.accessKey,
    S3_SECRET_KEY: options.s3.secretKey,
    REDIS_URL: options.redis.url,
    EDGELOOP_EMBEDDED_BROKER_PORT: String(brokerPort),
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    EDGELOOP_LOG_LEVEL: 'warn',
    ...options.env,
  });
  const args = options.preload ? ['--require', options.preload, options.mainJs] : [options.mainJs];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: options.cwd,
    env,
    stdio: options.preload ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-LOG_TAIL_CHARS);
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
  const cloud: IngestCloud = { child, pid: child.pid ?? -1, url, mqttUrl: `mqtt://127.0.0.1:${brokerPort}`, adminToken, logTail: () => log, stop };
  try {
    await waitForHealth(url, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- cloud output ---\n${log.trim()}`);
  }
  return cloud;
}

/** `/api/v1/health` answers 200 once SQL, S3, Redis and the MQTT channel are up. */
async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
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
  throw new Error(`the cloud was not healthy within ${HEALTH_TIMEOUT_MS} ms (${last})`);
}
