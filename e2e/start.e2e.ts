import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');

/** The README's first command: `npm start` runs the whole embedded stack, shows recognitions, and stops cleanly. */
describe('edgeloop start (npm start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-start-'));
  let output = '';
  let exitCode: number | null = null;

  beforeAll(async () => {
    // the production build of `npm start` (no tests or test kits), without emptying dist/ under other processes
    execFileSync(process.execPath, [join(root, 'scripts', 'build-dist.js'), '--keep'], { cwd: root });
    const child = spawn(process.execPath, [join(root, 'dist', 'apps', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--duration', '85', '--fps', '4', '--change-after', '25'], {
      cwd: root,
      // the embedded mode: PGlite, whatever DATABASE_URL the test run was given for the repository tests
      env: { ...process.env, DATABASE_URL: '', EDGELOOP_CLI_CONFIG: join(dataDir, 'cli.json') },
    });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    exitCode = await new Promise((done) => child.on('exit', (code) => done(code)));
  }, 180_000);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints where every part listens and the first admin token', () => {
    expect(output).toMatch(/cloud API +http:\/\/127\.0\.0\.1:\d+\/api\/v1/);
    expect(output).toMatch(/MQTT broker +mqtt:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/Redis +redis:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/S3 server +http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/admin token +elt_/);
  });

  it('registers the gallery model, provisions two workers and rolls the model out to them', () => {
    expect(output).toMatch(/registered the base bundle as face-base@1/);
    expect(output).toMatch(/registered face-id@1 with a head for franck/);
    expect(output).toMatch(/provisioned edge-1 and edge-2/);
    expect(output).toMatch(/rollout\| dep_\w+: completed/);
    expect(output).toMatch(/webhook\| deployment\.completed face-id@1 — signature verified/);
  });

  it('recognises franck on both workers: frame lines are in each worker\'s log file, not on the terminal', () => {
    for (const device of ['edge-1', 'edge-2']) {
      const log = readFileSync(join(dataDir, 'logs', `${device}.log`), 'utf8');
      const recognitions = log.match(new RegExp(`\\[${device} InferenceLoop\\] frame \\d+ .*: franck score`, 'g')) ?? [];
      expect(recognitions.length).toBeGreaterThanOrEqual(5);
    }
    expect(output).toContain(`logs           ${join(dataDir, 'logs')}`);
    expect(output).not.toMatch(/InferenceLoop\] frame/);
  });

  it('detects drift after the lighting change and delivers a signed webhook', () => {
    expect(output).toMatch(/camera \| the lighting changes on edge-2/);
    expect(output).toMatch(/webhook\| drift\.detected face-id@1 on .*(brightness|contrast|sharpness)_shift .* — signature verified/);
    expect(output.match(/webhook\| drift\.detected/g)).toHaveLength(1);
  });

  it('stops cleanly with exit code 0', () => {
    expect(output).toMatch(/stopped\./);
    expect(exitCode).toBe(0);
  });
});
