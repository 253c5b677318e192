/**
 * Soak benchmark (not a test): the embedded stack as `npm start` runs it — the production cloud as a child
 * process with its embedded aedes broker, PGlite in a folder, Redis with its append-only file and the S3
 * server on a folder — and a fleet of simulated devices (200 by default) at the edge worker's normal rate
 * (a batch of 25 frames every 5 s, a reported state every 30 s) for `--minutes` (default 30). Every
 * `--sample-seconds` it reads the cloud's RSS (/proc), its event-loop delay and V8 heap (`/metrics`),
 * Redis `used_memory`, every BullMQ queue's waiting/active/delayed/failed counts and the SQL and S3
 * folders' size; it prints one row a minute, and at the end a least-squares slope per series after the
 * warm-up against a stated bound of "flat" (verdict.ts). The run is appended to bench/results/soak.json.
 *
 *   npm run bench:soak -- --minutes 8      (options: settings.ts; BENCH_CLOUD_NODE_FLAGS, e.g. --heap-growing-percent=50,
 *                                           goes on the cloud's command line (bench/common/cloud-process.ts);
 *                                           BENCH_SOAK_RESULTS=<name>.json appends to bench/results/<name>.json
 *                                           instead of soak.json, for runs the Summary must not count)
 */
import { ApiClient } from '@edgeloop/client';
import { startRedis, startS3, type RedisServer, type S3Server } from '@edgeloop/harness';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startBenchCloud, type BenchCloudWithBroker } from '../common/cloud-process';
import { repoRoot } from '../common/repo-root';
import { resultsNameFromEnv } from '../common/results-file';
import { stopOnSignal } from '../common/stop-on-signal';
import { SoakFleet } from './fleet';
import { SoakSampler, type SoakSample } from './sampler';
import { settingsFromArgs, warmUpOf } from './settings';
import { verdicts } from './verdict';

