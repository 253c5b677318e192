import { missingNodeFlags } from '@edgeloop/config';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLOUD_PROCESS_DEFAULTS } from '../app/process-defaults';
import { adminApi, startCloudDependencies, type CloudDependencies, type CloudFixture, type CloudFixtureOptions } from './cloud-fixture';

const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

export interface CloudProcessFixtureOptions extends CloudFixtureOptions {
  /**
   * Node/V8 flags on the cloud's command line, before its entry (`--heap-growing-percent=50`, `--trace-gc`), added to
   * those of EDGELOOP_TEST_CLOUD_NODE_FLAGS (space-separated). Node refuses V8 heap flags in NODE_OPTIONS, so these are
   * the way to run the cloud with other ones: main.ts keeps a flag given on the command line instead of its default.
   */
  nodeFlags?: readonly string[];
}

export interface CloudProcessFixture extends Omit<CloudDependencies, 'env' | 'stop'> {
  /** The cloud's process id (the same after main.ts re-executed itself with its V8 defaults). */
  pid: number;
  /** The node flags the cloud's process runs with (its command line): its V8 defaults, or the values asked for instead. */
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
 * becomes its NODE_OPTIONS, and `nodeFlags` with EDGELOOP_TEST_CLOUD_NODE_FLAGS go on its command line. It refuses to go on
 * unless the cloud runs with each of its V8 defaults or with the value asked for instead, and with every flag asked for.
 */
export async function startCloudProcessFixture(options: CloudProcessFixtureOptions): Promise<CloudProcessFixture> {
  const { nodeFlags: optionFlags = [], ...fixtureOptions } = options;
  const askedFlags = [...optionFlags, ...(process.env.EDGELOOP_TEST_CLOUD_NODE_FLAGS ?? '').split(/\s+/)].filter((flag) => flag.length > 0);
  const expectedFlags = flagsToExpect(askedFlags);
  const deps = await startCloudDependencies(fixtureOptions);
  const url = `http://127.0.0.1:${deps.env.EDGELOOP_HTTP_PORT}`;
  const child = spawn(process.execPath, [...askedFlags, join(__dirname, 'cloud-process-entry.js')], {
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
  // with EDGELOOP_TEST_LOGS=1, each whole line with the time it arrived here on the monotonic clock (ms), the clock the
  // floods' trace prints their start on: a collection that --trace-gc reports (in ms since the cloud's isolate started)
  // can then be placed in the floods
  const forward = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (process.env.EDGELOOP_TEST_LOGS !== '1') return;
      const at = (Number(process.hrtime.bigint() / 1000n) / 1000).toFixed(1);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) process.stderr.write(`[cloud @${at}] ${line}\n`);
    });
  };
  forward(child.stdout);
  forward(child.stderr);
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
    const running = new Set(nodeFlags.map(normalizeFlag));
    const missing = expectedFlags.filter((flag) => !running.has(flag));
    if (missing.length > 0)
      throw new Error(`the cloud's process runs without ${missing.join(' ')} (its V8 defaults, or the flags asked for): ${nodeFlags.join(' ')}`);
    if (process.env.EDGELOOP_TEST_LOGS === '1') process.stderr.write(`the cloud's process ${child.pid} runs with ${nodeFlags.join(' ')}\n`);
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

/** `--heap_growing_percent=50` as `--heap-growing-percent=50`: node takes either spelling of a flag's name. */
function normalizeFlag(arg: string): string {
  const eq = arg.indexOf('=');
  const name = eq < 0 ? arg : arg.slice(0, eq);
  return `--${name.slice(2).replace(/_/g, '-')}${eq < 0 ? '' : arg.slice(eq)}`;
}

/**
 * What the cloud's command line must hold: each of its V8 defaults, or the value asked for instead (main.ts keeps a flag
 * given on the command line), and every flag asked for.
 */
function flagsToExpect(asked: readonly string[]): string[] {
  for (const arg of asked) if (!arg.startsWith('--')) throw new Error(`not a node flag: ${arg} (node flags are --name or --name=value, separated by spaces)`);
  const normalized = asked.map(normalizeFlag);
  for (const { flag } of CLOUD_PROCESS_DEFAULTS.nodeFlags ?? [])
    if (normalized.includes(normalizeFlag(flag)))
      throw new Error(`give ${flag} as ${flag}=<value>, so that the fixture can check the cloud runs with that value`);
  return [...new Set([...normalized, ...missingNodeFlags(asked, CLOUD_PROCESS_DEFAULTS).map(normalizeFlag)])];
}
