import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOUD_PROCESS_DEFAULTS } from '../app/process-defaults';
import { adminApi, startCloudDependencies, type CloudDependencies, type CloudFixture, type CloudFixtureOptions } from './cloud-fixture';

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

export interface CloudProcessFixture extends Omit<CloudDependencies, 'env' | 'stop'> {
  /** The cloud's process id (the same after main.ts re-executed itself with its V8 defaults). */
  pid: number;
  /** The node flags the cloud's process runs with (its command line). */
  nodeFlags: string[];
  url: string;
  api: CloudFixture['api'];
  /** The last of the cloud's output. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The cloud as a process of its own, started as a deployment starts it (`main.ts`: its V8 defaults, its configuration
 * from the environment), around the same dependencies as `startCloudFixture` (S3, SQL, Redis, a broker). For tests that
 * time the cloud from a device's side: the devices' clients and the test then run on another event loop and another
 * heap than the cloud's, as they do in a deployment. Runs from the TypeScript sources. Its environment is the fixture's
 * alone (plus PATH, HOME, TMPDIR), as `startCloudFixture` hands the in-process cloud only its own; EDGELOOP_TEST_CLOUD_NODE_OPTIONS
 * becomes its NODE_OPTIONS.
 */
export async function startCloudProcessFixture(options: CloudFixtureOptions): Promise<CloudProcessFixture> {
  const deps = await startCloudDependencies(options);
  const url = `http://127.0.0.1:${deps.env.EDGELOOP_HTTP_PORT}`;
  const child = spawn(process.execPath, [join(__dirname, 'cloud-process-entry.js')], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR ?? tmpdir(),
      // node flags for the cloud alone, to look into it (`--cpu-prof`, `--trace-gc`); its V8 defaults are added to them
      ...(process.env.EDGELOOP_TEST_CLOUD_NODE_OPTIONS ? { NODE_OPTIONS: process.env.EDGELOOP_TEST_CLOUD_NODE_OPTIONS } : {}),
      ...deps.env,
    },
    // no IPC channel: with one, main.ts would not re-execute itself with the cloud's V8 defaults
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
    if (process.env.EDGELOOP_TEST_LOGS === '1') process.stderr.write(chunk);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit');
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref());
    if ((await Promise.race([exited.then(() => 'exited'), timer])) !== 'exited') {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the cloud's process exited (${child.exitCode ?? child.signalCode}) before it was healthy:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the cloud's process was not healthy within ${START_TIMEOUT_MS} ms:\n${output}`);
      const status = await fetch(`${url}/api/v1/health`).then(
        (res) => res.status,
        () => 0,
      );
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const nodeFlags = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((arg) => arg.startsWith('--'));
    const missing = (CLOUD_PROCESS_DEFAULTS.nodeFlags ?? []).filter(({ flag, value }) => !nodeFlags.includes(`${flag}=${value}`));
    if (missing.length > 0)
      throw new Error(`the cloud's process runs without its V8 defaults ${missing.map((m) => m.flag).join(', ')}: ${nodeFlags.join(' ')}`);
    const { env: _env, stop: stopDeps, ...rest } = deps;
    return {
      ...rest,
      pid: child.pid!,
      nodeFlags,
      url,
      api: adminApi(() => url, deps.adminToken),
      output: () => output,
      async stop() {
        await stopChild();
        await stopDeps();
      },
    };
  } catch (err) {
    await stopChild();
    await deps.stop();
    throw err;
  }
}
