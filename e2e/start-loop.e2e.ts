import type { DeploymentResponse, Identity, ModelVersionResponse, PredictionMetricsResponse, RetrainingRun } from '@edgeloop/contracts';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../apps/cli/testing/run-cli';

const root = resolve(__dirname, '..');
/** Start, drift, five passes of the newcomer 24 s apart, a run, a canary of two waves: about 5 minutes here. */
const STORY_TIMEOUT_MS = 14 * 60_000;

/**
 * `npm start` shows the whole loop: after the drift a person the gallery does not know passes a demo camera,
 * their faces arrive as hard examples, the demo labels them, a retraining run trains, calibrates, evaluates
 * and registers a candidate that passes the gate, its canary goes to one worker and then the other,
 * `production` moves to it, and the camera's worker names the newcomer. Checked from the output and the API.
 */
describe('edgeloop start: the whole loop after the drift', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-start-loop-'));
  const cliConfig = join(dataDir, 'cli.json');
  let child: ChildProcess;
  let output = '';
  let exitCode: number | null = null;
  let runs: RetrainingRun[] = [];
  let production: ModelVersionResponse;
  let canary: DeploymentResponse;
  let newcomer: Identity;
  let metrics: PredictionMetricsResponse;
  let printedCommand: { args: string[]; code: number; stderr: string } | undefined;

  beforeAll(async () => {
    // the production build of `npm start` (no tests or test kits), without emptying dist/ under other processes
    execFileSync(process.execPath, [join(root, 'scripts', 'build-dist.js'), '--keep'], { cwd: root });
    child = spawn(
      process.execPath,
      [join(root, 'dist', 'apps', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--duration', '1200', '--fps', '4', '--change-after', '75'],
      {
        cwd: root,
        // the embedded mode: PGlite, whatever DATABASE_URL the test run was given for the repository tests
        env: { ...process.env, DATABASE_URL: '', EDGELOOP_CLI_CONFIG: cliConfig },
      },
    );
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    // the story's last line, or its failure, or the stack's end
    const deadline = Date.now() + STORY_TIMEOUT_MS;
    while (Date.now() < deadline && child.exitCode === null && !/story +\| (the loop is closed|.*the loop story stopped)/.test(output)) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (child.exitCode === null) {
      // read the loop's outcome from the API while the stack still runs
      const login = JSON.parse(readFileSync(cliConfig, 'utf8')) as { url: string; token: string };
      const get = async <T>(path: string): Promise<T> => {
        const res = await fetch(`${login.url}/api/v1${path}`, { headers: { authorization: `Bearer ${login.token}` } });
        expect(res.status).toBe(200);
        return (await res.json()) as T;
      };
      runs = (await get<{ runs: RetrainingRun[] }>('/retraining/jobs?model=face-id')).runs;
      production = await get<ModelVersionResponse>('/models/face-id/versions/production');
      if (runs[0]?.canary.deploymentId) canary = await get<DeploymentResponse>(`/deployments/${runs[0].canary.deploymentId}`);
      newcomer = await get<Identity>('/identities/nicolas-cage');
      metrics = await get<PredictionMetricsResponse>('/metrics/predictions?model=face-id@2&device=edge-2');
      // the command the story prints for a person at a terminal is a real one: run now, it finds the person there
      const printed = /npx edgeloop (identities add .*)$/m.exec(output)?.[1];
      if (printed) {
        const args = [...printed.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
        printedCommand = { args, ...(await runCli(args, { EDGELOOP_CLI_CONFIG: cliConfig })) };
      }
      child.kill('SIGINT');
    }
    exitCode = await exited;
  }, STORY_TIMEOUT_MS + 120_000);

  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('tells the story to its end', () => {
    expect(output).not.toMatch(/the loop story stopped/);
    expect(output).toMatch(
      /story +\| the loop is closed in \d+ s: drift → hard examples → labels → retraining → canary → production face-id@2 → nicolas-cage recognised on edge-2/,
    );
  });

  it('shows the newcomer passing the camera, their faces suggested as a new person and labelled', () => {
    expect(output.match(/camera +\| nicolas-cage \(not in the gallery\) walks past edge-2 with strangers — pass \d of 5/g)).toHaveLength(5);
    expect(output).toMatch(/hard-ex\| the cloud suggests a new person: \d+ look-alike unknown faces/);
    expect(output).toMatch(/label +\| +or from a terminal, the person first: npx edgeloop identities add nicolas-cage --display-name "Nicolas Cage"/);
    expect(printedCommand).toMatchObject({ args: ['identities', 'add', 'nicolas-cage', '--display-name', 'Nicolas Cage'], code: 1 });
    expect(printedCommand?.stderr).toMatch(/an identity named "nicolas-cage" exists/);
    expect(output).toMatch(/label +\| labelled 20 faces nicolas-cage and confirmed 15 strangers unknown/);
    expect(newcomer).toMatchObject({ name: 'nicolas-cage', displayName: 'Nicolas Cage' });
  });

  it('prints each step of the run as it moves, and the gate passes the candidate', () => {
    for (const step of ['build-dataset', 'train-head', 'calibrate', 'evaluate', 'register']) {
      expect(output).toMatch(new RegExp(`retrain\\| ${step} done in \\d+\\.\\d s — run \\d+%`));
    }
    expect(output).toMatch(/retrain\| gate: passed — dirAtFpir/);
    expect(runs[0]).toMatchObject({ status: 'completed', autoCanary: true, candidate: { name: 'face-id', version: 2 }, report: { verdict: 'passed' } });
    expect(runs[0].dataset?.identities).toBe(5);
    expect(runs[0].dataset?.splits.holdout).toBeGreaterThan(0);
  });

  it('canaries the candidate on one worker, then the other, and moves production to it', () => {
    expect(canary).toMatchObject({ status: 'completed', model: { name: 'face-id', version: 2 }, strategy: { type: 'canary' } });
    expect(canary.devices.map((d) => d.batch).sort()).toEqual([0, 1]);
    expect(output).toMatch(/canary +\| \S+: active \(active\) — wave 1/);
    expect(output).toMatch(/canary +\| \S+: active \(active\) — wave 2/);
    expect(output).toMatch(/canary +\| face-id@2 promoted: production is now face-id@2/);
    expect(runs[0].canary.state).toBe('promoted');
    expect(production.version).toBe(2);
    expect(production.manifest.labels).toContain('nicolas-cage');
  });

  it('names the newcomer on the camera’s worker, and still franck on the other', () => {
    expect(output).toMatch(/recog +\| edge-2 names nicolas-cage \(score 0\.\d+\) with face-id@2/);
    expect(output).toMatch(/recog +\| edge-1 still names franck \(score 0\.\d+\) with face-id@2/);
    // the API's aggregates of the new version on the camera's worker: faces seen, and named
    const faces = metrics.rows.reduce((n, r) => n + r.faces, 0);
    const unknown = metrics.rows.reduce((n, r) => n + r.faces * r.unknownRate, 0);
    expect(faces).toBeGreaterThan(0);
    expect(unknown / faces).toBeLessThan(0.5);
  });

  it('delivers the signed webhooks of the run and of the canary', () => {
    expect(output).toMatch(/webhook\| retraining\.completed face-id: candidate face-id@2, gate passed — signature verified/);
    expect(output).toMatch(/webhook\| deployment\.completed face-id@2 — signature verified/);
  });

  it('stops cleanly with exit code 0', () => {
    expect(output).toMatch(/stopped\./);
    expect(exitCode).toBe(0);
  });
});
