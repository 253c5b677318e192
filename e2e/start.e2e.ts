import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');

/** The README's first command: `npm start` runs the whole embedded stack, shows recognitions, and stops cleanly. */
describe('edgeloop start (npm start)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-start-'));
  let output = '';
  let exitCode: number | null = null;

  beforeAll(async () => {
    execFileSync(process.execPath, [join(root, 'node_modules', '@swc', 'cli', 'bin', 'swc.js'), 'apps', 'libs', '-d', 'dist', '--copy-files', '--quiet'], {
      cwd: root,
    });
    const child = spawn(process.execPath, [join(root, 'dist', 'apps', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--duration', '25', '--fps', '4'], {
      cwd: root,
      env: { ...process.env, EDGELOOP_CLI_CONFIG: join(dataDir, 'cli.json') },
    });
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    exitCode = await new Promise((done) => child.on('exit', (code) => done(code)));
  }, 120_000);

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('prints where every part listens and the first admin token', () => {
    expect(output).toMatch(/cloud API +http:\/\/127\.0\.0\.1:\d+\/api\/v1/);
    expect(output).toMatch(/MQTT broker +mqtt:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/Redis +redis:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/S3 server +http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/admin token +elt_/);
  });

  it('registers the base bundle and recognises franck in the clip', () => {
    expect(output).toMatch(/registered the base bundle as face-base@1/);
    const recognitions = output.match(/EdgeWorker\] frame \d+ .*: franck score/g) ?? [];
    expect(recognitions.length).toBeGreaterThanOrEqual(5);
  });

  it('stops cleanly with exit code 0', () => {
    expect(output).toMatch(/stopped\./);
    expect(exitCode).toBe(0);
  });
});
