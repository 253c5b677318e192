import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'apps', 'cli', 'main.js');

function run(node: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((done) => {
    let output = '';
    const child = spawn(node, [cli, ...args], { cwd: root, env: { ...process.env, DATABASE_URL: '', ...env } });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const kill = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(kill);
      done({ code, output, ms: Date.now() - started });
    });
  });
}

/** Node.js older than the engines field, installed on this machine (Debian's), if any. */
function oldNode(): string | undefined {
  return ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
    if (!existsSync(path)) return false;
    const [major, minor] = spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim().split('.').map(Number);
    return major < 22 || (major === 22 && minor < 13);
  });
}

/**
 * `edgeloop start` and its edge workers: a Node.js too old for them is refused up front with one line, and a
 * worker that dies — here at boot, before the rollout — is reported at once and ends the run with exit 1,
 * instead of "press Ctrl-C to stop" over a dead worker.
 */
describe('edgeloop start watches its workers', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-start-workers-'));

  beforeAll(() => {
    // the production build of `npm start` (no tests or test kits), without emptying dist/ under other processes
    execFileSync(process.execPath, [join(root, 'scripts', 'build-dist.js'), '--keep'], { cwd: root });
  }, 180_000);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const old = oldNode();
  if (!old) process.stdout.write('start-workers.e2e: no Node.js older than 22.13 on this machine; the engine check is not exercised\n');
  (old ? it : it.skip)('refuses a Node.js older than the engines field with one line, before starting anything', async () => {
    const result = await run(old!, ['start', '--data-dir', join(dataDir, 'old-node')], {}, 30_000);
    expect(result.code).toBe(1);
    expect(result.output.trim().split('\n')).toEqual([expect.stringMatching(/^edgeloop: Node\.js \d+\.\d+\.\d+ \(.*\) is too old: the edge workers need Node\.js >=22\.13\.0 \(node:sqlite\)/)]);
  });

  it('reports a worker that dies at boot and stops everything with exit code 1', async () => {
    // edge-2 dies as it starts (exit 3), before the rollout; everything else runs as usual
    const crash = join(dataDir, 'crash-edge-2.js');
    writeFileSync(crash, "if (process.env.EDGE_DEVICE_ID === 'edge-2') { process.stderr.write('simulated crash at boot\\n'); process.exit(3); }\n");
    const result = await run(
      process.execPath,
      ['start', '--data-dir', join(dataDir, 'crash'), '--duration', '240', '--fps', '2'],
      { NODE_OPTIONS: `--require ${crash}`, EDGELOOP_CLI_CONFIG: join(dataDir, 'cli.json') },
      300_000,
    );
    process.stdout.write(`edgeloop start with edge-2 dying at boot: exit ${result.code} after ${result.ms} ms\n`);
    expect(result.output).toMatch(/edge-2 +\| simulated crash at boot/);
    expect(result.output).toMatch(/edge-2 exited with code 3 \(its last lines are above, prefixed "edge-2\|"; its whole log: .*\/logs\/edge-2\.log\)/);
    expect(result.output).toMatch(/stopping \(edge-2 exited with code 3\)/);
    expect(result.output).not.toMatch(/press Ctrl-C to stop/);
    expect(result.output).not.toMatch(/--duration 240s/);
    expect(result.code).toBe(1);
  }, 320_000);
});
