/**
 * Rollout benchmark (not a test): a real cloud (its production entry point as a child process, embedded
 * aedes broker, PGlite, Redis, s3rver) and a fleet of lightweight simulated devices speaking the real
 * protocol on loopback (in a worker thread), all provisioned through the API. Measures how long a deployment with strategy
 * `all` takes to converge for 200 and 1,000 devices, and the bytes a device downloads for a head-only
 * update against the full bundle. Prints a table and writes bench/results/rollout.json.
 *
 *   npm run bench:rollout [-- --stack embedded|postgres] [--replicas N] [--sizes 1000,5000] [--runs 3]
 *
 * --stack postgres: PostgreSQL + Mosquitto (dynamic security) instead of PGlite and the embedded broker;
 * --replicas N (with --stack postgres): one API replica (EDGELOOP_WORKERS=false) and N worker replicas in
 * one shared subscription group, as separate processes. Every run also samples each process's CPU
 * (the cloud replicas, the broker, Redis, PostgreSQL, the bench with its simulated fleet).
 * The default configuration writes bench/results/rollout.json; others rollout-<stack>[-replicas-N][-n<sizes>].json
 * (the sizes are named when they are not the default 200,1000).
 *
 * BENCH_ROLLOUT_SIZES=200,1000  BENCH_ROLLOUT_RUNS=3  BENCH_ROLLOUT_TICK_MS=250  BENCH_ROLLOUT_APPLY_MS=50
 * BENCH_ROLLOUT_DOWNLOADERS=20  BENCH_ROLLOUT_IDENTITIES=50
 * Every run is probed inside the cloud (SQL statements, service calls, rollout ticks: cloud-probe-hook.ts);
 * one more run at the largest size also CPU-profiles it (summary in the results; BENCH_ROLLOUT_PROFILE=0
 * skips that run, BENCH_ROLLOUT_PROFILE_DIR keeps the .cpuprofile)
 */
import { ApiClient } from '@edgeloop/client';
import { apiPaths } from '@edgeloop/contracts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '../common/repo-root';
import { writeResultsFile } from '../common/results-file';
import { stopOnSignal } from '../common/stop-on-signal';
import { uploadVersions } from './bundle';
import { breakdown, CloudProbe, detail, type CloudDetail } from './cloud-probe';
import { measureConvergence, type ConvergenceContext, type ConvergenceRun } from './convergence';
import { DeploymentEvents } from './deployment-events';
import { measureDownloads, type DownloadRun } from './downloads';
import { Fleet, type JoinTiming } from './fleet';
import { cpuCalibrationMs, machine, round } from './report';
import { ProcessCpuSampler } from './process-cpu';
import { startStack, type RolloutStack, type StackKind } from './stack';
import { printSummary, resultsDocument } from './summary';

const BUCKET = 'edgeloop';
const MODEL = 'face-id';
const FLEET_GROUP = 'fleet';
const DOWNLOADER_GROUP = 'dl';
const DEFAULT_SIZES = '200,1000';

const out = (line = '') => process.stdout.write(`${line}\n`);

export interface BenchSettings {
  sizes: number[];
  runs: number;
  tickMs: number;
  applyMs: number;
  downloaders: number;
  identities: number;
  profile: boolean;
  stack: StackKind;
  /** 0: one cloud process; N: one API replica and N worker replicas. */
  replicas: number;
}

