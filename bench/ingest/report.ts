import type { PredictionBatchEncoding } from '@edgeloop/contracts';
import os from 'node:os';
import type { BuildSource } from './build-source';
import type { ProbeSummary } from './cloud-probe';
import type { SlowHealthAnswer } from './health-probe';
import type { DriftLatencyRun } from './drift-latency';
import type { EndToEndRun } from './end-to-end';
import type { RawBullmqRun } from './raw-bullmq';
import type { ReplicasRun } from './replicas';
import type { IngestBenchSettings } from './settings';

export const TARGET_PREDICTIONS_PER_SECOND = 50_000;
export const TARGET_HEALTH_MS = 100;
export const TARGET_VS_RAW = 0.5;

/** CPU a process used during a run: seconds, cores busy on average, and milliseconds per batch (or job). */
export type CpuShares = Record<string, { cpuSeconds: number | null; cores: number | null; msPerItem?: number | null }>;

export interface EndToEndVariant {
  name: string;
  env: Record<string, string>;
  encoding: PredictionBatchEncoding;
  run: EndToEndRun;
  cpu: CpuShares;
  profile: ProbeSummary | null;
}

export interface ResultsInput {
  settings: IngestBenchSettings;
  sqlEngine: 'pglite' | 'postgres';
  redisAppendOnly: boolean;
  variants: EndToEndVariant[];
  rawSerial: RawBullmqRun;
  rawSerialCpu: CpuShares;
  rawParallel: RawBullmqRun;
  rawParallelCpu: CpuShares;
  replicas: ReplicasRun[];
  drift: DriftLatencyRun | null;
  cloudSource: BuildSource;
  cloudLog: string[];
  loadAverage: { before: number[]; after: number[] };
  benchSeconds: number;
}

export function machine(loadAverage: { before: number[]; after: number[] }) {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: (cpus[0]?.model ?? 'unknown').replace(/\s+\d+-Core Processor$/, '').trim(),
    memoryGb: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    loadAverage: { before: loadAverage.before.map((v) => round(v, 2)), after: loadAverage.after.map((v) => round(v, 2)) },
    note: '2 shared cores with other work running; the cloud (broker, queue, workers, SQL), Redis and the simulated devices share them',
  };
}

