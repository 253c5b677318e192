/**
 * Ingest benchmark (not a test). In one run, on one Redis:
 * 1. end to end: the production cloud as a child process (embedded aedes broker, BullMQ `predictions`
 *    queue, SQL aggregates on PGlite in a temp folder, or PostgreSQL when DATABASE_URL is set) and K
 *    simulated devices, registered through the API, each publishing prediction batches with its own MQTT
 *    credentials at full speed (QoS 1, a few in flight each); predictions/s from the first publish until the
 *    SQL counter holds every frame;
 * 2. raw BullMQ: the same number of jobs, same data and options, added and processed with no work by a
 *    plain Queue + Worker of the same concurrency; jobs/s;
 * 3. replicas (PostgreSQL): one API replica and 1, then 2 worker replicas as separate processes on Mosquitto
 *    with a shared subscription; predictions/s, and `GET /api/v1/health` on the API replica;
 * 4. drift latency: a second cloud with 1 s buckets, 3 s windows, a check every second and 2 confirm
 *    windows; time from the end of the first window with drifted frames to the signed `drift.detected`
 *    webhook at a receiver on 127.0.0.1.
 * Prints a table and writes bench/results/ingest.json.
 *
 *   npm run bench:ingest      (knobs: bench/ingest/settings.ts)
 */
import { createIsolatedDatabase, startPostgres, startRedis, startS3, startS3Process, type PostgresDatabase, type PostgresServer, type RedisServer, type S3Server } from '@edgeloop/harness';
import { predictionIngestJobFields, predictionsJobId } from '@edgeloop/contracts';
import Redis from 'ioredis';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { startBenchCloud, type BenchCloudSql, type BenchCloudWithBroker } from '../common/cloud-process';
import { writeResultsFile } from '../common/results-file';
import { repoRoot } from '../common/repo-root';
import { stopOnSignal } from '../common/stop-on-signal';
import { buildSource } from './build-source';
import { CpuWindow } from './cpu-window';
import { CloudProbe, type ProbeSummary } from './cloud-probe';
import { measureDriftLatency, type DriftLatencyRun } from './drift-latency';
import { measureEndToEnd, type EndToEndRun } from './end-to-end';
import { measureRawBullmq, type RawBullmqRun } from './raw-bullmq';
import { measureReplicas, replicasUnavailable, type ReplicasRun } from './replicas';
import { printSummary, resultsDocument, type CpuShares, type EndToEndVariant } from './report';
import { settingsFromEnv } from './settings';
import { batchTemplate, encodedPayload, wireBatch } from './wire-batches';

/** How long a cloud may take to boot: PGlite's first open in a folder takes tens of seconds on a loaded machine. */
const CLOUD_BOOT_TIMEOUT_MS = 180_000;
/** What the cloud's log lines kept in the results say instead of the bench's temp dir (a machine's path, not the repo's). */
const BENCH_TEMP_DIR = '<bench temp dir>';
/** The cloud's last lines (warn level and above) kept in the results, per cloud. */
const CLOUD_LOG_LINES = 20;

