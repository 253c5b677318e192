import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import {
  freePort,
  isProcessAlive,
  listenOn,
  postgresAvailability,
  runningServerProcesses,
  ServerProcess,
  ServerStartError,
  startMosquitto,
  startRedis,
  stopAllStarted,
  waitUntilReady,
  waitUntilStopped,
} from '@edgeloop/harness';

afterAll(() => stopAllStarted());

describe('start failures', () => {
  it('a server that rejects its config fails fast with the tail of its log', async () => {
    const attempt = startMosquitto({ config: { extraLines: ['definitely_not_an_option true'] } });
    await expect(attempt).rejects.toThrow(ServerStartError);
    const error = (await attempt.catch((caught: unknown) => caught)) as ServerStartError;
    expect(error.message).toMatch(/^mosquitto failed to start: exited with code \d+/);
    expect(error.logTail).toContain('definitely_not_an_option');
    expect(existsSync(error.logFile)).toBe(false); // its temp dir is cleaned up
  });

  it('a fixed port that is taken is reported as such (free ports retry instead)', async () => {
    const blocker: Server = createServer();
    const port = await listenOn(blocker, 0);
    try {
      const error = (await startRedis({ port }).catch((caught: unknown) => caught)) as ServerStartError;
      expect(error).toBeInstanceOf(ServerStartError);
      expect(error.addressInUse).toBe(true);
      expect(error.message).toContain('Address already in use');
    } finally {
      blocker.close();
    }
  });

  it('a server that never gets ready is stopped after the time limit', async () => {
    const logFile = join(tmpdir(), `edgeloop-harness-sleep-${process.pid}.log`);
    const sleeper = ServerProcess.spawn({ name: 'sleeper', command: '/bin/sleep', args: ['30'], logFile });
    const started = Date.now();
    await expect(waitUntilReady(sleeper, async () => false, { timeoutMs: 300 })).rejects.toThrow(
      'sleeper failed to start: not ready after 0.3 s',
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(sleeper.running).toBe(false);
    rmSync(logFile, { force: true });
  });

  it('freePort() does not hand out the same port twice in a row', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    expect(new Set(ports).size).toBe(20);
  });
});

/**
 * A separate Node process loads the harness from source (TypeScript through @swc/core), starts
 * servers, prints their pids and ports, then waits to be killed.
 */
const CHILD_SCRIPT = `
const swc = require('@swc/core');
// the repo's @edgeloop/* aliases, as the build resolves them (.swcrc), so the harness's imports of other libs load
const { paths } = JSON.parse(require('fs').readFileSync('.swcrc', 'utf8')).jsc;
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformFileSync(filename, {
    swcrc: false,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2023', baseUrl: process.cwd(), paths },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
const harness = require(process.env.HARNESS_INDEX);
(async () => {
  const servers = [await harness.startRedis(), await harness.startMosquitto()];
  if (process.env.WITH_POSTGRES === '1') servers.push(await harness.startPostgres());
  process.stdout.write(JSON.stringify(servers.map((s) => ({ pid: s.pid, port: s.port, dir: s.dir }))) + '\\n');
  if (process.env.THEN === 'exit') process.exit(0);
  if (process.env.THEN === 'own-handler') {
    process.on('SIGTERM', () => harness.stopAllStarted().then(() => process.exit(7)));
  }
  setInterval(() => undefined, 1000);
})().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(3); });
`;

interface Started {
  child: ChildProcess;
  servers: { pid: number; port: number; dir: string }[];
}

function startChild(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT], {
    cwd: join(__dirname, '../../..'),
    env: { ...process.env, HARNESS_INDEX: join(__dirname, 'index.ts'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve({ child, servers: JSON.parse(line) as Started['servers'] });
    });
    child.once('exit', (code) => {
      if (!stdout.includes('\n')) reject(new Error(`child exited with ${code} before starting servers:\n${stderr}`));
    });
  });
}

async function expectAllGone(servers: Started['servers'], dirsRemoved: boolean): Promise<void> {
  for (const server of servers) {
    await expect(waitUntilStopped(server, 8_000)).resolves.toEqual({ processGone: true, portFree: true });
    expect(existsSync(server.dir)).toBe(!dirsRemoved);
    rmSync(server.dir, { recursive: true, force: true });
  }
}

describe('no orphans: servers die with the process that started them', () => {
  const withPostgres = postgresAvailability().available ? '1' : '0';

  it('when that process is killed with SIGKILL (parent-death signal)', async () => {
    const { child, servers } = await startChild({ WITH_POSTGRES: withPostgres });
    expect(servers.length).toBe(withPostgres === '1' ? 3 : 2);
    for (const server of servers) expect(isProcessAlive(server.pid)).toBe(true);
    child.kill('SIGKILL');
    await expectAllGone(servers, false); // nothing runs in a SIGKILLed process: the temp dirs stay
  });

  it('when it gets SIGTERM (signal hook, then the default termination)', async () => {
    const { child, servers } = await startChild({});
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGTERM');
    await expect(exited).resolves.toBe('SIGTERM');
    await expectAllGone(servers, true);
  });

  it('when it calls process.exit() without stopping them (exit hook)', async () => {
    const { child, servers } = await startChild({ THEN: 'exit' });
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    await expectAllGone(servers, true);
  });

  it('when the application handles SIGTERM itself, the harness leaves the shutdown to it', async () => {
    const { child, servers } = await startChild({ THEN: 'own-handler' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    await expect(exited).resolves.toBe(7); // the application's graceful path ran to its end
    await expectAllGone(servers, true);
  });

  it('stop() leaves no process of this test file running', async () => {
    const redis = await startRedis();
    const mosquitto = await startMosquitto();
    const before = runningServerProcesses().length;
    await Promise.all([redis.stop(), mosquitto.stop()]);
    expect(runningServerProcesses().length).toBe(before - 2);
  });
});
