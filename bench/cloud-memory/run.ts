/**
 * Cloud idle-memory benchmark (not a test): the production cloud (`apps/cloud/src/main.js` of the build this
 * bench runs from) started as its own process with its own defaults, on PostgreSQL and on PGlite in a folder,
 * with Redis, its embedded MQTT broker and s3rver (every feature module loaded), several starts each. After
 * its first healthy `GET /api/v1/health` and a settling time, it reads the cloud's /proc status and smaps
 * (resident memory by mapping) and, from a hook loaded with NODE_OPTIONS, V8's heap spaces and the modules
 * loaded. Prints a table and writes bench/results/cloud-memory.json.
 *
 *   npm run bench:cloud-memory   (BENCH_CLOUD_MEMORY_STARTS=3, BENCH_CLOUD_MEMORY_SETTLE_MS=10000,
 *                                 BENCH_CLOUD_MEMORY_ENGINES=postgres,pglite by default; BENCH_CLOUD_NODE_FLAGS, e.g.
 *                                 --heap-growing-percent=50, goes on the cloud's command line (bench/common/cloud-process.ts);
 *                                 BENCH_CLOUD_MEMORY_RESULTS=<name>.json writes bench/results/<name>.json and its history
 *                                 instead of cloud-memory.json, for runs the Summary must not count)
 */
import { startPostgres, startRedis, startS3, type PostgresServer, type RedisServer, type S3Server } from '@edgeloop/harness';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchCloudNodeFlags, startBenchCloud, type BenchCloud, type BenchCloudSql } from '../common/cloud-process';
import { repoRoot } from '../common/repo-root';
import { resultsNameFromEnv, writeResultsFile } from '../common/results-file';
import { stopOnSignal } from '../common/stop-on-signal';
import type { CloudMemorySnapshot } from './memory-hook';
import { procStatus, residentByMapping, type ProcStatus } from './proc-memory';

export const TARGET_IDLE_RSS_MB = 200;
const BUCKET = 'edgeloop';

type Engine = 'postgres' | 'pglite';

