import { S3RVER_CREDENTIALS, type S3ClientOptions, type S3Server } from '@edgeloop/embedded';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

export interface S3ProcessOptions {
  /** Folder that holds the buckets; default a temp dir, removed at stop. */
  dir?: string;
  /** Buckets created before the server accepts requests. */
  buckets?: readonly string[];
}

/** What the child sends once it listens. */
interface S3ProcessAddress {
  port: number;
  dir: string;
}

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/**
 * `startS3` in a child process of its own, as MinIO / S3 is a process apart in a real deployment: its
 * request handling, hashing and file writes then neither wait for nor delay the caller's event loop (a
 * bench that simulates a fleet in its own process would otherwise slow the S3 answers the cloud times).
 * Runs from built JavaScript (the benches' dist folders) and from the TypeScript sources (the tests' fixtures).
 * Stops when `stop()` is called or the parent goes away.
 */
export async function startS3Process(options: S3ProcessOptions = {}): Promise<S3Server & { pid: number }> {
  const child: ChildProcess = fork(path.join(__dirname, 's3-process-entry.js'), [JSON.stringify(options)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const started = Promise.race([
    once(child, 'message') as Promise<[S3ProcessAddress]>,
    once(child, 'exit').then(([code]) => {
      throw new Error(`the S3 server process exited with code ${String(code)} before listening`);
    }),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`the S3 server process did not listen within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref(),
    ),
  ]);
  let address: S3ProcessAddress;
  try {
    [address] = await started;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const endPoint = '127.0.0.1';
  const region = 'us-east-1';
  const clientOptions: S3ClientOptions = { endPoint, port: address.port, useSSL: false, ...S3RVER_CREDENTIALS, region, pathStyle: true };
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid!,
    endPoint,
    port: address.port,
    ...S3RVER_CREDENTIALS,
    useSSL: false,
    region,
    url: `http://${endPoint}:${address.port}`,
    dir: address.dir,
    clientOptions,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        // the child stops its server (removing a temp dir) when its channel to us closes
        child.disconnect();
        await Promise.race([exited, new Promise((r) => setTimeout(r, STOP_GRACE_MS))]);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await exited;
        }
      })();
      return stopping;
    },
  };
}