export function resultsDocument(input: ResultsInput) {
  const { settings, variants, rawSerial, rawParallel, drift } = input;
  const e2e = settings.endToEnd;
  const headline = variants[0].run;
  const vsRaw = (run: EndToEndRun) => round(run.batchesPerSecond / rawParallel.jobsPerSecond, 2);
  const rawCpuPerJob = sumPerItem(input.rawParallelCpu, ['bench', 'redis']);
  const episodes = drift?.episodes ?? [];
  const totals = episodes.map((e) => e.totalMs).filter((v): v is number => v !== null);
  const afterStored = episodes.map((e) => e.afterStoredMs).filter((v): v is number => v !== null);
  return {
    schema: 'edgeloop.bench.ingest/v1',
    createdAt: new Date().toISOString(),
    machine: machine(input.loadAverage),
    cloudSource: input.cloudSource,
    settings: {
      devices: e2e.devices,
      framesPerBatch: e2e.framesPerBatch,
      facesPerFrame: 1,
      batchesPerDevice: e2e.batchesPerDevice,
      warmUpBatchesPerDevice: e2e.warmUpBatchesPerDevice,
      inFlightPerDevice: e2e.inFlightPerDevice,
      embeddingCentroidInBatch: e2e.centroid,
      ingestConcurrency: settings.concurrency,
      aggregateBucketSeconds: settings.bucketSeconds,
      sql: input.sqlEngine === 'postgres' ? 'PostgreSQL (a fresh database per cloud)' : 'PGlite in a folder of the bench temp dir',
      s3: settings.s3 === 'process' ? 's3rver in a process of its own (startS3Process)' : 's3rver in the bench process',
      redis: `redis-server from the harness, appendonly ${input.redisAppendOnly ? 'yes (fsync every second)' : 'no'}, flushed between runs`,
      broker: 'aedes embedded in the cloud (EDGELOOP_EMBEDDED_BROKER_PORT), devices with their own credentials, QoS 1',
      cloud: 'node dist/apps/cloud/src/main.js as a child process, log level warn, a fresh one (and fresh SQL) per run',
      cloudEnvOverrides: settings.cloudEnv,
      profiled: settings.profile,
    },
    endToEnd: variants.map((v) => ({
      name: v.name,
      env: v.env,
      encoding: v.encoding,
      ...v.run,
      cpu: v.cpu,
      batchesPerSecondVsRawJobsPerSecond: vsRaw(v.run),
      profile: v.profile,
    })),
    rawBullmq: {
      how: `plain Queue + Worker (processor does nothing) on the same Redis, same job data (the ${variants[0].encoding} payload in base64) and options as predictions.ingest, same worker concurrency, in the bench process with no cloud running`,
      addsInFlightAsDevices: { ...rawParallel, cpu: input.rawParallelCpu },
      oneAddInFlight: { ...rawSerial, cpu: input.rawSerialCpu },
    },
    ratios: {
      batchesPerSecondVsRawJobsPerSecond: vsRaw(headline),
      batchesPerSecondVsRawJobsPerSecondOneAddInFlight: round(headline.batchesPerSecond / rawSerial.jobsPerSecond, 2),
      /** Less sensitive to other load: CPU ms a raw job costs (bench process + Redis) over CPU ms our batch costs (cloud + Redis + PostgreSQL). */
      rawJobCpuVsOurBatchCpu: round(rawCpuPerJob / sumPerItem(variants[0].cpu, ['cloud', 'redis', 'postgres']), 2),
      meaning: `our end-to-end batches/s over plain BullMQ jobs/s with ${rawParallel.addsInFlight} adds in flight (the target) and with 1 add in flight (what the cloud's MQTT channel does); and the same as a ratio of CPU cost`,
    },
    drift: drift
      ? {
          settings: settings.drift,
          ...drift,
          totalMs: { min: Math.min(...totals), median: median(totals), max: Math.max(...totals) },
          afterStoredMs: { min: Math.min(...afterStored), median: median(afterStored), max: Math.max(...afterStored) },
          explanation:
            'total = confirm (firing window end − the first window end after the switch: one window per check, confirm windows − 1 after the first) + check delay (the sweep that closed the firing window ran this long after its end: the lateness allowance for batches in flight, plus up to one check interval) + after stored (the event row, its webhook delivery rows, the webhooks queue, the signed HTTP POST)',
        }
      : null,
    replicas: input.replicas.map((r) => ({
      shape: `1 API replica (EDGELOOP_WORKERS=false${r.apiPredictionIntake ? '' : ', EDGELOOP_PREDICTION_INTAKE=false'}) + ${r.workers} worker replica(s), PostgreSQL, Mosquitto with a shared subscription`,
      workers: r.workers,
      apiPredictionIntake: r.apiPredictionIntake,
      seconds: r.run.seconds,
      predictionsPerSecond: r.run.predictionsPerSecond,
      steadyPredictionsPerSecond: r.run.steadyPredictionsPerSecond,
      batchesPerSecond: r.run.batchesPerSecond,
      vsRawBullmq: round(r.run.batchesPerSecond / rawParallel.jobsPerSecond, 2),
      cloudCpuMsPerBatch: r.cloudCpuMsPerBatch,
      cores: r.cores,
      healthOnApiReplica: r.run.health,
      aggregatesMatchCounter: r.run.aggregatesMatchCounter,
      aggregatedFramesInApi: r.run.aggregatedFramesInApi,
      anomalies: r.run.anomalies,
      maxWaitingJobs: r.run.maxWaitingJobs,
    })),
    targets: {
      predictionsPerSecondMin: TARGET_PREDICTIONS_PER_SECOND,
      predictionsPerSecondMet: headline.predictionsPerSecond >= TARGET_PREDICTIONS_PER_SECOND,
      vsRawMin: TARGET_VS_RAW,
      vsRawMet: vsRaw(headline) >= TARGET_VS_RAW,
      healthMaxMs: TARGET_HEALTH_MS,
      healthMet: variants.every((v) => v.run.health.failed === 0 && v.run.health.maxMs !== null && v.run.health.maxMs <= TARGET_HEALTH_MS),
    },
    cloudLog: input.cloudLog,
    benchSeconds: round(input.benchSeconds, 1),
  };
}

export type IngestResults = ReturnType<typeof resultsDocument>;

