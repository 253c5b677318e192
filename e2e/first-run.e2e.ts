import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'apps', 'cli', 'main.js');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** Every command in the README's `sh` blocks, comments stripped, `a && b` as two commands. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const commands: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command && !command.startsWith('#')) commands.push(...command.split('&&').map((c) => c.trim()));
    }
  }
  return commands;
}

/**
 * README commands this test does not run, and where they run instead: installing and the whole test suite cannot
 * run inside a test, and the checks over the whole tree are steps of their own in `.ci/run`.
 */
const RUN_BY_CI: Record<string, string> = {
  'sudo apt-get install -y redis-server mosquitto mosquitto-clients chromium nftables docker-compose': 'apt-get install -y -qq --no-install-recommends',
  'npm install': 'npm ci',
  'npm test': 'npm test',
  'npm run typecheck': 'npm run -s typecheck',
  'npm run lint': 'npm run -s lint',
  'docker-compose config -q': 'docker-compose -f docker-compose.yml config -q',
};
/** Benchmarks take minutes of both cores; their figures are in docs/benchmarks.md. */
const BENCHMARKS = /^npm run bench:/;

/** `npm run X -- args`: what the script runs after its build step (the test builds once with swc: `npm run build` starts with `rm -rf dist`). */
function scriptAfterBuild(script: string): string[] {
  const body = pkg.scripts[script];
  expect(body).toMatch(/^npm run -s build && node dist\/apps\/cli\/main\.js /);
  return body.replace(/^npm run -s build && node dist\/apps\/cli\/main\.js /, '').split(' ');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(kill);
      done({ code, stdout, stderr });
    });
  });
}

/** A command as printed (`npx edgeloop status`), run with the shell's word splitting (none of ours quote). */
function runPrinted(command: string, env: Record<string, string>): Promise<Run> {
  const [program, ...args] = command.split(/\s+/);
  return run(program, args, env);
}

/** What `npm install` / `npm ci` on a fresh clone read: the lock must say what package.json says, or npm rewrites it. */
describe('the install a new user runs', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };

  it("the lock's root entry is package.json's (npm install on a fresh clone leaves the lock unchanged)", () => {
    const fields = ['name', 'version', 'license', 'bin', 'engines', 'dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];
    const pick = (entry: Record<string, unknown>) => Object.fromEntries(fields.map((f) => [f, entry[f]]));
    expect(pick(lock.packages[''])).toEqual(pick(manifest));
  });

  it('installs every override at its pinned version, and Nest still detects file types with it', async () => {
    const overrides = manifest.overrides as Record<string, Record<string, string>>;
    expect(overrides['@nestjs/common']['file-type']).toBeDefined();
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', '@nestjs', 'common', 'node_modules', 'file-type', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(installed.version).toBe(overrides['@nestjs/common']['file-type']);
    // the one use Nest makes of file-type: FileTypeValidator's magic-number check (ParseFilePipe)
    const { FileTypeValidator } = await import('@nestjs/common');
    const validator = new FileTypeValidator({ fileType: 'image/png' });
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    const jpeg = Buffer.from('ffd8ffe000104a46494600010100000100010000ffdb', 'hex');
    expect(await validator.isValid({ mimetype: 'image/png', buffer: png } as never)).toBe(true);
    const disguised = { mimetype: 'image/png', buffer: jpeg };
    expect(await validator.isValid(disguised as never)).toBe(false);
    expect(validator.buildErrorMessage(disguised as never)).toBe('Validation failed (current file type is image/jpeg, expected type is image/png)');
  });
});

/**
 * The first ten minutes of a new user: every command the README and the `npm start` banner tell them to type
 * works as printed. One `npm start` (its command after the build) serves the commands that need a running
 * cloud; the others run alone.
 */