/** Runs kept in bench/results/soak.json (newest last). */
const KEPT_RUNS = 12;
const DRAIN_TIMEOUT_MS = 120_000;
/** The cloud's last lines (warn level and above), printed and kept with the run. */
const CLOUD_LOG_LINES = 30;

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const settings = settingsFromArgs(process.argv.slice(2));
  const resultsName = resultsNameFromEnv('BENCH_SOAK_RESULTS', 'soak.json');
  const root = repoRoot();
  const mainJs = path.resolve(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js');
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-soak-'));
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let cloud: BenchCloudWithBroker | undefined;
  let fleet: SoakFleet | undefined;
  let sampler: SoakSampler | undefined;
  const stopAll = stopOnSignal(async () => {
    await fleet?.stop().catch(() => undefined);
    await sampler?.close();
    await cloud?.stop();
    await redis?.stop();
    await s3?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });
  try {
    redis = await startRedis({ dir: path.join(workDir, 'redis') });
    s3 = await startS3({ buckets: ['edgeloop'], dir: path.join(workDir, 's3') });
    const sqlDir = path.join(workDir, 'sql');
    const cloudTmp = path.join(workDir, 'cloud');
    mkdirSync(cloudTmp);
    cloud = await startBenchCloud({ mainJs, cwd: root, s3, redis, sql: { kind: 'pglite', dir: sqlDir }, tmpDir: cloudTmp, healthTimeoutMs: 300_000 });
    out(`soak: cloud pid ${cloud.pid} on ${cloud.url}, broker ${cloud.mqttUrl}, Redis pid ${redis.pid}; ${settings.devices} devices, ${settings.minutes} min`);
    out(`  cloud node flags: ${cloud.runningFlags?.join(' ') || '(none read)'}${cloud.nodeFlags.length ? ` (given: ${cloud.nodeFlags.join(' ')})` : ''}`);

    const api = new ApiClient({ baseUrl: cloud.url, token: cloud.adminToken });
    fleet = new SoakFleet(api, cloud.mqttUrl, settings);
    const joinStarted = performance.now();
    await fleet.join(settings.devices);
    out(`  ${settings.devices} devices provisioned and connected in ${((performance.now() - joinStarted) / 1000).toFixed(1)} s`);

    sampler = new SoakSampler({ cloudUrl: cloud.url, cloudPid: cloud.pid, redisUrl: redis.url, sqlDir, s3Dir: s3.dir });
    const samples: SoakSample[] = [];
    const startedAt = new Date().toISOString();
    const loadBefore = os.loadavg();
    const t0 = performance.now();
    fleet.start();
    out('  min   RSS MB  heap MB  loop p50/p99/max ms  Redis MB  predictions w/a/d/f  other queues w+a+d  SQL MB  S3 MB  backlog frames  load');
    const endMs = settings.minutes * 60_000;
    let nextMinute = 1;
    for (let k = 1; k * settings.sampleSeconds * 1000 <= endMs; k++) {
      await sleepUntil(t0 + k * settings.sampleSeconds * 1000);
      const sample = await sampler.sample((performance.now() - t0) / 1000, { framesSent: fleet.tally.frames, acks: fleet.tally.acks });
      samples.push(sample);
      if (sample.atS >= nextMinute * 60 - 1) {
        out(row(sample));
        nextMinute = Math.floor(sample.atS / 60) + 1;
      }
    }
    const loadDuring = os.loadavg();
    await fleet.stop();
    const drainStarted = performance.now();
    let last = samples.at(-1)!;
    while (performance.now() - drainStarted < DRAIN_TIMEOUT_MS) {
      last = await sampler.sample((performance.now() - t0) / 1000, { framesSent: fleet.tally.frames, acks: fleet.tally.acks });
      if (last.framesIngested >= fleet.tally.frames) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const drainMs = Math.round(performance.now() - drainStarted);
    const warmUp = warmUpOf(settings);
    const framesPerMinute = settings.devices * settings.fps * 60;
    const series = verdicts(samples, { warmUpMinutes: warmUp, redisFillMinutes: settings.redisFillMinutes, minutes: settings.minutes, framesPerMinute });
    const judged = series.filter((s) => s.flat !== null);
    const flat = judged.every((s) => s.flat);

    out('');
    out(`slopes after ${warmUp.toFixed(1)} min of warm-up (per minute):`);
    for (const s of series) {
      const verdict = s.flat === null ? 'reported' : s.flat ? 'flat' : 'GROWS';
      out(
        `  ${s.series.padEnd(40)} ${fmt(s.first)} → ${fmt(s.last)} ${s.unit}, slope ${fmt(s.slopePerMinute)} ${s.unit}/min${s.bound === null ? '' : ` (bound ${s.bound})`}  ${verdict}`,
      );
    }
    const tally = fleet.tally;
    out('');
    out(
      `sent ${tally.batches} batches (${tally.frames} frames), ${tally.publishErrors} publish errors, ${tally.heartbeats} heartbeats; acked ${last.acks}; ` +
        `aggregated ${last.framesIngested} frames, ${last.framesIngested >= tally.frames ? `all of them ${drainMs} ms after the fleet stopped` : `NOT all within ${DRAIN_TIMEOUT_MS} ms`}`,
    );
    // a batch may be aggregated before its PUBACK reaches the device, or be in flight when the fleet stops: what the
    // cloud aggregated lies between the frames acknowledged and the frames handed to the clients, or one was counted twice
    const countedTwice = last.framesIngested > tally.framesPublished;
    out(
      `published ${tally.framesPublished} frames (${tally.framesPublished - tally.frames} without a PUBACK by the stop): ` +
        (countedTwice ? `aggregated ${last.framesIngested - tally.framesPublished} MORE than published — counted twice` : 'none aggregated beyond them'),
    );
    out(
      `verdict: ${flat ? 'FLAT' : 'NOT FLAT'} (${judged.filter((s) => s.flat).length} of ${judged.length} judged series within their bound); load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadDuring.map((l) => l.toFixed(2)).join(' ')} at the end`,
    );

    const run = {
      startedAt,
      settings,
      warmUpMinutes: warmUp,
      machine: { cpus: os.cpus().length, node: process.version },
      // the flags given on the cloud's command line by the bench, and those it ran with after its own defaults
      cloudNodeFlags: { given: cloud.nodeFlags, running: cloud.runningFlags },
      loadAverage: {
        before: loadBefore,
        end: loadDuring,
        minMinute: Math.min(...samples.map((s) => s.load1)),
        maxMinute: Math.max(...samples.map((s) => s.load1)),
      },
      fleet: tally,
      aggregatedFrames: last.framesIngested,
      countedTwice,
      drainedMs: last.framesIngested >= tally.frames ? drainMs : null,
      verdict: flat ? 'flat' : 'not flat',
      series,
      samples,
      cloudLog: cloud.logLines().slice(-CLOUD_LOG_LINES),
    };
    const file = path.join(root, 'bench', 'results', resultsName);
    const previous = existsSync(file) ? ((JSON.parse(readFileSync(file, 'utf8')) as { runs?: unknown[] }).runs ?? []) : [];
    writeFileSync(file, `${JSON.stringify({ bench: 'soak', runs: [...previous, run].slice(-KEPT_RUNS) }, null, 2)}\n`);
    out(`results appended to ${path.relative(root, file)}`);
    if (!flat) process.exitCode = 1;
  } finally {
    await stopAll();
  }
}

function row(s: SoakSample): string {
  const p = s.queues.predictions;
  const others = Object.entries(s.queues)
    .filter(([name]) => name !== 'predictions')
    .reduce((a, [, q]) => a + q.waiting + q.active + q.delayed, 0);
  return [
    String(Math.round(s.atS / 60)).padStart(5),
    s.cloudRssMb.toFixed(1).padStart(8),
    s.cloudHeapMb.toFixed(1).padStart(8),
    `${s.loopP50Ms}/${s.loopP99Ms}/${s.loopMaxMs}`.padStart(20),
    s.redisUsedMb.toFixed(1).padStart(9),
    `${p.waiting}/${p.active}/${p.delayed}/${p.failed}`.padStart(20),
    String(others).padStart(19),
    s.sqlMb.toFixed(1).padStart(7),
    s.s3Mb.toFixed(1).padStart(6),
    String(s.framesSent - s.framesIngested).padStart(15),
    s.load1.toFixed(2).padStart(5),
  ].join(' ');
}

const fmt = (n: number) => (Number.isFinite(n) ? String(Math.round(n * 1000) / 1000) : '–');

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