/** `--name value` from the command line, else the environment variable, else the default. */
function option(args: string[], flag: string, env: string): string | undefined {
  const at = args.indexOf(flag);
  if (at >= 0) {
    const value = args[at + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
    return value;
  }
  return process.env[env];
}

export function settingsFromArgs(args: string[]): BenchSettings {
  const known = new Set(['--stack', '--replicas', '--sizes', '--runs']);
  for (const arg of args.filter((a) => a.startsWith('--'))) if (!known.has(arg)) throw new Error(`unknown option ${arg} (known: ${[...known].join(', ')})`);
  const int = (flag: string | null, name: string, fallback: number, min: number) => {
    const value = Number((flag ? option(args, flag, name) : process.env[name]) ?? fallback);
    if (!Number.isInteger(value) || value < min) throw new Error(`${flag ?? name} must be an integer ≥ ${min}`);
    return value;
  };
  const sizes = (option(args, '--sizes', 'BENCH_ROLLOUT_SIZES') ?? DEFAULT_SIZES).split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes (BENCH_ROLLOUT_SIZES) is a list of device counts');
  const stack = option(args, '--stack', 'BENCH_ROLLOUT_STACK') ?? 'embedded';
  if (stack !== 'embedded' && stack !== 'postgres') throw new Error(`--stack is embedded or postgres, not ${stack}`);
  const replicas = int('--replicas', 'BENCH_ROLLOUT_REPLICAS', 0, 0);
  if (replicas > 0 && stack !== 'postgres') throw new Error('--replicas needs --stack postgres (the embedded broker and PGlite live in one process)');
  return {
    sizes: [...sizes].sort((a, b) => a - b),
    runs: int('--runs', 'BENCH_ROLLOUT_RUNS', 3, 1),
    tickMs: int(null, 'BENCH_ROLLOUT_TICK_MS', 250, 100),
    applyMs: int(null, 'BENCH_ROLLOUT_APPLY_MS', 50, 0),
    downloaders: int(null, 'BENCH_ROLLOUT_DOWNLOADERS', 20, 1),
    identities: int(null, 'BENCH_ROLLOUT_IDENTITIES', 50, 1),
    // the probe is loaded into a single cloud process only
    profile: process.env.BENCH_ROLLOUT_PROFILE !== '0' && replicas === 0,
    stack,
    replicas,
  };
}

/** Where a configuration's results go: the default one in rollout.json, the others beside it. */
export function resultsName(settings: Pick<BenchSettings, 'stack' | 'replicas' | 'sizes'>): string {
  const sizes = settings.sizes.join(',') === DEFAULT_SIZES ? '' : `-n${settings.sizes.join('-')}`;
  if (settings.stack === 'embedded' && sizes === '') return 'rollout.json';
  return `rollout-${settings.stack}${settings.replicas > 0 ? `-replicas-${settings.replicas}` : ''}${sizes}.json`;
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const loadBefore = os.loadavg();
  const calibrationBefore = cpuCalibrationMs();
  const settings = settingsFromArgs(process.argv.slice(2));
  const root = repoRoot();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-rollout-'));
  let stack: RolloutStack | undefined;
  let fleet: Fleet | undefined;
  let events: DeploymentEvents | undefined;
  const stopAll = stopOnSignal(async () => {
    events?.close();
    await fleet?.stop();
    await stack?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  try {
    const probe = new CloudProbe(process.env.BENCH_ROLLOUT_PROFILE_DIR ?? path.join(workDir, 'profiles'));
    stack = await startStack({
      kind: settings.stack,
      replicas: settings.replicas,
      mainJs: path.join(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js'),
      cwd: root,
      workDir,
      bucket: BUCKET,
      env: { EDGELOOP_ROLLOUT_TICK_MS: String(settings.tickMs) },
      preload: probe.preload,
    });
    const probed = stack.probed;
    if (probed) probe.attach(probed.child);
    out(`${stack.describe()}; rollout tick ${settings.tickMs} ms`);
    const cloud = { url: stack.url, adminToken: stack.adminToken, mqttUrl: stack.mqttUrl };
    const sampler = new ProcessCpuSampler();
    const watched = () => [...stack!.processes(), { name: 'bench (simulated fleet thread, s3rver, API client)', pid: process.pid, alone: true }];
    const api = new ApiClient({ baseUrl: cloud.url, token: cloud.adminToken, timeoutMs: 120_000 });
    const { keys } = await api.get<{ keys: Array<{ publicKey: string }> }>(apiPaths.keys());

    const versionCount = Math.max(2, settings.sizes.length * settings.runs + (settings.profile ? 1 : 0));
    const uploadDir = path.join(workDir, 'bundle');
    mkdirSync(uploadDir);
    const started = performance.now();
    const versions = await uploadVersions(api, path.join(root, 'models', 'base'), uploadDir, MODEL, versionCount, settings.identities);
    out(`registered ${MODEL}@1..${versionCount} (base bundle + a head of ${settings.identities} identities each) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    fleet = new Fleet({ api, cloudUrl: cloud.url, mqttUrl: cloud.mqttUrl, publicKeyPem: keys[0].publicKey, applyMs: settings.applyMs });
    events = new DeploymentEvents(api);
    await events.open();
    const context = (group: string, ids: string[]): ConvergenceContext => ({ api, fleet: fleet!, events: events!, group, ids });

    const resultFile = path.join(root, 'bench', 'results', resultsName(settings));
    const save = (measured: Pick<Parameters<typeof resultsDocument>[0], 'joins' | 'convergence' | 'downloads' | 'profile'>) => {
      const document = resultsDocument({
        settings,
        source: sourceState(root),
        machine: machine(loadBefore, calibrationBefore),
        versions,
        ...measured,
        cloudLog: stack!.logLines(),
        benchSeconds: (performance.now() - benchStarted) / 1000,
      });
      writeResultsFile(resultFile, document);
      return document;
    };
    const joins: Array<JoinTiming & { group: string }> = [];
    const convergence: ConvergenceRun[] = [];
    let profile: (CloudDetail & { run: ConvergenceRun }) | undefined;
    let next = 0;
    for (const size of settings.sizes) {
      const have = fleet.ids(FLEET_GROUP).length;
      if (size > have) {
        const timing = await fleet.join(FLEET_GROUP, size - have);
        joins.push({ group: FLEET_GROUP, ...timing });
        out(
          `fleet: +${timing.devices} devices provisioned in ${(timing.provisionMs / 1000).toFixed(1)} s, connected in ${(timing.connectMs / 1000).toFixed(1)} s, listed online after ${(timing.settledMs / 1000).toFixed(1)} s more`,
        );
      }
      const ids = fleet.ids(FLEET_GROUP).slice(0, size);
      const profiling = settings.profile && size === settings.sizes.at(-1);
      for (let run = 1; run <= settings.runs + (profiling ? 1 : 0); run++) {
        const model = versions[next++].ref;
        // one more run at the largest size with a CPU profile of the cloud: not among the timed runs
        const profiled = profiling && run > settings.runs;
        if (probed) await probe.start({ cpuProfile: profiled });
        sampler.start(watched());
        const loadBeforeRun = os.loadavg();
        const result = await measureConvergence(context(FLEET_GROUP, ids), model);
        result.processCpu = sampler.stop();
        result.loadAverage = { before: loadBeforeRun.map((v) => round(v, 2)), after: os.loadavg().map((v) => round(v, 2)) };
        if (probed) {
          const probedRun = await probe.stop();
          result.cloud = breakdown(probedRun.message, result.answeredAt);
          if (profiled) profile = { ...detail(probedRun), run: result };
        }
        if (!profiled) convergence.push(result);
        out(
          `N=${size} ${profiled ? 'profiled run' : `run ${run}`} (${result.model}): POST ${Math.round(result.postMs)} ms; from its answer: all received ${Math.round(result.allReceivedMs)} ms, ` +
            `all active ${Math.round(result.allActiveMs)} ms, completed ${Math.round(result.completedTickMs)}–${Math.round(result.completedSeenMs)} ms` +
            (result.failures.length ? `; FAILURES: ${result.failures.slice(0, 3).join('; ')}` : '') +
            `; CPU % mean (peak 1 s): ${result.processCpu.map((p) => `${p.name.split(' ')[0]} ${p.meanPercent} (${p.peakPercent})`).join(', ')}`,
        );
        // what is measured so far is kept even if a larger size does not finish
        save({ joins, convergence, downloads: [], profile });
        await fleet.settled(FLEET_GROUP, ids, model);
      }
    }

    const timing = await fleet.join(DOWNLOADER_GROUP, settings.downloaders, path.join(workDir, 'caches'));
    joins.push({ group: DOWNLOADER_GROUP, ...timing });
    const downloaders = fleet.ids(DOWNLOADER_GROUP);
    const downloads: DownloadRun[] = [];
    for (const version of versions.slice(0, 2)) {
      const run = await measureDownloads(context(DOWNLOADER_GROUP, downloaders), version.ref);
      downloads.push(run);
      out(`downloaders: ${run.model} → ${run.bytesPerDevice.median} bytes per device (${run.fetchedPerDevice} blobs fetched, ${run.cacheHitsPerDevice} cached), all active ${Math.round(run.convergence.allActiveMs)} ms`);
      await fleet.settled(DOWNLOADER_GROUP, downloaders, version.ref);
    }

    const results = save({ joins, convergence, downloads, profile });
    printSummary(results, out);
    out(`wrote ${path.relative(root, resultFile)} in ${results.benchSeconds} s`);
  } catch (err) {
    // what the cloud said before the failure (warn level and above)
    for (const line of stack?.logLines().slice(-20) ?? []) out(`cloud: ${line.slice(0, 400)}`);
    throw err;
  } finally {
    await stopAll();
  }
}

/** The commit under test and how many files of apps/ and libs/ differ from it (the cloud is built from the working tree). */
function sourceState(root: string): { commit: string | null; uncommittedFilesInAppsAndLibs: number | null } {
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const changed = git('status', '--porcelain', '--', 'apps', 'libs').split('\n').filter(Boolean).length;
    return { commit: git('rev-parse', 'HEAD').trim(), uncommittedFilesInAppsAndLibs: changed };
  } catch {
    return { commit: null, uncommittedFilesInAppsAndLibs: null };
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:rollout failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