describe('the commands a new user is told to type', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-first-run-'));
  // what `npx edgeloop status` in a second terminal finds: the data folder and the CLI login of this run
  const env = { EDGELOOP_DATA_DIR: dataDir, EDGELOOP_CLI_CONFIG: join(dataDir, 'cli.json'), DATABASE_URL: '' };
  let start: ChildProcessWithoutNullStreams | undefined;
  let startOutput = '';

  beforeAll(() => {
    // the production build of `npm start` (no tests or test kits), without emptying dist/ under other processes
    execFileSync(process.execPath, [join(root, 'scripts', 'build-dist.js'), '--keep'], { cwd: root });
  }, 120_000);

  afterAll(() => {
    start?.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the README prints only commands that this test or .ci/run runs', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    const here = new Set(['npm start', 'npx edgeloop status', 'npx edgeloop devices ls']);
    for (const command of readmeCommands()) {
      if (here.has(command) || command.startsWith('npm run infer -- ') || BENCHMARKS.test(command)) continue;
      expect({ command, ci: RUN_BY_CI[command] ? ci.includes(RUN_BY_CI[command]) : 'not run anywhere' }).toEqual({ command, ci: true });
    }
  });

  it('npm run infer, as the README prints it', async () => {
    const line = readmeCommands().find((c) => c.startsWith('npm run infer -- '));
    expect(line).toBeDefined();
    const args = line!.replace('npm run infer -- ', '').split(/\s+/);
    const result = await run(process.execPath, [cli, ...scriptAfterBuild('infer'), ...args], {}, 120_000);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout.trim().split('\n')[0]) as { faces: Array<{ identity: string | null }> };
    expect(answer.faces.map((f) => f.identity)).toContain('franck');
  }, 150_000);

  describe('with npm start running', () => {
    let banner: string[] = [];

    beforeAll(async () => {
      start = spawn(process.execPath, [cli, ...scriptAfterBuild('start')], { cwd: root, env: { ...process.env, ...env } });
      start.stdout.on('data', (c: Buffer) => (startOutput += c.toString()));
      start.stderr.on('data', (c: Buffer) => (startOutput += c.toString()));
      const deadline = Date.now() + 240_000;
      const ready = [
        /rollout\| dep_\w+: completed/,
        /press Ctrl-C to stop/,
        /status \| edge-1: online active face-id@1/,
        /status \| edge-2: online active face-id@1/,
      ];
      while (!ready.every((line) => line.test(startOutput)) && start.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
      banner = [...startOutput.matchAll(/`((?:npx edgeloop|npm run|npm start)[^`]*)`/g)].map((m) => m[1]);
    }, 260_000);

    it('starts, rolls the model out and keeps frame lines off the terminal (they are in the log files it names)', () => {
      expect(startOutput).toMatch(/rollout\| dep_\w+: completed/);
      expect(startOutput).not.toMatch(/InferenceLoop\] frame/);
      const logs = /logs +(\S+)/.exec(startOutput)?.[1];
      expect(logs).toBe(join(dataDir, 'logs'));
      expect(startOutput).toMatch(/status \| edge-1: online active face-id@1/);
      expect(startOutput).toMatch(/status \| edge-2: online active face-id@1/);
    });

    it('the banner tells the user to try npx edgeloop devices ls and npx edgeloop status', () => {
      expect(banner).toEqual(expect.arrayContaining(['npx edgeloop devices ls', 'npx edgeloop status']));
    });

    it('every command in the banner and the README second-terminal lines works as printed, with no npm warning', async () => {
      const printed = [...new Set([...banner, ...readmeCommands().filter((c) => c.startsWith('npx edgeloop '))])];
      expect(printed.length).toBeGreaterThanOrEqual(2);
      for (const command of printed) {
        const result = await runPrinted(command, env);
        expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
        if (command === 'npx edgeloop devices ls') {
          expect(result.stdout).toMatch(/^edge-1\tonline\tdemo\tface-id@1\tactive\t/m);
          expect(result.stdout).toMatch(/^edge-2\tonline\tdemo\tface-id@1\tactive\t/m);
        }
        if (command === 'npx edgeloop status') {
          const cloudUrl = /cloud API +(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(startOutput)![1];
          expect(result.stdout).toMatch(/^edgeloop is running \(pid \d+/);
          expect(result.stdout).toContain(`dashboard      ${cloudUrl}/`);
          expect(result.stdout).toMatch(/^edge-1 +online +active +face-id@1 +\d+\.\d fps +\d+ recognised +backlog \d+$/m);
          expect(result.stdout).toMatch(/^last rollout +dep_\w+ face-id@1: completed$/m);
        }
      }
    }, 240_000);

    it('npx edgeloop status --json gives the same for scripts', async () => {
      const result = await runPrinted('npx edgeloop status --json', env);
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as {
        running: boolean;
        start: { pid: number; logs: Record<string, string> };
        loop: { devices: Array<{ id: string; state: string }> };
      };
      expect(status.running).toBe(true);
      expect(status.start.pid).toBe(start!.pid);
      expect(Object.keys(status.start.logs).sort()).toEqual(['cloud', 'edge-1', 'edge-2', 'start']);
      expect(status.loop.devices.map((d) => `${d.id} ${d.state}`).sort()).toEqual(['edge-1 active', 'edge-2 active']);
    }, 120_000);

    it('stops on Ctrl-C, and then npx edgeloop status says nothing runs', async () => {
      const exited = new Promise<number | null>((done) => start!.once('exit', (code) => done(code)));
      start!.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(startOutput).toMatch(/stopping \(Ctrl-C\)…/);
      expect(startOutput).toMatch(/\nstopped\.\n$/);
      const result = await runPrinted('npx edgeloop status', env);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain(`edgeloop is not running in ${dataDir}`);
    }, 120_000);
  });
});
