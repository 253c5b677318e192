import { apiPaths } from '@edgeloop/contracts';
import { freePort, type S3Server } from '@edgeloop/harness';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';

const HEALTH_TIMEOUT_MS = 60_000;
const LOG_TAIL_CHARS = 4000;

export interface CloudProcess {
  pid: number;
  url: string;
  adminToken: string;
  /** The cloud's stdout and stderr, last few kB. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** Variables of the caller's environment that would change what the cloud connects to. */
const INHERITED_CLOUD_VARIABLES = /^(EDGELOOP_|S3_|DATABASE_URL$|REDIS_URL$|MQTT_)/;

/**
 * The production entry point (`dist/apps/cloud/src/main.js`) as a child process on a free port, with
 * in-memory SQL, the given S3 server, a bootstrap admin token and warn-level logs. `tmpDir` becomes its
 * TMPDIR, so the upload spool files it writes are its own and are removed with the bench's temp dir.
 */
export async function startCloudProcess(root: string, s3: S3Server, tmpDir: string, maxUploadBytes: number): Promise<CloudProcess> {
  const port = await freePort();
  const adminToken = `elt_${randomBytes(24).toString('base64url')}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!INHERITED_CLOUD_VARIABLES.test(key)) env[key] = value;
  Object.assign(env, {
    TMPDIR: tmpDir,
    EDGELOOP_HTTP_HOST: '127.0.0.1',
    EDGELOOP_HTTP_PORT: String(port),
    EDGELOOP_DATA_DIR: path.join(tmpDir, 'data'),
    EDGELOOP_SQL_DIR: 'memory://',
    S3_ENDPOINT: s3.endPoint,
    S3_PORT: String(s3.port),
    S3_ACCESS_KEY: s3.accessKey,
    S3_SECRET_KEY: s3.secretKey,
    EDGELOOP_BOOTSTRAP_TOKEN: adminToken,
    EDGELOOP_LOG_LEVEL: 'warn',
    EDGELOOP_MAX_UPLOAD_BYTES: String(maxUploadBytes),
  });
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'dist', 'apps', 'cloud', 'src', 'main.js')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
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
  const cloud: CloudProcess = { pid: child.pid ?? -1, url, adminToken, logTail: () => log, stop };
  try {
    await waitForHealth(url, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- cloud output ---\n${log.trim()}`);
  }
  return cloud;
}

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
