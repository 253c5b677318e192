import { median } from '../common/stats';
import type { UploadedVersion } from './bundle';
import type { CloudDetail } from './cloud-probe';
import type { ConvergenceRun } from './convergence';
import type { DownloadRun } from './downloads';
import type { JoinTiming } from './fleet';
import { machine, round, seconds, table, TARGET_CONVERGE_1000_MS, TARGET_HEAD_ONLY_RATIO } from './report';
import type { BenchSettings } from './run';

export interface ResultsInput {
  settings: BenchSettings;
  source: { commit: string | null; uncommittedFilesInAppsAndLibs: number | null };
  machine: ReturnType<typeof machine>;
  versions: UploadedVersion[];
  joins: Array<JoinTiming & { group: string }>;
  convergence: ConvergenceRun[];
  downloads: DownloadRun[];
  profile: (CloudDetail & { run: ConvergenceRun }) | undefined;
  /** The cloud's last lines (warn level and above). */
  cloudLog: string[];
  benchSeconds: number;
}

export type RolloutResults = ReturnType<typeof resultsDocument>;

export function resultsDocument(input: ResultsInput) {
  const { settings, convergence, downloads, versions } = input;
  const bySize = settings.sizes.map((devices) => {
    const runs = convergence.filter((r) => r.devices === devices);
    const med = (f: (r: ConvergenceRun) => number) => round(median(runs.map(f)));
    const worst = (f: (r: ConvergenceRun) => number) => round(Math.max(...runs.map(f)));
    return {
      devices,
      runs: runs.length,
      medianMs: {
        post: med((r) => r.postMs),
        allReceived: med((r) => r.allReceivedMs),
        allActive: med((r) => r.allActiveMs),
        completedTick: med((r) => r.completedTickMs),
        completedSeen: med((r) => r.completedSeenMs),
        perDeviceActiveP50: med((r) => r.perDevice.activeSentMs.p50),
        perDeviceActiveP99: med((r) => r.perDevice.activeSentMs.p99),
      },
      /** From the request, the time an operator waits: the POST plus (c). */
      medianFromRequestMs: med((r) => r.postMs + r.completedSeenMs),
      worstMs: { completedSeen: worst((r) => r.completedSeenMs), fromRequest: worst((r) => r.postMs + r.completedSeenMs) },
      failures: runs.flatMap((r) => r.failures),
      /** Per process, the median over the runs of its mean CPU and the highest 1 s peak seen (% of one core). */
      processCpu: (runs[0]?.processCpu ?? []).map((p) => ({
        name: p.name,
        meanPercentMedian: round(median(runs.map((r) => r.processCpu?.find((q) => q.name === p.name)?.meanPercent ?? NaN))),
        peakPercentMax: Math.max(...runs.map((r) => r.processCpu?.find((q) => q.name === p.name)?.peakPercent ?? 0)),
      })),
    };
  });
  const [full, headOnly] = downloads;
  const fullBytes = full?.bytesPerDevice.median ?? NaN;
  const headOnlyBytes = headOnly?.bytesPerDevice.median ?? NaN;
  const ratio = headOnlyBytes / fullBytes;
  const [v1, v2] = versions;
  const sizeOfBundle = (v: UploadedVersion) => Object.values(v.files).reduce((n, f) => n + f.size, 0);
  // a head of K identities is a [512, K] float matrix: how many identities keep a head-only update within the target
  const headBytes = v2?.files.head?.size ?? NaN;
  const otherBytes = v2 ? sizeOfBundle(v2) - headBytes : NaN;
  const perIdentity = 512 * 4;
  const headOverhead = headBytes - perIdentity * settings.identities;
  const r = TARGET_HEAD_ONLY_RATIO;
  const maxIdentities = Math.floor(((r / (1 - r)) * otherBytes - headOverhead) / perIdentity);
  const changed = v1 && v2 ? Object.keys(v2.files).filter((role) => v1.files[role]?.sha256 !== v2.files[role].sha256) : [];
  const target1000 = bySize.find((s) => s.devices === 1000);
  // issue 13: 5,000 devices within the same 10 s from the request
  const target5000 = bySize.find((s) => s.devices === 5000);
  return {
    schema: 'edgeloop.bench.rollout/v1',
    createdAt: new Date().toISOString(),
    machine: input.machine,
    source: input.source,
    settings: {
      sizes: settings.sizes,
      runsPerSize: settings.runs,
      rolloutTickMs: settings.tickMs,
      deviceApplyMs: settings.applyMs,
      downloaders: settings.downloaders,
      headIdentities: settings.identities,
      stack: settings.stack,
      replicas: settings.replicas,
      cloud:
        settings.stack === 'embedded'
          ? 'node dist/apps/cloud/src/main.js as a child process: embedded aedes broker, PGlite memory://, Redis (harness redis-server), s3rver (in the bench process); log level warn'
          : `PostgreSQL 15 and Mosquitto 2 (dynamic security, no persistence) started by the harness, Redis, s3rver (in the bench process); ${
              settings.replicas === 0
                ? 'one cloud process (node dist/apps/cloud/src/main.js) doing everything'
                : `one API replica (EDGELOOP_WORKERS=false, the bench's API) and ${settings.replicas} worker replica(s), separate processes, shared subscription group edgeloop-cloud, each its own persistent MQTT session`
            }; log level warn`,
      processCpu: 'each process tree sampled from /proc every 500 ms during each convergence run (POST to completed seen): mean and busiest 1 s, in % of one core',
      devices:
        'BenchDevice simulators in one worker thread of the bench process (the main thread only sends API requests and reads the clock), one mqtt.js client each with its own provisioned credentials: persistent QoS 1 session, retained status and last will, desired state parsed and both Ed25519 signatures verified, reported downloading then active (after deviceApplyMs), retained',
      timing:
        'wall clock from the answer of POST /api/v1/deployments (strategy all, target the group); the cloud answers once the deployment and its desired states are committed, and its rollout tick publishes them after that: postMs + completedSeenMs is the time from the request. completedTick is SQL now() of the rollout tick that completed the deployment (the start of its transaction), completedSeen when the bench heard the deployment.completed (or failed) event on the live event stream of the cloud, GET /api/v1/events (no polling: a GET of a 5,000-device deployment cost the cloud 0.2-0.4 s)',
      probe: 'bench/rollout/cloud-probe-hook.ts is --required into the cloud: it times SQL statements, service and repository calls and rollout ticks during each run (convergence.runs[].cloud); with profile, one extra run at the largest size is also CPU-profiled (cloudProfile)',
      profile: settings.profile,
    },
    fleetJoin: input.joins.map((j) => ({
      group: j.group,
      devices: j.devices,
      provisionMs: round(j.provisionMs),
      provisionPerSecond: round(j.devices / (j.provisionMs / 1000), 1),
      provisionRetries: j.provisionRetries,
      connectMs: round(j.connectMs),
      settledMs: round(j.settledMs),
    })),
    convergence: {
      bySize,
      runs: convergence.map((r) => ({
        ...r,
        postMs: round(r.postMs),
        allReceivedMs: round(r.allReceivedMs),
        allActiveMs: round(r.allActiveMs),
        completedTickMs: round(r.completedTickMs),
        completedSeenMs: round(r.completedSeenMs),
        simulatorCheckMsTotal: round(r.simulatorCheckMsTotal),
      })),
    },
    bytes: {
      how: 'downloading devices keep a content-addressed cache (a folder per device, files named by sha256) and fetch only the blobs they lack from GET /api/v1/blobs/{sha256} with their HTTP device token (@edgeloop/client downloadBlob, sha256 verified); bytes = response body bytes received',
      versions: versions.slice(0, 2).map((v) => ({ model: `${v.ref.name}@${v.ref.version}`, files: v.files, bundleBytes: sizeOfBundle(v) })),
      rolesChangedFromV1ToV2: changed,
      fullBundleBytesPerDevice: fullBytes,
      headOnlyBytesPerDevice: headOnlyBytes,
      headOnlyVsFull: round(ratio, 5),
      headOnlyVsFullPercent: round(100 * ratio, 3),
      headBytesPerIdentity: perIdentity,
      headOnlyWithinTargetUpToIdentities: maxIdentities,
      runs: downloads.map((d) => ({ ...d, convergence: { ...d.convergence, allActiveMs: round(d.convergence.allActiveMs), completedSeenMs: round(d.convergence.completedSeenMs) } })),
    },
    targets: {
      converge1000MaxMs: TARGET_CONVERGE_1000_MS,
      converge1000WorstMs: target1000?.worstMs.completedSeen ?? null,
      converge1000Met: target1000 ? target1000.worstMs.completedSeen <= TARGET_CONVERGE_1000_MS && target1000.failures.length === 0 : null,
      converge1000FromRequestWorstMs: target1000?.worstMs.fromRequest ?? null,
      converge1000FromRequestMet: target1000 ? target1000.worstMs.fromRequest <= TARGET_CONVERGE_1000_MS && target1000.failures.length === 0 : null,
      converge5000FromRequestWorstMs: target5000?.worstMs.fromRequest ?? null,
      converge5000FromRequestMet: target5000 ? target5000.worstMs.fromRequest <= TARGET_CONVERGE_1000_MS && target5000.failures.length === 0 : null,
      headOnlyRatioMax: TARGET_HEAD_ONLY_RATIO,
      headOnlyRatioMet: Number.isFinite(ratio) ? ratio <= TARGET_HEAD_ONLY_RATIO : null,
    },
    cloudProfile: input.profile ?? null,
    cloudLog: input.cloudLog,
    benchSeconds: round(input.benchSeconds, 1),
  };
}

export function printSummary(results: RolloutResults, out: (line?: string) => void): void {
  const { settings, convergence, bytes, targets } = results;
  out();
  const { loadAverage, sha256Of64MiBMs } = results.machine;
  out(
    `stack ${settings.stack}${settings.replicas > 0 ? ` with 1 API + ${settings.replicas} worker replica(s)` : ''}; rollout tick ${settings.rolloutTickMs} ms, device apply ${settings.deviceApplyMs} ms, ${results.machine.cpus} CPUs, Node ${results.machine.node}; ` +
      `load average ${loadAverage.before[0]} → ${loadAverage.after[0]}, sha256 of 64 MiB ${sha256Of64MiBMs.before} → ${sha256Of64MiBMs.after} ms; times in s from the POST answer`,
  );
  out();
  out(
    table(
      ['devices', 'model', 'POST', '(a) all received', '(b) all active', '(c) completed: tick – seen', 'per device active p50 / p90 / p99', 'cloud took active p99', 'marked active p99'],
      convergence.runs.map((r) => [
        r.devices,
        r.model,
        seconds(r.postMs),
        seconds(r.allReceivedMs),
        seconds(r.allActiveMs),
        `${seconds(r.completedTickMs)} – ${seconds(r.completedSeenMs)}`,
        `${seconds(r.perDevice.activeSentMs.p50)} / ${seconds(r.perDevice.activeSentMs.p90)} / ${seconds(r.perDevice.activeSentMs.p99)}`,
        seconds(r.perDevice.activeTakenMs.p99),
        seconds(r.perDevice.markedActiveMs.p99),
      ]),
      [true, false, true, true, true, true, true, true, true],
    ),
  );
  out();
  out(
    table(
      ['devices', 'runs', 'median POST', 'median (a)', 'median (b)', 'median (c) seen', 'worst (c) seen', 'median POST + (c)', 'worst POST + (c)'],
      convergence.bySize.map((s) => [
        s.devices,
        s.runs,
        seconds(s.medianMs.post),
        seconds(s.medianMs.allReceived),
        seconds(s.medianMs.allActive),
        seconds(s.medianMs.completedSeen),
        seconds(s.worstMs.completedSeen),
        seconds(s.medianFromRequestMs),
        seconds(s.worstMs.fromRequest),
      ]),
      [true, true, true, true, true, true, true, true, true],
    ),
  );
  out();
  out('CPU per process during the runs, % of one core: median of the runs\' means (highest 1 s peak):');
  for (const s of convergence.bySize) out(`  N=${s.devices}: ${s.processCpu.map((p) => `${p.name} ${p.meanPercentMedian} (${p.peakPercentMax})`).join('; ')}`);
  out();
  out(
    table(
      ['update', 'blob bytes per device (median)', 'blobs fetched', 'blobs cached', 'vs full bundle', 'desired-state message bytes'],
      bytes.runs.map((d, i) => [
        `${d.model} (${i === 0 ? 'full bundle, empty cache' : `changed: ${bytes.rolesChangedFromV1ToV2.join(', ')}`})`,
        d.bytesPerDevice.median,
        d.fetchedPerDevice,
        d.cacheHitsPerDevice,
        i === 0 ? '1' : `${bytes.headOnlyVsFullPercent} %`,
        d.desiredStateBytes,
      ]),
      [false, true, true, true, true, true],
    ),
  );
  out(
    `head of ${settings.headIdentities} identities; ${bytes.headBytesPerIdentity} bytes per identity: a head-only update stays within ${TARGET_HEAD_ONLY_RATIO * 100} % up to ${bytes.headOnlyWithinTargetUpToIdentities} identities`,
  );
  out();
  out('where the cloud spent each run (from the probe inside it; ms):');
  out();
  out(
    table(
      ['devices', 'model', 'create', 'its transaction (5 ms timer runs)', 'its publish', 'ticks: n × median (max)', 'first tick at', 'ticks at once', 'statements per tick', 'device messages: n, ms', 'SQL: statements, ms'],
      convergence.runs
        .filter((r) => r.cloud)
        .map((r) => {
          const c = r.cloud!;
          return [
            r.devices,
            r.model,
            c.create.ms,
            `${c.create.transactionMs} (${c.loopHeartbeatsDuring.createTransaction})`,
            c.create.publishMs,
            `${c.ticks.count} × ${c.ticks.medianMs} (${c.ticks.maxMs})`,
            c.ticks.firstStartMs ?? '',
            c.ticks.maxInFlight,
            c.ticks.statementsMedian,
            `${c.reports.handled}, ${c.reports.totalMs}`,
            `${c.sql.statements}, ${c.sql.executionMs}`,
          ];
        }),
      [true, false, true, true, true, true, true, true, true, true, true],
    ),
  );
  out();
  const profile = results.cloudProfile;
  if (profile) {
    const cpu = profile.cpu;
    out(
      `one more run with ${profile.run.devices} devices, CPU-profiled (POST ${seconds(profile.run.postMs)} s, (c) ${seconds(profile.run.completedSeenMs)} s from its answer)` +
        (cpu ? `: cloud main thread busy ${cpu.busyPercent} % of ${cpu.sampledMs} ms sampled` : ''),
    );
    for (const o of cpu?.byOrigin.slice(0, 8) ?? []) out(`  ${o.percent} %  ${o.origin}`);
    for (const c of profile.calls.slice(0, 10)) out(`  ${c.what}: ${c.count} × mean ${c.meanMs} ms (max ${c.maxMs})`);
    for (const t of profile.transactions) {
      out(`  transactions opened by ${t.what}: ${t.count} × mean ${t.meanMs} ms (max ${t.maxMs}); a 5 ms timer ran ${t.heartbeats} times while they were open`);
    }
    out(`  SQL: ${profile.statements.count} statements, ${profile.statements.totalMs} ms of execution; costliest:`);
    for (const st of profile.statements.top.slice(0, 5)) out(`    ${st.count} × ${st.meanMs} ms (plus ${st.waitedMs} ms waiting, all together)  ${st.what}`);
    out();
  }
  out(
    `targets: 1,000 devices converge in ≤ ${targets.converge1000MaxMs / 1000} s: worst ${targets.converge1000WorstMs === null ? 'n/a' : seconds(targets.converge1000WorstMs)} s from the POST answer ` +
      `(${metText(targets.converge1000Met)}), ${targets.converge1000FromRequestWorstMs === null ? 'n/a' : seconds(targets.converge1000FromRequestWorstMs)} s from the request (${metText(targets.converge1000FromRequestMet)}); ` +
      `head-only update ≤ ${targets.headOnlyRatioMax * 100} % of the full bundle: ${bytes.headOnlyVsFullPercent} % (${metText(targets.headOnlyRatioMet)})`,
  );
  out(
    `target: 5,000 devices converge in ≤ ${targets.converge1000MaxMs / 1000} s from the request: worst ` +
      `${targets.converge5000FromRequestWorstMs === null ? 'n/a' : seconds(targets.converge5000FromRequestWorstMs)} s (${metText(targets.converge5000FromRequestMet)})`,
  );
  if (results.cloudLog.length > 0) out(`cloud log (warnings): ${results.cloudLog.slice(-5).join(' | ')}`);
}

const metText = (met: boolean | null): string => (met === null ? 'not measured' : met ? 'met' : 'NOT met');