export function printSummary(results: IngestResults, out: (line?: string) => void): void {
  const s = results.settings;
  const raw = results.rawBullmq;
  out();
  out(
    `${s.devices} devices × ${s.batchesPerDevice} batches × ${s.framesPerBatch} frames (one face each${s.embeddingCentroidInBatch ? ', 512-d centroid' : ''}), ` +
      `${s.inFlightPerDevice} in flight per device, ingest concurrency ${s.ingestConcurrency}, ${results.machine.cpus} CPUs, ${results.machine.node}, ${s.sql}`,
  );
  out();
  out('| path | items | seconds | items/s | predictions/s | steady predictions/s | CPU ms per item | vs raw BullMQ |');
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const e of results.endToEnd) {
    out(
      `| end to end, ${e.name} | ${e.batches} batches | ${e.seconds} | ${e.batchesPerSecond} | ${e.predictionsPerSecond} | ${e.steadyPredictionsPerSecond} | ` +
        `${cpuText(e.cpu, ['cloud', 'redis', 'postgres'])} | ${e.batchesPerSecondVsRawJobsPerSecond}× |`,
    );
  }
  const p = raw.addsInFlightAsDevices;
  const one = raw.oneAddInFlight;
  out(`| raw BullMQ, ${p.addsInFlight} adds in flight | ${p.jobs} jobs | ${p.seconds} | ${p.jobsPerSecond} | | | ${cpuText(p.cpu, ['bench', 'redis'])} | 1× |`);
  out(`| raw BullMQ, 1 add in flight (as the MQTT channel) | ${one.jobs} jobs | ${one.seconds} | ${one.jobsPerSecond} | | | ${cpuText(one.cpu, ['bench', 'redis'])} | |`);
  out();
  for (const e of results.endToEnd) {
    out(
      `${e.name}: every PUBACK after ${e.publishSeconds} s; the cloud's MQTT client took every message after ${e.receivedSeconds ?? '?'} s ` +
        `(steady ${e.steadyReceivedPerSecond ?? '?'}/s); most jobs waiting in Redis ${e.maxWaitingJobs}; ` +
        `cores busy: ${Object.entries(e.cpu).map(([name, c]) => `${name} ${c.cores}`).join(', ')}; ` +
        `aggregates ${e.aggregatedFramesInApi} frames${e.aggregatesMatchCounter ? ' (= counter)' : ' — MISMATCH with the ingest counter: aggregate updates were lost'}`,
    );
    const h = e.health;
    out(
      `  GET /api/v1/health every 100 ms during the run: ${h.requests} requests, p50 ${h.p50Ms} ms, p99 ${h.p99Ms} ms, max ${h.maxMs} ms, ${h.over100Ms} over 100 ms, ${h.failed} failed; ` +
        `slowest dependency check as the cloud timed it p50 ${h.checksP50Ms} ms, max ${h.checksMaxMs} ms`,
    );
    for (const a of h.slowAnswers ?? []) out(`    slow answer at ${a.atMs} ms: ${slowAnswerText(a)}`);
    const a = e.anomalies;
    if (a.duplicateBatches + a.invalidJobs + a.invalidMessages + a.failedJobs > 0) out(`  anomalies: ${JSON.stringify(a)}`);
  }
  out(`payload: ${results.endToEnd.map((e) => `${e.payloadBytes.perBatch} bytes a batch (${e.encoding})`).join(', ')}`);
  if (results.replicas.length > 0) {
    out();
    out('| replicas (PostgreSQL, Mosquitto) | seconds | predictions/s | steady | vs raw BullMQ | cloud CPU ms per batch | health on the API replica p50 / p99 / max ms | cores busy |');
    out('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |');
    for (const r of results.replicas) {
      const h = r.healthOnApiReplica;
      out(
        `| 1 API + ${r.workers} worker(s) | ${r.seconds} | ${r.predictionsPerSecond} | ${r.steadyPredictionsPerSecond} | ${r.vsRawBullmq}× | ${r.cloudCpuMsPerBatch ?? '?'} | ` +
          `${h.p50Ms} / ${h.p99Ms} / ${h.maxMs} (${h.over100Ms} of ${h.requests} over 100; checks p50 ${h.checksP50Ms}, max ${h.checksMaxMs}) | ${Object.entries(r.cores).map(([name, c]) => `${name} ${c}`).join(', ')} |`,
      );
      for (const a of h.slowAnswers ?? []) out(`  1 API + ${r.workers}: slow answer at ${a.atMs} ms: ${slowAnswerText(a)}`);
      if (!r.aggregatesMatchCounter) out(`  1 API + ${r.workers}: aggregates ${r.aggregatedFramesInApi} frames — MISMATCH with the ingest counter`);
    }
  }
  if (results.drift) {
    const d = results.drift;
    out();
    out(`drift latency (bucket ${d.settings!.bucketSeconds} s, window ${d.settings!.windowSeconds} s, check every ${d.settings!.checkSeconds} s, confirm ${d.settings!.confirmWindows}):`);
    out('| version | total ms | confirm ms | check delay ms | after stored ms | after emit ms | metrics |');
    out('| ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const ep of d.episodes) {
      out(`| ${ep.version} | ${ep.totalMs ?? '—'} | ${ep.confirmMs ?? '—'} | ${ep.checkDelayMs ?? '—'} | ${ep.afterStoredMs ?? '—'} | ${ep.afterEmitMs ?? '—'} | ${ep.metrics.join(', ')} |`);
    }
    out(`stable version events: ${d.stableVersionEvents}; deliveries ${d.deliveries}; signatures verified: ${d.episodes.every((ep) => ep.signatureVerified)}`);
  }
  for (const e of results.endToEnd) if (e.profile) printProfile(e.name, e.profile, e.batches, out);
  out();
  const t = results.targets;
  const load = results.machine.loadAverage;
  out(`load average before ${load.before.join(' ')}, after ${load.after.join(' ')}`);
  out(`target ≥ ${t.predictionsPerSecondMin} predictions/s end to end (${results.endToEnd[0].name}): ${results.endToEnd[0].predictionsPerSecond} — ${t.predictionsPerSecondMet ? 'met' : 'NOT met'}`);
  out(
    `target ≥ ${t.vsRawMin}× raw BullMQ jobs/s: ${results.ratios.batchesPerSecondVsRawJobsPerSecond}× — ${t.vsRawMet ? 'met' : 'NOT met'} ` +
      `(CPU per raw job / CPU per batch ${results.ratios.rawJobCpuVsOurBatchCpu})`,
  );
  const worst = Math.max(...results.endToEnd.map((e) => e.health.maxMs ?? Infinity));
  out(`target GET /api/v1/health ≤ ${t.healthMaxMs} ms during the runs: worst ${worst} ms — ${t.healthMet ? 'met' : 'NOT met'}`);
  for (const r of results.replicas) {
    const h = r.healthOnApiReplica;
    const met = h.failed === 0 && h.maxMs !== null && h.maxMs <= t.healthMaxMs;
    out(`target GET /api/v1/health ≤ ${t.healthMaxMs} ms on the API replica (1 API + ${r.workers} worker): worst ${h.maxMs} ms — ${met ? 'met' : 'NOT met'}`);
  }
  const source = results.cloudSource;
  out(`cloud built ${source.builtAt ?? '(unknown)'} from ${source.commit ?? '(unknown commit)'}`);
  if (source.uncommitted.length > 0) out(`note: the cloud was built with uncommitted changes in ${source.uncommitted.join(', ')}`);
  if (source.changedSinceBuild.length > 0) out(`note: changed under apps/ or libs/ since the build (not in it): ${source.changedSinceBuild.join(', ')}`);
  if (results.cloudLog.length > 0) out(`cloud log (last): ${results.cloudLog.slice(-3).join(' | ')}`);
}