const out = (line = '') => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const loadBefore = os.loadavg();
  const settings = settingsFromEnv();
  const root = repoRoot();
  // the cloud compiled next to this bench (dist/ by default; any output folder of the same build works)
  const mainJs = path.resolve(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js');
  // what was built, read now: by the run's end other commits and edits may be in the tree
  const source = buildSource(root, mainJs);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-ingest-'));
  let redis: RedisServer | undefined;
  let s3: S3Server | undefined;
  let s3Pid: number | undefined;
  let cloud: BenchCloudWithBroker | undefined;
  const databases: PostgresDatabase[] = [];
  let postgres: PostgresServer | undefined;
  const stopAll = stopOnSignal(async () => {
    await cloud?.stop();
    await redis?.stop();
    await s3?.stop();
    for (const db of databases) await db.stop().catch(() => undefined);
    await postgres?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const sqlEngine = process.env.DATABASE_URL || settings.sql === 'postgres' ? 'postgres' : 'pglite';
  const sqlFor = async (name: string): Promise<BenchCloudSql> => {
    if (sqlEngine === 'pglite') return { kind: 'pglite', dir: path.join(workDir, `sql-${name}`) };
    if (!process.env.DATABASE_URL) postgres ??= await startPostgres();
    const db = await createIsolatedDatabase(process.env.DATABASE_URL ?? postgres!.url);
    databases.push(db);
    return { kind: 'postgres', url: db.url };
  };

  try {
    redis = await startRedis();
    // s3rver in a process of its own by default: in the bench's process its answers wait for the simulated devices
    if (settings.s3 === 'process') {
      const own = await startS3Process({ buckets: ['edgeloop'] });
      [s3, s3Pid] = [own, own.pid];
    } else s3 = await startS3({ buckets: ['edgeloop'] });
    const e2e = settings.endToEnd;
    out(
      `ingest bench: ${e2e.devices} devices × ${e2e.batchesPerDevice} batches × ${e2e.framesPerBatch} frames (one face each${e2e.centroid ? ', with the 512-d embedding centroid' : ''}), ` +
        `${e2e.inFlightPerDevice} in flight per device, ingest concurrency ${settings.concurrency}, SQL ${sqlEngine}, S3 server in ${settings.s3 === 'process' ? 'its own process' : 'the bench process'}`,
    );

    // 1. end to end: the cloud's defaults with the devices sending the columns encoding, then JSON
    const probe = settings.profile ? new CloudProbe(settings.profileDir ?? path.join(workDir, 'profiles')) : undefined;
    const variants: EndToEndVariant[] = [];
    const cloudLog: string[] = [];
    for (const [index, variant] of settings.variants.entries()) {
      await flushRedis(redis.url);
      const cloudTmp = path.join(workDir, `cloud-e2e-${index}`);
      mkdirSync(cloudTmp);
      const profiled = index === 0 ? probe : undefined;
      cloud = await startBenchCloud({
        mainJs,
        cwd: root,
        s3,
        redis,
        sql: await sqlFor(`e2e-${index}`),
        tmpDir: cloudTmp,
        env: {
          EDGELOOP_INGEST_CONCURRENCY: String(settings.concurrency),
          EDGELOOP_AGGREGATE_BUCKET_SECONDS: String(settings.bucketSeconds),
          ...settings.cloudEnv,
          ...variant.env,
        },
        preload: profiled?.preload,
        healthTimeoutMs: CLOUD_BOOT_TIMEOUT_MS,
      });
      profiled?.attach(cloud.child);
      out(`${variant.name}: cloud pid ${cloud.pid} on ${cloud.url}, broker ${cloud.mqttUrl}, Redis ${redis.url} (pid ${redis.pid})`);
      const cpu = new CpuWindow(
        { cloud: cloud.pid, redis: redis.pid, bench: process.pid, ...(s3Pid ? { s3: s3Pid } : {}), ...(postgres ? { postgres: postgres.pid } : {}) },
        ['postgres'],
      );
      let profile: ProbeSummary | null = null;
      const started = cloud;
      const run: EndToEndRun = await measureEndToEnd(cloud, { ...e2e, encoding: variant.encoding }, {
        onStart: async () => {
          await profiled?.start();
          cpu.start();
        },
        onEnd: async () => {
          if (profiled) profile = await profiled.stop();
        },
        log: out,
      }).catch((err: unknown) => {
        out(`the run failed; the cloud's last lines (exit ${started.child.exitCode ?? started.child.signalCode ?? 'none'}):`);
        for (const line of started.logLines().slice(-CLOUD_LOG_LINES)) out(`  ${line}`);
        throw err;
      });
      const shares = cpu.stop();
      variants.push({ name: variant.name, env: variant.env, encoding: variant.encoding, run, cpu: withPerItem(shares, run.batches), profile });
      out(
        `  ${run.frames} frames in ${run.seconds} s = ${run.predictionsPerSecond} predictions/s (steady ${run.steadyPredictionsPerSecond}), ` +
          `${run.batchesPerSecond} batches/s; cloud CPU ${shares.cloud.cores} cores; aggregates in the API ${run.aggregatedFramesInApi} frames; ` +
          `health p99 ${run.health.p99Ms} ms, max ${run.health.maxMs} ms`,
      );
      cloudLog.push(...cloud.logLines().slice(-CLOUD_LOG_LINES).map((line) => line.split(workDir).join(BENCH_TEMP_DIR)));
      await cloud.stop();
      cloud = undefined;
    }
    const endToEnd = variants[0].run;

    // 2. raw BullMQ, same jobs: the data the cloud enqueues for the headline run's encoding
    const rawEncoding = settings.variants[0].encoding;
    const jobs = Array.from({ length: e2e.devices }, (_, d) =>
      Array.from({ length: 4 }, (_, k) => {
        const batch = wireBatch(`raw-${d + 1}`, k + 1, e2e.model, STABLE, { frames: e2e.framesPerBatch, centroid: e2e.centroid });
        return { batch, template: batchTemplate(batch) };
      }),
    );
    const rawSettings = (addsInFlight: number) => ({
      redisUrl: redis!.url,
      jobs: endToEnd.batches,
      concurrency: settings.concurrency,
      addsInFlight,
      job: (i: number) => {
        const device = i % e2e.devices;
        const seq = Math.floor(i / e2e.devices) + 1;
        const { batch, template } = jobs[device][seq % 4];
        const numbered = { ...batch, seq };
        return { jobId: predictionsJobId(batch.deviceId, seq, batch.epoch), data: { ...predictionIngestJobFields(numbered, encodedPayload(batch, template, seq, rawEncoding)), receivedAt: Date.now() } };
      },
    });
    await flushRedis(redis.url);
    const rawCpu = new CpuWindow({ redis: redis.pid, bench: process.pid });
    rawCpu.start();
    const rawSerial: RawBullmqRun = await measureRawBullmq(rawSettings(1), 'serial');
    const rawSerialCpu = withPerItem(rawCpu.stop(), rawSerial.jobs);
    out(`raw BullMQ, 1 add in flight: ${rawSerial.jobs} jobs in ${rawSerial.seconds} s = ${rawSerial.jobsPerSecond} jobs/s`);
    rawCpu.start();
    const rawParallel: RawBullmqRun = await measureRawBullmq(rawSettings(e2e.devices), 'parallel');
    const rawParallelCpu = withPerItem(rawCpu.stop(), rawParallel.jobs);
    out(`raw BullMQ, ${e2e.devices} adds in flight: ${rawParallel.jobs} jobs in ${rawParallel.seconds} s = ${rawParallel.jobsPerSecond} jobs/s`);

    // 3. replicas on PostgreSQL: 1 API + N worker processes
    const replicas: ReplicasRun[] = [];
    const skipReplicas = settings.replicas.length > 0 ? replicasUnavailable() : undefined;
    if (skipReplicas) out(`replica runs skipped: ${skipReplicas}`);
    for (const workers of skipReplicas ? [] : settings.replicas) {
      if (!process.env.DATABASE_URL) postgres ??= await startPostgres();
      const replicaRun = await measureReplicas(
        {
          mainJs,
          root,
          workDir,
          s3,
          redis,
          postgres: postgres ?? { url: process.env.DATABASE_URL! },
          concurrency: settings.concurrency,
          bucketSeconds: settings.bucketSeconds,
          env: settings.cloudEnv,
          flushRedis: () => flushRedis(redis!.url),
          log: out,
        },
        e2e,
        workers,
      );
      replicas.push(replicaRun);
      const r = replicaRun.run;
      out(
        `  1 API + ${workers} worker replica(s): ${r.frames} frames in ${r.seconds} s = ${r.predictionsPerSecond} predictions/s (steady ${r.steadyPredictionsPerSecond}); ` +
          `health on the API replica p50 ${r.health.p50Ms} ms, p99 ${r.health.p99Ms} ms, max ${r.health.maxMs} ms; cores ${JSON.stringify(replicaRun.cores)}`,
      );
    }

    // 4. drift latency, on a fresh Redis keyspace and SQL
    let drift: DriftLatencyRun | null = null;
    if (settings.drift) {
      await flushRedis(redis.url);
      const driftTmp = path.join(workDir, 'cloud-drift');
      mkdirSync(driftTmp);
      const d = settings.drift;
      cloud = await startBenchCloud({
        mainJs,
        cwd: root,
        s3,
        redis,
        sql: await sqlFor('drift'),
        tmpDir: driftTmp,
        env: {
          EDGELOOP_INGEST_CONCURRENCY: String(settings.concurrency),
          EDGELOOP_AGGREGATE_BUCKET_SECONDS: String(d.bucketSeconds),
          EDGELOOP_DRIFT_WINDOW_SECONDS: String(d.windowSeconds),
          EDGELOOP_DRIFT_CHECK_SECONDS: String(d.checkSeconds),
          EDGELOOP_DRIFT_CONFIRM_WINDOWS: String(d.confirmWindows),
          EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
        },
        healthTimeoutMs: CLOUD_BOOT_TIMEOUT_MS,
      });
      out(`drift: cloud pid ${cloud.pid}; bucket ${d.bucketSeconds} s, window ${d.windowSeconds} s, check every ${d.checkSeconds} s, confirm ${d.confirmWindows} windows`);
      drift = await measureDriftLatency(cloud, d, out);
      cloudLog.push(...cloud.logLines().slice(-CLOUD_LOG_LINES).map((line) => line.split(workDir).join(BENCH_TEMP_DIR)));
      await cloud.stop();
      cloud = undefined;
    }

    const results = resultsDocument({
      settings,
      sqlEngine,
      redisAppendOnly: true,
      variants,
      rawSerial,
      rawSerialCpu,
      rawParallel,
      rawParallelCpu,
      replicas,
      drift,
      cloudSource: source,
      cloudLog,
      loadAverage: { before: loadBefore, after: os.loadavg() },
      benchSeconds: (performance.now() - benchStarted) / 1000,
    });
    const resultFile = path.join(root, 'bench', 'results', `${settings.resultsName}.json`);
    writeResultsFile(resultFile, results);
    printSummary(results, out);
    out(`wrote ${path.relative(root, resultFile)} in ${results.benchSeconds} s`);
  } finally {
    await stopAll();
  }
}

/** Empties Redis between runs: device ids and job ids repeat, and BullMQ keeps completed job ids. */
async function flushRedis(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: null });
  try {
    await client.flushall();
  } finally {
    await client.quit();
  }
}

/** Adds CPU milliseconds per batch (or job) to each process's share. */
function withPerItem(shares: CpuShares, items: number): CpuShares {
  const result: CpuShares = {};
  for (const [name, share] of Object.entries(shares)) {
    result[name] = { ...share, msPerItem: share.cpuSeconds === null ? null : Math.round((share.cpuSeconds * 1e5) / items) / 100 };
  }
  return result;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ingest failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