interface StartResult {
  engine: Engine;
  start: number;
  bootMs: number;
  loadAverage1m: number;
  /** The node flags the cloud ran with (its command line after its relaunch with its own defaults). */
  nodeFlags: string[] | null;
  status: ProcStatus;
  residentByMapping: Record<string, number>;
  v8: CloudMemorySnapshot | null;
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const round = (v: number, digits = 1) => Number(v.toFixed(digits));

async function main(): Promise<void> {
  const root = repoRoot();
  const starts = Math.max(1, Number(process.env.BENCH_CLOUD_MEMORY_STARTS ?? 3));
  const settleMs = Math.max(0, Number(process.env.BENCH_CLOUD_MEMORY_SETTLE_MS ?? 10_000));
  const engines = (process.env.BENCH_CLOUD_MEMORY_ENGINES ?? 'postgres,pglite').split(',').map((e) => e.trim()) as Engine[];
  for (const engine of engines) if (engine !== 'postgres' && engine !== 'pglite') throw new Error(`unknown engine ${engine} (postgres, pglite)`);
  const resultsName = resultsNameFromEnv('BENCH_CLOUD_MEMORY_RESULTS', 'cloud-memory.json');
  // the cloud and the hook of the build this bench runs from (dist-<name>/bench/cloud-memory → dist-<name>/apps)
  const mainJs = path.resolve(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js');
  const hookJs = path.join(__dirname, 'memory-hook.js');
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: build first (node scripts/build-dist.js --bench --out dist-NAME)`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-cloud-memory-'));
  let s3: S3Server | undefined;
  let redis: RedisServer | undefined;
  let postgres: PostgresServer | undefined;
  let cloud: BenchCloud | undefined;
  const stopAll = stopOnSignal(async () => {
    await cloud?.stop();
    await postgres?.stop();
    await redis?.stop();
    await s3?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  try {
    s3 = await startS3({ buckets: [BUCKET] });
    redis = await startRedis();
    if (engines.includes('postgres')) postgres = await startPostgres();
    const results: StartResult[] = [];
    const pgliteDir = path.join(workDir, 'pglite');
    if (engines.includes('pglite')) {
      // initdb ahead, in this process: a first start spends 5–45 s in it here (over the start timeout under
      // load), and what is measured is a cloud opening its folder, as every start after the first does
      const started = performance.now();
      const { PGlite } = await import('@electric-sql/pglite');
      await (await PGlite.create(pgliteDir)).close();
      out(`PGlite folder created (initdb) in ${Math.round(performance.now() - started)} ms`);
    }
    for (const engine of engines) {
      for (let start = 1; start <= starts; start++) {
        const tmpDir = mkdtempSync(path.join(workDir, `${engine}-${start}-`));
        const snapshotFile = path.join(tmpDir, 'v8.json');
        const sql: BenchCloudSql = engine === 'postgres' ? { kind: 'postgres', url: (postgres as PostgresServer).url } : { kind: 'pglite', dir: pgliteDir };
        if (engine === 'postgres') mkdirSync(tmpDir, { recursive: true });
        const started = performance.now();
        cloud = await startBenchCloud({
          mainJs,
          cwd: root,
          s3,
          redis,
          sql,
          tmpDir,
          env: { NODE_OPTIONS: `--require ${hookJs}`, BENCH_CLOUD_MEMORY_OUT: snapshotFile },
        });
        const bootMs = performance.now() - started;
        await new Promise((resolve) => setTimeout(resolve, settleMs));
        const status = procStatus(cloud.pid);
        if (!status) throw new Error(`the cloud (pid ${cloud.pid}) exited while idle:\n${cloud.logLines().join('\n')}`);
        const result: StartResult = {
          engine,
          start,
          bootMs: Math.round(bootMs),
          loadAverage1m: round(os.loadavg()[0], 2),
          nodeFlags: cloud.runningFlags,
          status,
          residentByMapping: residentByMapping(cloud.pid),
          v8: existsSync(snapshotFile) ? (JSON.parse(readFileSync(snapshotFile, 'utf8')) as CloudMemorySnapshot) : null,
        };
        results.push(result);
        out(
          `${engine} start ${start}: VmRSS ${status.vmRssMb} MB (anon ${status.rssAnonMb}, file ${status.rssFileMb}, peak ${status.vmHwmMb}), ` +
            `booted in ${result.bootMs} ms, load ${result.loadAverage1m}; flags ${result.nodeFlags?.join(' ') || '(none read)'}`,
        );
        await cloud.stop();
        cloud = undefined;
      }
    }
    writeResults(root, results, { starts, settleMs, mainJs: path.relative(root, mainJs), cloudNodeFlags: benchCloudNodeFlags() }, resultsName);
  } finally {
    await stopAll();
  }
}

function writeResults(
  root: string,
  results: StartResult[],
  settings: { starts: number; settleMs: number; mainJs: string; cloudNodeFlags: string[] },
  resultsName: string,
): void {
  const byEngine = (engine: Engine) => results.filter((r) => r.engine === engine);
  const range = (values: number[]) => (values.length ? { min: Math.min(...values), max: Math.max(...values) } : null);
  const summary = Object.fromEntries(
    (['postgres', 'pglite'] as const)
      .filter((e) => byEngine(e).length > 0)
      .map((e) => [
        e,
        {
          vmRssMb: range(byEngine(e).map((r) => r.status.vmRssMb)),
          rssAnonMb: range(byEngine(e).map((r) => r.status.rssAnonMb)),
          rssFileMb: range(byEngine(e).map((r) => r.status.rssFileMb)),
          peakMb: range(byEngine(e).map((r) => r.status.vmHwmMb)),
          loadAverage1m: range(byEngine(e).map((r) => r.loadAverage1m)),
        },
      ]),
  );
  const postgresMax = summary.postgres?.vmRssMb?.max;
  // judged only when PostgreSQL was measured (BENCH_CLOUD_MEMORY_ENGINES=pglite leaves it open)
  const met = postgresMax === undefined ? null : postgresMax <= TARGET_IDLE_RSS_MB;
  const file = path.join(root, 'bench', 'results', resultsName);
  const document = {
    schema: 'edgeloop.bench.cloud-memory/v1',
    createdAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, memoryGb: round(os.totalmem() / 1e9), node: process.version },
    settings: {
      ...settings,
      cloud:
        (settings.cloudNodeFlags.length ? `its own defaults but ${settings.cloudNodeFlags.join(' ')} on its command line` : 'its own defaults') +
        ' (no NODE_OPTIONS but the hook); Redis, embedded aedes broker, s3rver; log level warn',
      measuredAt: `${settings.settleMs} ms after the first healthy GET /api/v1/health`,
      pglite: 'one folder for the run, created (initdb) by the bench before the first start: every start opens it and applies the migrations',
      units: 'MB = 10^6 bytes',
    },
    summary,
    starts: results,
    target: { idleRssMaxMbOnPostgres: TARGET_IDLE_RSS_MB, met },
  };
  writeResultsFile(file, document);

  out();
  out('| engine | start | VmRSS MB | anon | file | peak | V8 heap used / resident | new space resident | external | modules | load |');
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const spaces = r.v8?.heapSpaces ?? [];
    const resident = round(spaces.reduce((sum, s) => sum + s.physicalMb, 0));
    const newSpace = spaces.find((s) => s.space === 'new_space')?.physicalMb ?? NaN;
    out(
      `| ${r.engine} | ${r.start} | ${r.status.vmRssMb} | ${r.status.rssAnonMb} | ${r.status.rssFileMb} | ${r.status.vmHwmMb} | ` +
        `${r.v8?.usage.heapUsed ?? '?'} / ${resident} | ${newSpace} | ${r.v8?.usage.external ?? '?'} | ${r.v8?.modules ?? '?'} | ${r.loadAverage1m} |`,
    );
  }
  out();
  for (const r of results.filter((x) => x.start === 1)) out(`${r.engine}, start 1, resident by mapping (MB): ${JSON.stringify(r.residentByMapping)}`);
  out();
  out(
    `target: idle RSS on PostgreSQL ≤ ${TARGET_IDLE_RSS_MB} MB in every start: ${postgresMax ?? '?'} MB at most — ${met === null ? 'not measured' : met ? 'met' : 'NOT met'}`,
  );
  out(`wrote ${path.relative(root, file)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cloud-memory failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