function printProfile(name: string, p: ProbeSummary, batches: number, out: (line?: string) => void): void {
  out();
  out(`cloud profile (${name}): ${p.cores} cores of CPU, event loop busy ${Math.round(p.eventLoopUtilization * 100)} %`);
  out(`  by origin: ${p.byOrigin.slice(0, 9).map((o) => `${o.origin} ${o.percent} %`).join('; ')}`);
  out(`  inclusive: ${p.inclusive.map((f) => `${f.fn} ${f.percent} %`).join('; ')}`);
  for (const c of p.calls) out(`  ${c.what}: ${c.count} × ${c.meanMs} ms (max ${c.maxMs})`);
  out('  SQL statements (call to result):');
  for (const c of p.statements) out(`    ${c.what}: ${c.count} × ${c.meanMs} ms`);
  out(`  main thread by stage, ms a batch (of ${batches}): ${p.stages.map((st) => `${st.stage} ${round(st.ms / batches, 3)}`).join('; ')}`);
  const over = p.busyStretchesOver;
  out(`  main thread busy with no idle sample: ${over.over30Ms} stretches ≥ 30 ms, ${over.over50Ms} ≥ 50 ms, ${over.over100Ms} ≥ 100 ms; longest:`);
  for (const b of p.busyStretches) {
    const origins = b.byOrigin.map((o) => `${o.origin} ${o.ms}`).join(', ');
    const frames = b.byCloudFrame.map((f) => `${f.fn} ${f.ms}`).join(', ');
    out(`    ${b.ms} ms at ${b.atMs} ms: ${origins} | innermost cloud frame: ${frames}`);
  }
}

function cpuText(cpu: CpuShares, names: string[]): string {
  return names
    .filter((n) => cpu[n]?.msPerItem !== undefined && cpu[n]?.msPerItem !== null)
    .map((n) => `${n} ${cpu[n].msPerItem}`)
    .join(', ');
}

function sumPerItem(cpu: CpuShares, names: string[]): number {
  return names.reduce((n, name) => n + (cpu[name]?.msPerItem ?? 0), 0);
}

export function median(values: readonly number[]): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function round(v: number, digits = 2): number {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : v;
}

/** A slow /health answer: its time, then the component checks slowest first, then the bench's own loop delay. */
function slowAnswerText(a: SlowHealthAnswer): string {
  const checks = Object.entries(a.checks)
    .sort((x, y) => y[1] - x[1])
    .map(([name, ms]) => `${name} ${ms}`)
    .join(', ');
  return `${a.ms} ms${a.status === 200 ? '' : ` (status ${a.status ?? 'none'})`}; checks ${checks || 'none'}; bench loop delay max ${a.benchLoopDelayMaxMs} ms`;
}
