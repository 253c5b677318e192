/**
 * Upload benchmark (not a test): a ~210 MB ONNX embedder uploaded through the API (multipart POST to a
 * cloud running as its own process) against the same bytes put straight into the same S3 bucket with
 * the minio client, alternating, after one warm-up. Reports MB/s of both, their ratio, the phases of
 * an API upload and the cloud process's peak RSS growth, and for every transfer the machine's dirty page
 * cache and writeback (/proc/meminfo Dirty and Writeback at its start and the largest sampled during it,
 * /proc/vmstat pages written back over it: the bench writes about 3.4 GB to one disk per run). Prints a table
 * and writes bench/results/upload.json.
 *
 *   npm run bench:upload     (BENCH_UPLOAD_REPETITIONS=3, BENCH_UPLOAD_WIDTH=1400, BENCH_UPLOAD_SAMPLE_MS=20 by default;
 *                             BENCH_UPLOAD_SQL=postgres (default where PostgreSQL is installed) or memory for PGlite;
 *                             BENCH_UPLOAD_RESULTS=<name>.json writes bench/results/<name>.json and its history
 *                             instead of upload.json, for runs the Summary must not count, e.g. profiled ones;
 *                             BENCH_UPLOAD_CLOUD_NODE_OPTIONS is given to the cloud process alone as NODE_OPTIONS,
 *                             e.g. --cpu-prof --cpu-prof-dir=<folder>; BENCH_CLOUD_NODE_FLAGS, e.g.
 *                             --heap-growing-percent=50, goes on the cloud's command line (bench/common/cloud-process.ts),
 *                             for A/B runs of V8 settings NODE_OPTIONS refuses: read by V8 at start-up, as a deployment's
 *                             would be; BENCH_UPLOAD_CLOUD_V8_FLAGS instead applies flags inside the cloud at run time,
 *                             after it has booted with its own defaults (v8.setFlagsFromString, cloud-v8-flags.ts);
 *                             BENCH_UPLOAD_S3=process runs s3rver in a process of its own instead of this one;
 *                             BENCH_UPLOAD_FLUSH=1 runs `sync` before every transfer, described below)
 *
 * Disk: only the API path writes to disk while it is timed. s3rver's copy of the temporary object to
 * `blobs/sha256/<hex>` (fs.copyFile) writes the copy's 210 MB out before it returns; every other write of the bench
 * (the spool file, each put's object) stays in the page cache. That copy took 0.04-0.08 s in some rounds and
 * 0.46-0.51 s in others: 0.4-0.45 s of the 0.5-1.1 s by which the API's later rounds were slower than its first.
 * With BENCH_UPLOAD_FLUSH=1 the bench runs `sync` before every transfer (warm-up included; after its file is marked
 * and, for the API, hashed by the client; not timed, the same for both sides) and records how long it took and Dirty
 * before and after it: every transfer then starts with no dirty pages. It did not make the slow copies quick (docs/benchmarks.md
 * "Upload", 6 December evening), so it is off by default.
 *
 * The cloud's SQL is PostgreSQL by default: the upload path runs a handful of statements, and an in-memory
 * PGlite would put its initdb (40–55 s at load 25–30, past the start timeout) and its WebAssembly
 * compilation, on the same two cores, into the API figure.
 */
import { ApiClient, sha256File, uploadMultipart } from '@edgeloop/client';
import { apiPaths, type ModelVersionResponse } from '@edgeloop/contracts';
import { postgresAvailability, startPostgres, startS3, startS3Process, type PostgresServer, type S3Server } from '@edgeloop/harness';
import { Client } from 'minio';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startBenchCloud, type BenchCloud } from '../common/cloud-process';
import { repoRoot } from '../common/repo-root';
import { resultsNameFromEnv, writeResultsFile } from '../common/results-file';
import { stopOnSignal } from '../common/stop-on-signal';
import { minioPut, streamedPresignedPut } from './direct-put';
import { describeDisk, describeFlush, DiskProbe, flushDirtyPages, type DiskWindow, type Flush } from './disk-probe';
import { checkLoads, markUpload, writeLargeEmbedder } from './embedder-model';
import {
  cpuMedians,
  machine,
  phaseMedians,
  putterCpuMedians,
  round,
  series,
  TARGET_API_VS_DIRECT,
  TARGET_RSS_GROWTH_MB,
  type ApiRun,
  type TimedRun,
} from './report';
import { idleResponsiveness, ResponsivenessProbe, type Responsiveness } from './responsiveness';
import { childProcesses, PeakRssWindow, rssMb, UploadProbe, type UploadProbeResult } from './upload-probe';

const BUCKET = 'edgeloop';
/** What the results say instead of the bench's temp dir (a path of this machine). */
const BENCH_TEMP_DIR = '<bench temp dir>';
const SAMPLE_INTERVAL_MS = Number(process.env.BENCH_UPLOAD_SAMPLE_MS ?? 20);
/** How often /proc/meminfo Dirty and Writeback are read during a transfer. */
const DISK_SAMPLE_INTERVAL_MS = 50;
/** `sync` before every transfer (BENCH_UPLOAD_FLUSH=1), so that each starts with no dirty pages; off by default. */
const FLUSH_BEFORE_TRANSFER = process.env.BENCH_UPLOAD_FLUSH === '1';
const UPLOAD_TIMEOUT_MS = 180_000;
/** minio-js puts an object of at most this part size in one PUT (s3rver has no ListMultipartUploads). */
const SINGLE_PUT_PART_SIZE = 5 * 1024 ** 3;
/** The cloud output kept for the results (its warnings). */
const CLOUD_LOG_TAIL_CHARS = 4000;

const out = (line = '') => process.stdout.write(`${line}\n`);

type Step = 'api' | 'minio' | 'streamed';

async function main(): Promise<void> {
  const benchStarted = performance.now();
  const loadAtStart = os.loadavg().map((l) => round(l, 2));
  const root = repoRoot();
  const repetitions = Math.max(1, Number(process.env.BENCH_UPLOAD_REPETITIONS ?? 3));
  const width = Math.max(1, Number(process.env.BENCH_UPLOAD_WIDTH ?? 1400));
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-upload-'));
  const cloudTmpDir = path.join(workDir, 'cloud-tmp');
  mkdirSync(cloudTmpDir);
  let s3: S3Server | undefined;
  let postgres: PostgresServer | undefined;
  let cloud: BenchCloud | undefined;
  const sqlKind = process.env.BENCH_UPLOAD_SQL ?? (postgresAvailability().available ? 'postgres' : 'memory');
  if (sqlKind !== 'postgres' && sqlKind !== 'memory') throw new Error(`BENCH_UPLOAD_SQL is ${sqlKind}: postgres or memory`);
  const resultsName = resultsNameFromEnv('BENCH_UPLOAD_RESULTS', 'upload.json');
  const cloudV8Flags = process.env.BENCH_UPLOAD_CLOUD_V8_FLAGS?.trim() || undefined;
  // s3rver in this process (the default) or in a child of its own (BENCH_UPLOAD_S3=process), as S3 is apart from both sides in a deployment
  const s3InProcess = process.env.BENCH_UPLOAD_S3 !== 'process';
  const cloudNodeOptions =
    [process.env.BENCH_UPLOAD_CLOUD_NODE_OPTIONS, cloudV8Flags ? `--require ${path.join(__dirname, 'cloud-v8-flags.js')}` : undefined].filter(Boolean).join(' ') ||
    undefined;
  const stopAll = stopOnSignal(async () => {
    if (cloud) {
      // a validator still running belongs to the cloud this bench started
      for (const pid of childProcesses(cloud.pid)) killQuietly(pid);
      await cloud.stop();
    }
    await s3?.stop();
    await postgres?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  try {
    s3 = s3InProcess ? await startS3({ buckets: [BUCKET] }) : await startS3Process({ buckets: [BUCKET] });
    if (sqlKind === 'postgres') postgres = await startPostgres();
    let started = performance.now();
    const model = await writeLargeEmbedder(path.join(workDir, 'embedder.onnx'), width);
    const writeMs = performance.now() - started;
    started = performance.now();
    const outputDims = await checkLoads(model);
    const checkMs = performance.now() - started;
    out(
      `embedder: ${(model.size / 1e6).toFixed(1)} MB, [1, 3, 112, 112] → [${outputDims.join(', ')}]; written in ${Math.round(writeMs)} ms, loads and runs in onnxruntime-node in ${Math.round(checkMs)} ms`,
    );

    // the cloud's TMPDIR is cloudTmpDir: the upload spool files it writes are its own, and go with the bench's temp dir
    cloud = await startBenchCloud({
      // the cloud of the build this bench runs from (dist-<name>/bench/upload → dist-<name>/apps)
      mainJs: path.resolve(__dirname, '..', '..', 'apps', 'cloud', 'src', 'main.js'),
      cwd: root,
      s3,
      sql: postgres ? { kind: 'postgres', url: postgres.url } : { kind: 'memory' },
      tmpDir: cloudTmpDir,
      // validation of the 210 MB model takes 1-2 s on a quiet machine and passed the 30 s default at load 32
      env: {
        EDGELOOP_MAX_UPLOAD_BYTES: String(Math.max(1024 ** 3, 2 * model.size)),
        EDGELOOP_VALIDATION_TIMEOUT_MS: '180000',
        ...(cloudNodeOptions ? { NODE_OPTIONS: cloudNodeOptions } : {}),
        ...(cloudV8Flags ? { BENCH_UPLOAD_CLOUD_V8_FLAGS: cloudV8Flags } : {}),
      },
      logTailChars: CLOUD_LOG_TAIL_CHARS,
    });
    const idleRssMb = rssMb(cloud.pid) ?? NaN;
    out(`cloud: pid ${cloud.pid} on ${cloud.url}, idle RSS ${idleRssMb} MB; s3rver on ${s3.url} (${s3InProcess ? 'in the bench process' : 'in a process of its own'})`);
    out(`cloud node flags: ${cloud.runningFlags?.join(' ') || '(none read)'}${cloudV8Flags ? `; at run time: ${cloudV8Flags}` : ''}`);
    const idleAnswer = await idleResponsiveness(cloud.url);
    const api = new ApiClient({ baseUrl: cloud.url, token: cloud.adminToken });
    // a new connection per request: s3rver closes a keep-alive connection after 5 s idle, and with its event
    // loop shared with the bench's under load, a put sent on a connection being closed failed (ECONNRESET)
    const minio = new Client({ ...s3.clientOptions, partSize: SINGLE_PUT_PART_SIZE, transportAgent: new Agent({ keepAlive: false }) });
    const s3BlobDir = path.join(s3.dir, BUCKET, 'blobs', 'sha256');

    let mark = 0;
    const clientHashMs: number[] = [];
    const runs: Record<Step, TimedRun[]> = { api: [], minio: [], streamed: [] };
    const apiRuns: ApiRun[] = [];
    /** Every transfer, warm-up included, in the order run, with the disk figures over it. */
    const transfers: { round: number; step: Step; ms: number; flush: Flush | null; disk: DiskWindow }[] = [];
    let warmUp: ApiRun | undefined;
    const runApi = async (round: number): Promise<ApiRun> => {
      await markUpload(model, ++mark);
      const name = `bench-${round}`;
      // as `edgeloop models push` does: declare the file's sha256 and size so the registry streams it to S3 as it arrives
      const hashStarted = performance.now();
      const declared = { files: [{ role: 'embedder', sha256: await sha256File(model.path), size: model.size }] };
      clientHashMs.push(performance.now() - hashStarted);
      const flush = FLUSH_BEFORE_TRANSFER ? flushDirtyPages() : null;
      // started after the client's hash, so the phases it dates and the upload's time share one origin
      const probe = new UploadProbe({ pid: (cloud as BenchCloud).pid, cloudTmpDir, s3BlobDir, fileSize: model.size, intervalMs: SAMPLE_INTERVAL_MS });
      const answers = new ResponsivenessProbe((cloud as BenchCloud).url);
      let clientSentMs: number | null = null;
      const t = performance.now();
      let response: ModelVersionResponse;
      let result: UploadProbeResult;
      let ms = 0;
      let responsiveness: Responsiveness;
      let disk: DiskWindow;
      const diskProbe = new DiskProbe(DISK_SAMPLE_INTERVAL_MS);
      try {
        response = await withTimeout(
          uploadMultipart<ModelVersionResponse>(api, apiPaths.modelVersions(name), [{ field: 'embedder', file: model.path }], { manifest: JSON.stringify(declared) }, (sent, total) => {
            if (sent === total) clientSentMs = probe.elapsed();
          }),
          `API upload of ${name}`,
        );
        ms = performance.now() - t;
      } finally {
        disk = diskProbe.stop();
        result = probe.stop();
        // stopped on failure too: its request loop would keep the bench process alive after the error
        responsiveness = await answers.stop();
      }
      const file = response.manifest.files[0];
      if (file?.size !== model.size) throw new Error(`${name}: the registry recorded ${file?.size} bytes, the file has ${model.size}`);
      if (result.phases.s3ObjectCompleteMs === null) {
        throw new Error(`${name}: no new complete object appeared in the bucket: the blob was not put (deduplicated?)`);
      }
      return { round, ms, key: `blobs/sha256/${file.sha256}`, model: `${name}@${response.version}`, clientSentMs, probe: result, responsiveness, disk, flush };
    };
    const runDirect = async (round: number, step: 'minio' | 'streamed'): Promise<TimedRun & { disk: DiskWindow }> => {
      await markUpload(model, ++mark);
      const key = `bench-direct/${round}-${step}`;
      const put = step === 'minio' ? minioPut : streamedPresignedPut;
      const flush = FLUSH_BEFORE_TRANSFER ? flushDirtyPages() : null;
      const rss = new PeakRssWindow(process.pid);
      const cpuAtStart = process.cpuUsage();
      const diskProbe = new DiskProbe(DISK_SAMPLE_INTERVAL_MS);
      const t = performance.now();
      let disk: DiskWindow;
      try {
        await withTimeout(put(minio, BUCKET, key, model.path, model.size), `${step} put of ${key}`);
      } finally {
        disk = diskProbe.stop();
      }
      const ms = performance.now() - t;
      const cpu = process.cpuUsage(cpuAtStart);
      const putterRss = rss.close();
      const stored = (await minio.statObject(BUCKET, key)).size;
      if (stored !== model.size) throw new Error(`${key}: the bucket holds ${stored} bytes, the file has ${model.size}`);
      return { round, ms, key, putterRss, putterCpuMs: { user: Math.round(cpu.user / 1000), system: Math.round(cpu.system / 1000) }, disk, flush };
    };

    // Round 0 is the warm-up (it also makes the cloud find out that s3rver has no multipart upload).
    // The three uploads of a round run back to back in an order that rotates from round to round.
    const steps: Step[] = ['api', 'minio', 'streamed'];
    for (let round = 0; round <= repetitions; round++) {
      const shift = round % steps.length;
      const order = [...steps.slice(shift), ...steps.slice(0, shift)];
      const line: string[] = [];
      const diskLines: string[] = [];
      for (const step of order) {
        if (step === 'api') {
          const run = await runApi(round);
          line.push(`api ${Math.round(run.ms)} ms (RSS ${run.probe.rss.baselineMb} → ${run.probe.rss.peakMb} MB)`);
          diskLines.push(`  api: ${describeDisk(run.disk)}${run.flush ? `; ${describeFlush(run.flush)}` : ''}`);
          transfers.push({ round, step, ms: Math.round(run.ms * 10) / 10, flush: run.flush ?? null, disk: run.disk });
          if (round > 0) {
            runs.api.push(run);
            apiRuns.push(run);
          } else warmUp = run;
        } else {
          const run = await runDirect(round, step);
          line.push(`${step} ${Math.round(run.ms)} ms`);
          diskLines.push(`  ${step}: ${describeDisk(run.disk)}${run.flush ? `; ${describeFlush(run.flush)}` : ''}`);
          transfers.push({ round, step, ms: Math.round(run.ms * 10) / 10, flush: run.flush ?? null, disk: run.disk });
          if (round > 0) runs[step].push(run);
        }
      }
      out(`${round === 0 ? 'warm-up' : `round ${round}`}: ${line.join(', ')}`);
      for (const diskLine of diskLines) out(diskLine);
    }

    const apiSeries = series(runs.api, model.size);
    const minioSeries = series(runs.minio, model.size);
    const streamedSeries = series(runs.streamed, model.size);
    const ratio = round(apiSeries.medianMBps / minioSeries.medianMBps, 2);
    // An upload's buffers may still be uncollected garbage when the next upload starts, which raises
    // the next baseline; the peak above the idle cloud (before any upload) is reported beside it.
    const growths = apiRuns.map((r) => r.probe.rss.growthMb);
    const aboveIdle = apiRuns.map((r) => round(r.probe.rss.peakMb - idleRssMb, 1));
    const maxGrowth = Math.max(...growths, ...aboveIdle);
    const phases = phaseMedians(apiRuns);
    const cpu = cpuMedians(apiRuns);
    const validators = apiRuns.map((r) => r.probe.validationChild);
    // the cloud names files in its data folder, under the bench's temp dir: no path of this machine in the results
    const cloudWarnings = cloud.logLines().map((line) => line.split(workDir).join(BENCH_TEMP_DIR));

    const results = {
      schema: 'edgeloop.bench.upload/v1',
      createdAt: new Date().toISOString(),
      machine: machine(),
      settings: {
        repetitions,
        warmUpRounds: 1,
        order: 'api, minio put and streamed put back to back in each round, order rotating per round',
        sampleIntervalMs: SAMPLE_INTERVAL_MS,
        s3: `s3rver 3.7.1 on a temp dir, ${s3InProcess ? 'in the bench process' : 'in a process of its own (BENCH_UPLOAD_S3=process)'} (no multipart upload: every put is one PUT)`,
        cloud: `node apps/cloud/src/main.js of the bench's build as a child process, its own defaults; ${postgres ? 'PostgreSQL (harness)' : 'PGlite memory://'}; log level warn`,
        units: 'MB = 10^6 bytes; MB/s = file bytes / wall time of the whole upload',
        // flags only: a value naming a file or folder would put a path of this machine into the results
        cloudNodeOptions: cloudNodeOptions ? withoutPaths(cloudNodeOptions) : null,
        cloudV8FlagsAtRunTime: cloudV8Flags ?? null,
        // given on the cloud's command line (BENCH_CLOUD_NODE_FLAGS), and those it ran with after its own defaults
        cloudNodeFlags: { given: cloud.nodeFlags, running: cloud.runningFlags },
        flushBeforeEachTransfer: FLUSH_BEFORE_TRANSFER
          ? 'sync before every transfer (warm-up included), after its file is marked and (API) hashed, not timed (BENCH_UPLOAD_FLUSH=1)'
          : false,
      },
      file: {
        bytes: model.size,
        mb: round(model.size / 1e6, 1),
        model: `ONNX embedder: input [1, 3, 112, 112] → Flatten → MatMul [37632, ${width}] → [1, ${width}]`,
        differsPerUpload: 'the first weight is rewritten before every upload, so each API upload is a new blob',
      },
      api: {
        route: `POST ${decodeURIComponent(apiPaths.modelVersions('bench-<round>'))} (role embedder, sha256 and size declared in the manifest field, @edgeloop/client uploadMultipart)`,
        clientHashMs: clientHashMs.map((ms) => Math.round(ms)),
        ...apiSeries,
        runs: apiRuns.map(describeApiRun),
        warmUp: warmUp ? describeApiRun(warmUp) : null,
      },
      direct: {
        how: 'minio Client.putObject(bucket, key, createReadStream(file), size), partSize 5 GiB (one PUT, as the cloud does on s3rver)',
        ...minioSeries,
        putterRssGrowthMb: runs.minio.map((r) => r.putterRss?.growthMb ?? null),
        putterCpuMedianMs: putterCpuMedians(runs.minio),
      },
      streamedPut: {
        how: 'for comparison: presignedPutObject + one http PUT with the file streamed as the body (nothing buffered)',
        ...streamedSeries,
        putterRssGrowthMb: runs.streamed.map((r) => r.putterRss?.growthMb ?? null),
        putterCpuMedianMs: putterCpuMedians(runs.streamed),
      },
      disk: {
        how: `/proc/meminfo Dirty and Writeback at the start of each transfer and the largest sampled during it (every ${DISK_SAMPLE_INTERVAL_MS} ms); /proc/vmstat nr_dirtied, nr_written and pgpgout over it`,
        units: 'MB = 10^6 bytes; machine-wide figures (other processes count too); dirtied and written from 4 KiB pages, pgpgout from KiB',
        transfers,
      },
      responsiveness: {
        how: `GET ${apiPaths.keys()} (an in-memory answer) every 100 ms, one at a time, during each API upload`,
        idle: idleAnswer,
        maxDuringUploadMs: apiRuns.map((r) => r.responsiveness.maxMs),
      },
      loadAverage: { start: loadAtStart, end: os.loadavg().map((l) => round(l, 2)), meaning: '1, 5 and 15 minute load averages (os.loadavg)' },
      apiVsDirect: ratio,
      apiVsStreamedPut: round(apiSeries.medianMBps / streamedSeries.medianMBps, 2),
      phasesMedianMs: phases,
      cpuMedianMs: {
        ...cpu,
        meaning: 'CPU time over an API upload: the cloud process (all threads), its validator child, and the bench process (client and s3rver)',
      },
      rss: {
        process: 'the cloud (API) process; the ONNX validator is a separate child process, reported apart',
        idleMb: idleRssMb,
        beforeUploadMb: apiRuns.map((r) => r.probe.rss.baselineMb),
        peakMb: apiRuns.map((r) => r.probe.rss.peakMb),
        growthMb: growths,
        peakAboveIdleMb: aboveIdle,
        warmUpGrowthMb: warmUp?.probe.rss.growthMb ?? null,
        maxGrowthMb: maxGrowth,
        growthMeaning: 'peak minus the RSS just before the upload, and peak minus the idle cloud; the larger is held to the target',
        validatorChild: {
          seenInEveryUpload: validators.every((v) => v !== null),
          peakRssMb: validators.map((v) => v?.peakRssMb ?? null),
        },
      },
      targets: {
        apiVsDirectMin: TARGET_API_VS_DIRECT,
        apiVsDirectMet: ratio >= TARGET_API_VS_DIRECT,
        rssGrowthMaxMb: TARGET_RSS_GROWTH_MB,
        rssGrowthMet: maxGrowth < TARGET_RSS_GROWTH_MB,
      },
      cloudLog: cloudWarnings,
      benchSeconds: round((performance.now() - benchStarted) / 1000, 1),
    };
    const resultFile = path.join(root, 'bench', 'results', resultsName);
    writeResultsFile(resultFile, results);

    const mbps = (s: typeof apiSeries) => `${s.medianMBps}`;
    const secs = (s: typeof apiSeries) => s.runsMs.map((ms) => (ms / 1000).toFixed(2)).join(' / ');
    out();
    out(`${results.file.mb} MB file, ${repetitions} timed rounds after 1 warm-up, ${machine().cpus} CPUs, Node ${process.version}`);
    out();
    out('| path | runs (s) | median s | median MB/s | vs direct put |');
    out('| --- | --- | ---: | ---: | ---: |');
    out(`| API upload (multipart POST, validated, registered) | ${secs(apiSeries)} | ${(apiSeries.medianMs / 1000).toFixed(2)} | ${mbps(apiSeries)} | ${ratio}× |`);
    out(`| direct minio putObject (one PUT) | ${secs(minioSeries)} | ${(minioSeries.medianMs / 1000).toFixed(2)} | ${mbps(minioSeries)} | 1× |`);
    out(
      `| streamed presigned PUT (reference) | ${secs(streamedSeries)} | ${(streamedSeries.medianMs / 1000).toFixed(2)} | ${mbps(streamedSeries)} | ${round(streamedSeries.medianMBps / minioSeries.medianMBps, 2)}× |`,
    );
    out();
    out('| cloud process RSS during an API upload | per run (MB) |');
    out('| --- | --- |');
    out(`| idle cloud, before any upload | ${idleRssMb} |`);
    out(`| just before the upload | ${results.rss.beforeUploadMb.join(' / ')} |`);
    out(`| peak | ${results.rss.peakMb.join(' / ')} |`);
    out(`| growth over just before | ${growths.join(' / ')} |`);
    out(`| growth over idle | ${aboveIdle.join(' / ')} |`);
    out(`| peak while receiving / after spooled | ${apiRuns.map((r) => `${r.probe.rss.peakWhileReceivingMb} / ${r.probe.rss.peakAfterSpooledMb}`).join(', ')} |`);
    out(`| validator child peak RSS | ${results.rss.validatorChild.peakRssMb.join(' / ')} |`);
    out(`| for comparison: bench process growth during a direct minio put | ${results.direct.putterRssGrowthMb.join(' / ')} |`);
    out(`| for comparison: bench process growth during a streamed PUT | ${results.streamedPut.putterRssGrowthMb.join(' / ')} |`);
    out();
    out(
      `cloud answer time of GET ${apiPaths.keys()} during the API uploads: max ${results.responsiveness.maxDuringUploadMs.join(' / ')} ms ` +
        `(idle: median ${idleAnswer.medianMs} ms, max ${idleAnswer.maxMs} ms)`,
    );
    out(`API upload phases, median ms: ${JSON.stringify(phases)}`);
    out(
      `CPU over an API upload, median ms: ${JSON.stringify(cpu)}; bench process over a direct minio put ${JSON.stringify(results.direct.putterCpuMedianMs)}, ` +
        `a streamed PUT ${JSON.stringify(results.streamedPut.putterCpuMedianMs)}`,
    );
    out(
      `targets: API/direct ${ratio} (≥ ${TARGET_API_VS_DIRECT}: ${results.targets.apiVsDirectMet ? 'met' : 'NOT met'}), ` +
        `RSS growth max ${maxGrowth} MB (< ${TARGET_RSS_GROWTH_MB}: ${results.targets.rssGrowthMet ? 'met' : 'NOT met'})`,
    );
    if (cloudWarnings.length > 0) out(`cloud log: ${cloudWarnings.join(' | ')}`);
    out(`load average (1/5/15 min): ${loadAtStart.join(' ')} at the start, ${results.loadAverage.end.join(' ')} at the end`);
    out(`wrote ${path.relative(root, resultFile)} in ${results.benchSeconds} s`);
  } finally {
    await stopAll();
  }
}

/** NODE_OPTIONS as recorded in the results: a file or folder given to a flag becomes `…`. */
function withoutPaths(options: string): string {
  return options
    .split(/\s+/)
    .map((token) => (!token.includes('/') ? token : token.includes('=') ? `${token.slice(0, token.indexOf('='))}=…` : '…'))
    .join(' ');
}

function describeApiRun(run: ApiRun) {
  return {
    round: run.round,
    ms: round(run.ms, 1),
    model: run.model,
    clientSentMs: run.clientSentMs,
    ...run.probe,
    responsiveness: run.responsiveness,
    flush: run.flush ?? null,
    disk: run.disk,
  };
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${UPLOAD_TIMEOUT_MS / 1000} s`)), UPLOAD_TIMEOUT_MS);
  });
  return Promise.race([work.catch((err: Error) => Promise.reject(new Error(`${what}: ${err.message}`, { cause: err }))), timeout]).finally(() =>
    clearTimeout(timer),
  );
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:upload failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
