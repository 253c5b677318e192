/**
 * One size of the timing bench: a fresh cloud, IDENTITIES × PER_IDENTITY synthetic labelled hard examples
 * plus as many confirmed strangers (embeddings clustered like real faces) from four cameras, a production
 * head that knows the people badly, then `runs` manual retraining runs of `face-id@production`, each timed
 * from `POST /api/v1/retraining/jobs` to the run's end (its `finishedAt`) with the health prober running.
 */
import { apiPaths, RETRAINING_STEPS, type RetrainingRun, type RetrainingStep } from '@edgeloop/contracts';
import { DEFAULT_SPLIT_OPTIONS, normalise, splitDataset, trainHead, type TrainingExample } from '@edgeloop/training';
import { buildIdentityHead } from '@edgeloop/vision';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { blurredHead, syntheticGallery } from '../../apps/cloud/src/retraining/testing/synthetic-training-data';
import { repoRoot } from '../common/repo-root';
import { startRetrainCloud, storeHardExamples, type RetrainCloud } from './bench-cloud';
import { candidateDownload, type CandidateDownload } from './downloads';
import { startHealthProber, type HealthSample, type HealthSummary } from './health-prober';
import { startIdleCloud } from './idle-cloud';
import { startMainThreadProfile, type MainThreadProfile } from './cloud-profile';
import { startLoopLag, summariseLoopLag, type LoopLagSummary, type ThreadCpu } from './loop-lag';
import type { RetrainSettings, RetrainSize } from './settings';

export const MODEL = 'face-id';
/** Cosine of an example to its person's centre: two examples of one person then meet at ≈ 0.894² ≈ 0.8. */
const CENTRE_COSINE = Math.sqrt(0.8);

export interface TimedRun {
  run: number;
  status: string;
  candidateVersion: number | null;
  error: string | null;
  loadavgStart: number[];
  loadavgEnd: number[];
  /** POST sent → the run's `finishedAt` (candidate registered when completed). */
  triggerToEndMs: number;
  steps: Record<RetrainingStep, number | null>;
  /** Trigger → first step start, plus every gap between one step's end and the next one's start. */
  queueWaitMs: number;
  health: HealthSummary;
  /** The idle cloud's (its own process, no work) `/health` probed at the same moments; null with `--no-idle-cloud`. */
  idleHealth: HealthSummary | null;
  /**
   * The busy cloud's answers over 100 ms while no answer of the idle cloud overlapping them in time was over
   * 100 ms: slow answers the retraining (not the machine) explains. Null without the idle cloud.
   */
  slowOnlyOnBusy: { count: number; maxMs: number } | null;
  /** Health answers slower than 100 ms by the step running when the request was sent, with the slowest of each. */
  slowHealthBySteps: Record<string, { count: number; maxMs: number }>;
  /**
   * Every busy-cloud answer over 100 ms: when (ms after the trigger), the step then running, the cloud's own
   * slowest component check, the slowest idle-cloud answer overlapping it, and the latest event-loop tick
   * overlapping it — what tells a held loop from a slow component from a busy machine.
   */
  slowAnswers: SlowAnswer[];
  /** Lateness of a 20 ms timer on the cloud's event loop during the run, and its ticks > 100 ms late by step. */
  loopLag: LoopLagSummary & { lateBySteps: Record<string, { count: number; maxMs: number }> };
  /** Only on a profiled run: the extra one (`--profile`), or the first (`--profile-first`). */
  profile?: MainThreadProfile;
  /** With BENCH_RETRAIN_THREADS=1: the 20 latest ticks of the loop-lag timer (> 30 ms), when, and which threads had the cores. */
  lateTicks?: Array<{ atMs: number; ms: number; cpuMs?: number; waitMs?: number; threads?: ThreadCpu[]; machineBusyPct?: number }>;
  gate: { verdict: string; primary: NonNullable<RetrainingRun['report']>['primary'] } | null;
  download: CandidateDownload | null;
}

export interface SlowAnswer {
  atMs: number;
  ms: number;
  step: string;
  slowestCheck: { name: string; ms: number } | null;
  /** Every component check of the answer as the cloud timed it. */
  checks: Record<string, number> | null;
  idleMs: number | null;
  loopLateMs: number;
  /**
   * The late ticks overlapping the answer: how late each was, and of its span how long the cloud's thread ran on a core
   * (`cpuMs`, work on the loop) and waited for one (`waitMs`, the machine busy) — the kernel's schedstat, where it has it.
   */
  loopLate: Array<{ ms: number; cpuMs?: number; waitMs?: number; threads?: ThreadCpu[]; machineBusyPct?: number }>;
  /** Garbage-collection pauses of the cloud's thread (≥ 5 ms) within the answer's span, summed, and the kinds. */
  gcMs: number;
  gcKinds: string[];
}

export interface SizeResult {
  size: RetrainSize;
  targetMs: number;
  examples: { identity: number; strangers: number; sameMeanCosine: number; strangerMeanCosine: number };
  dataset: RetrainingRun['dataset'];
  seedMs: number;
  idleHealth: HealthSummary;
  runs: TimedRun[];
  /** An extra run with the main thread CPU-profiled (`--profile`), not among the timed runs. */
  profiledRun: TimedRun | null;
}

const out = (line = '') => process.stdout.write(`${line}\n`);

export function baseBundleParts(): Array<[string, Uint8Array]> {
  const models = path.join(repoRoot(), 'models', 'base');
  return [
    ['detector', readFileSync(path.join(models, 'fr_detect.onnx'))],
    ['landmarks', readFileSync(path.join(models, 'fr_landmark.onnx'))],
    ['embedder', readFileSync(path.join(models, 'fr_feature.onnx'))],
  ];
}

/** Uploads the base bundle with `head` as `MODEL@1` and points `production` at it. */
export async function registerProduction(cloud: RetrainCloud, labels: string[], head: Uint8Array, method: string): Promise<void> {
  const form = new FormData();
  form.append('manifest', JSON.stringify({ labels }));
  for (const [role, bytes] of [...baseBundleParts(), ['head', head] as [string, Uint8Array]]) {
    form.append(role, new Blob([new Uint8Array(bytes)]), `${role}.onnx`);
  }
  await cloud.api('POST', apiPaths.modelVersions(MODEL), form);
  await cloud.api('PUT', apiPaths.modelAlias(MODEL, 'production'), { version: 1 });
  await cloud.api('PUT', `/api/v1/retraining/settings/${MODEL}`, { trainer: { method, seed: 1 } });
}

/** Starts a manual run of `MODEL@production` and follows it to its end, with the health prober running meanwhile. */
export async function timedRun(
  cloud: RetrainCloud,
  settings: RetrainSettings,
  index: number,
  options: { profile?: boolean; idleUrl?: string } = {},
): Promise<{ timed: TimedRun; run: RetrainingRun }> {
  const loadavgStart = os.loadavg();
  const profiler = options.profile ? await startMainThreadProfile() : null;
  const prober = await startHealthProber(cloud.url, settings.probeIntervalMs);
  const idleProber = options.idleUrl ? await startHealthProber(options.idleUrl, settings.probeIntervalMs) : null;
  const lag = startLoopLag();
  const trigger = Date.now();
  const queued = await cloud.api<RetrainingRun>('POST', apiPaths.retrainingJobs(), { base: `${MODEL}@production` });
  let run = queued;
  while (['queued', 'running'].includes(run.status)) {
    await new Promise((r) => setTimeout(r, settings.pollMs));
    run = await cloud.api<RetrainingRun>('GET', apiPaths.retrainingJob(queued.id));
  }
  const { summary: health, samples } = await prober.stop();
  const idle = idleProber ? await idleProber.stop() : null;
  const loopLag = lag.stop();
  const profile = await profiler?.stop();
  // the late ticks beside the raw profile (cloud-profile.ts): each stall's samples can be found by time
  if (profile && process.env.BENCH_RETRAIN_PROFILE_FILE) writeFileSync(`${process.env.BENCH_RETRAIN_PROFILE_FILE}.late.json`, JSON.stringify(loopLag.late));
  const loadavgEnd = os.loadavg();
  const end = run.finishedAt ? Date.parse(run.finishedAt) : Date.now();
  let queueWaitMs = 0;
  let previousEnd = trigger;
  for (const step of RETRAINING_STEPS) {
    const state = run.steps[step];
    if (!state.startedAt) continue;
    queueWaitMs += Math.max(0, Date.parse(state.startedAt) - previousEnd);
    previousEnd = state.finishedAt ? Date.parse(state.finishedAt) : previousEnd;
  }
  const timed: TimedRun = {
    run: index,
    status: run.status,
    candidateVersion: run.candidate?.version ?? null,
    error: run.error,
    loadavgStart,
    loadavgEnd,
    triggerToEndMs: end - trigger,
    steps: Object.fromEntries(RETRAINING_STEPS.map((s) => [s, run.steps[s].durationMs])) as Record<RetrainingStep, number | null>,
    queueWaitMs,
    health,
    idleHealth: idle?.summary ?? null,
    slowOnlyOnBusy: idle ? slowOnlyOnBusy(samples, idle.samples) : null,
    slowHealthBySteps: slowByStep(
      samples.map((x) => ({ at: x.sentAt, ms: x.ms })),
      run,
      trigger,
    ),
    slowAnswers: slowAnswers(samples, idle?.samples ?? null, loopLag.late, loopLag.gc, run, trigger),
    loopLag: { ...summariseLoopLag(loopLag), lateBySteps: slowByStep(loopLag.late, run, trigger) },
    ...(profile ? { profile } : {}),
    ...(process.env.BENCH_RETRAIN_THREADS === '1'
      ? {
          lateTicks: [...loopLag.late]
            .sort((a, b) => b.ms - a.ms)
            .slice(0, 20)
            .map(({ at, monoUs: _mono, ...tick }) => ({ atMs: at - trigger, ...tick })),
        }
      : {}),
    gate: run.report ? { verdict: run.report.verdict, primary: run.report.primary } : null,
    download: run.candidate ? await candidateDownload(cloud, MODEL, run.baseVersion, run.candidate.version) : null,
  };
  return { timed, run };
}

/** Newcomers labelled between two runs: 1 % of the identities (at least one). */
export function newcomersPerRun(size: RetrainSize): number {
  return Math.max(1, Math.round(size.identities / 100));
}

/**
 * Between two runs: `production` moves to the run's candidate (as a canary's promotion does) and
 * `newcomersPerRun` new people are labelled, `perIdentity` hard examples each from the four cameras.
 */
async function promoteAndLabelNewcomers(cloud: RetrainCloud, size: RetrainSize, run: number, candidate: number): Promise<void> {
  await cloud.api('PUT', apiPaths.modelAlias(MODEL, 'production'), { version: candidate });
  await labelNewcomers(cloud, size, run);
}

async function labelNewcomers(cloud: RetrainCloud, size: RetrainSize, run: number): Promise<void> {
  const newcomers = syntheticGallery({
    identities: newcomersPerRun(size),
    perIdentity: size.perIdentity,
    seed: 100 + run,
    sameCosine: CENTRE_COSINE,
    prefix: `new${run}`,
  });
  await storeHardExamples(
    cloud.db,
    newcomers.examples.map((e, i) => ({
      id: `he-new${run}-${i}`,
      deviceId: `cam-${(i % 4) + 1}`,
      modelName: MODEL,
      embedding: e.embedding,
      capturedAt: e.time,
      label: e.label,
    })),
  );
}

export function describeDownload(d: CandidateDownload): string {
  const delta = d.headDelta
    ? `head delta ${d.headDelta.bytes} B (${d.headDelta.carried} identities carried, ${d.headDelta.copied} copied${d.headDelta.rebuilt ? '' : '; did NOT rebuild the head'})`
    : 'no head delta';
  return (
    `download v${d.baseVersion} → v${d.candidateVersion} (${d.trainer ?? '?'}): ${d.downloadedBytes} B = ${d.percentOfFull} % of ${d.fullBundleBytes} B; ` +
    `${delta}; whole head ${d.headBytes} B = ${d.percentWithoutDelta} %`
  );
}

export async function measureSize(size: RetrainSize, settings: RetrainSettings, workDir: string): Promise<SizeResult> {
  const [cloud, idleCloud] = await Promise.all([
    startRetrainCloud(workDir, settings.logLevel),
    settings.idleCloud ? startIdleCloud(path.join(workDir, 'idle')) : Promise.resolve(null),
  ]);
  try {
    const seedStarted = Date.now();
    const gallery = syntheticGallery({
      identities: size.identities,
      perIdentity: size.perIdentity,
      strangers: size.identities,
      seed: 5,
      sameCosine: CENTRE_COSINE,
      prefix: 'id',
    });
    const labels = [...gallery.centres.keys()];
    if (settings.production === 'trained') {
      const trained = trainedProductionHead(gallery.examples, settings.method);
      await registerProduction(cloud, trained.labels, buildIdentityHead(trained), settings.method);
    } else await registerProduction(cloud, labels, buildIdentityHead(blurredHead(gallery, labels, 0.3)), settings.method);
    await storeHardExamples(
      cloud.db,
      gallery.examples.map((e, i) => ({
        id: `he-${i}`,
        deviceId: `cam-${(i % 4) + 1}`,
        modelName: MODEL,
        embedding: e.embedding,
        capturedAt: e.time,
        label: e.label,
      })),
    );
    // a production head that knows everyone: new people are labelled before the first run, as before every other
    if (settings.production === 'trained') await labelNewcomers(cloud, size, 0);
    const seedMs = Date.now() - seedStarted;
    // The seeding writes the whole gallery into SQL within seconds, which no fleet does (hard examples arrive a few
    // per device and hour, within their quota): on PGlite the cloud's periodic maintenance then meets thousands of
    // new rows at once, and its first vacuum of hard_examples held the event loop 128–205 ms in the middle of a run.
    // A cloud that collected the same examples over days vacuumed them as they came, so it runs once here first.
    const maintenanceMs = await cloud.db.maintainEmbedded();
    const examples = { ...clusterCosines(gallery.examples), identity: size.identities * size.perIdentity, strangers: size.identities };
    out(
      `${size.identities} identities × ${size.perIdentity} + ${size.identities} strangers stored in ${(seedMs / 1000).toFixed(1)} s ` +
        `(same-person cosine ${examples.sameMeanCosine.toFixed(3)}, strangers ${examples.strangerMeanCosine.toFixed(3)})` +
        (maintenanceMs === undefined ? '' : `; the embedded SQL's maintenance after it: ${maintenanceMs} ms`),
    );
    const idleProber = await startHealthProber(cloud.url, settings.probeIntervalMs);
    await new Promise((r) => setTimeout(r, 3000));
    const idleHealth = (await idleProber.stop()).summary;
    const runs: TimedRun[] = [];
    let dataset: RetrainingRun['dataset'] = null;
    for (let i = 1; i <= settings.runs; i++) {
      const { timed, run } = await timedRun(cloud, settings, i, { profile: settings.profileFirstRun && i === 1, idleUrl: idleCloud?.url });
      dataset ??= run.dataset;
      runs.push(timed);
      // the next run retrains the candidate, after new people were labelled: what a device on it downloads then
      if (i < settings.runs && run.candidate) await promoteAndLabelNewcomers(cloud, size, i, run.candidate.version);
      out(
        `  run ${i}: ${timed.status} in ${(timed.triggerToEndMs / 1000).toFixed(1)} s ` +
          `(${RETRAINING_STEPS.map((s) => `${s} ${timed.steps[s] ?? '-'}`).join(', ')}, queue ${timed.queueWaitMs} ms); ` +
          `health max ${timed.health.maxMs} ms, p99 ${timed.health.p99Ms} ms, ${timed.health.over100Ms}/${timed.health.samples} over 100 ms` +
          (timed.idleHealth && timed.slowOnlyOnBusy
            ? ` (idle cloud meanwhile: max ${timed.idleHealth.maxMs} ms, p99 ${timed.idleHealth.p99Ms} ms, ${timed.idleHealth.over100Ms}/${timed.idleHealth.samples} over 100 ms; ` +
              `over 100 ms on the busy cloud only: ${timed.slowOnlyOnBusy.count}, max ${timed.slowOnlyOnBusy.maxMs} ms)`
            : '') +
          '; ' +
          `load ${timed.loadavgStart[0].toFixed(1)} → ${timed.loadavgEnd[0].toFixed(1)}${timed.error ? `; ${timed.error}` : ''}`,
      );
      for (const a of timed.slowAnswers) out(`    ${describeSlowAnswer(a)}`);
      if (timed.download) out(`    ${describeDownload(timed.download)}`);
      if (timed.profile) out(`    profiled: main thread ${describeOrigins(timed.profile)}`);
    }
    let profiledRun: TimedRun | null = null;
    if (settings.profile) {
      profiledRun = (await timedRun(cloud, settings, settings.runs + 1, { profile: true, idleUrl: idleCloud?.url })).timed;
      out(`  profiled run: ${(profiledRun.triggerToEndMs / 1000).toFixed(1)} s; main thread ${describeOrigins(profiledRun.profile!)}`);
    }
    return { size, targetMs: size.targetMs, examples, dataset, seedMs, idleHealth, runs, profiledRun };
  } finally {
    await Promise.all([cloud.stop(), idleCloud?.stop()]);
  }
}

/**
 * The float32 head the cloud's trainer makes of these examples, as the cloud will read them back (the stored
 * hard examples `he-<i>` from `cam-<i % 4 + 1>`, normalised, oldest first) with the run's split and seed.
 */
function trainedProductionHead(stored: readonly TrainingExample[], method: RetrainSettings['method']) {
  const examples = stored
    .map((e, i) => ({ ...e, id: `he-${i}`, group: `cam-${(i % 4) + 1}`, embedding: normalise(e.embedding) }))
    .sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const split = splitDataset(examples, { seed: 1, windowMs: DEFAULT_SPLIT_OPTIONS.windowMs });
  return trainHead(split.train, split.validation, { method, seed: 1 }).head;
}

/** Busy-cloud answers over 100 ms that no idle-cloud answer over 100 ms overlapped in time. */
function slowOnlyOnBusy(busy: readonly HealthSample[], idle: readonly HealthSample[]): { count: number; maxMs: number } {
  const slowIdle = idle.filter((s) => s.ms > 100);
  let count = 0;
  let maxMs = 0;
  for (const b of busy) {
    if (b.ms <= 100) continue;
    const [from, to] = [b.sentAt, b.sentAt + b.ms];
    if (slowIdle.some((s) => s.sentAt < to && s.sentAt + s.ms > from)) continue;
    count++;
    maxMs = Math.max(maxMs, Math.round(b.ms));
  }
  return { count, maxMs };
}

/** Mean cosine of same-person pairs and of stranger pairs (first 20 of each kind), to check the clusters. */
function clusterCosines(examples: ReadonlyArray<{ label: string | null; embedding: Float32Array }>): { sameMeanCosine: number; strangerMeanCosine: number } {
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  const byLabel = new Map<string, Float32Array[]>();
  const strangers: Float32Array[] = [];
  for (const e of examples) {
    if (e.label === null) strangers.push(e.embedding);
    else byLabel.set(e.label, [...(byLabel.get(e.label) ?? []), e.embedding]);
  }
  const same: number[] = [];
  for (const vectors of [...byLabel.values()].slice(0, 20)) for (let i = 1; i < vectors.length; i++) same.push(dot(vectors[0], vectors[i]));
  const other: number[] = [];
  for (let i = 1; i < Math.min(20, strangers.length); i++) other.push(dot(strangers[0], strangers[i]));
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);
  return { sameMeanCosine: mean(same), strangerMeanCosine: mean(other) };
}

export /** The five origins of the main thread's samples that took longest. */
function describeOrigins(profile: MainThreadProfile): string {
  return profile.byOrigin
    .slice(0, 5)
    .map((o) => `${o.origin} ${o.ms} ms`)
    .join(', ');
}

function describeSlowAnswer(a: SlowAnswer): string {
  return (
    `slow /health at +${(a.atMs / 1000).toFixed(2)} s (${a.step}): ${Math.round(a.ms)} ms; ` +
    `slowest check ${a.slowestCheck ? `${a.slowestCheck.name} ${a.slowestCheck.ms} ms` : 'none'}` +
    (a.checks
      ? ` (${Object.entries(a.checks)
          .sort((x, y) => y[1] - x[1])
          .map(([name, ms]) => `${name} ${ms}`)
          .join(', ')})`
      : '') +
    '; ' +
    `idle cloud ${a.idleMs === null ? '-' : `${Math.round(a.idleMs)} ms`}; loop tick late ${a.loopLateMs} ms; ` +
    `GC ${a.gcMs} ms${a.gcKinds.length ? ` (${a.gcKinds.join(', ')})` : ''}`
  );
}

function slowAnswers(
  busy: readonly HealthSample[],
  idle: readonly HealthSample[] | null,
  late: ReadonlyArray<{ at: number; ms: number; cpuMs?: number; waitMs?: number; threads?: ThreadCpu[]; machineBusyPct?: number }>,
  gc: ReadonlyArray<{ at: number; ms: number; kind: string }>,
  run: RetrainingRun,
  trigger: number,
): SlowAnswer[] {
  const windows = RETRAINING_STEPS.flatMap((step) => {
    const state = run.steps[step];
    return state.startedAt && state.finishedAt ? [{ step, from: Date.parse(state.startedAt), to: Date.parse(state.finishedAt) }] : [];
  });
  return busy
    .filter((b) => b.ms > 100)
    .map((b) => {
      const [from, to] = [b.sentAt, b.sentAt + b.ms];
      const overlapping = idle?.filter((s) => s.sentAt < to && s.sentAt + s.ms > from) ?? null;
      // a late tick fired at `at` after the loop was held for `ms`: it overlaps when that span meets the answer's
      const ticks = late.filter((l) => l.at - l.ms < to && l.at > from);
      const pauses = gc.filter((g) => g.at < to && g.at + g.ms > from);
      return {
        atMs: b.sentAt - trigger,
        ms: Math.round(b.ms),
        step: windows.find((w) => b.sentAt >= w.from && b.sentAt <= w.to)?.step ?? (b.sentAt < trigger ? 'before the trigger' : 'between steps'),
        slowestCheck: b.slowestCheck,
        checks: b.checks,
        idleMs: overlapping ? overlapping.reduce((m, s) => Math.max(m, s.ms), 0) : null,
        loopLateMs: ticks.reduce((m, l) => Math.max(m, l.ms), 0),
        loopLate: ticks.map(({ ms, cpuMs, waitMs, threads, machineBusyPct }) => ({ ms, cpuMs, waitMs, threads, machineBusyPct })),
        gcMs: Math.round(pauses.reduce((s, g) => s + g.ms, 0)),
        gcKinds: pauses.map((g) => `${g.kind} ${g.ms} ms`),
      };
    });
}

/** Slow health answers (> 100 ms) by the step that was running when each was sent ("between steps" otherwise). */
function slowByStep(samples: ReadonlyArray<{ at: number; ms: number }>, run: RetrainingRun, trigger: number): Record<string, { count: number; maxMs: number }> {
  const windows = RETRAINING_STEPS.flatMap((step) => {
    const state = run.steps[step];
    return state.startedAt && state.finishedAt ? [{ step, from: Date.parse(state.startedAt), to: Date.parse(state.finishedAt) }] : [];
  });
  const out: Record<string, { count: number; maxMs: number }> = {};
  for (const sample of samples) {
    if (sample.ms <= 100) continue;
    const key = windows.find((w) => sample.at >= w.from && sample.at <= w.to)?.step ?? (sample.at < trigger ? 'before the trigger' : 'between steps');
    const entry = (out[key] ??= { count: 0, maxMs: 0 });
    entry.count++;
    entry.maxMs = Math.max(entry.maxMs, Math.round(sample.ms));
  }
  return out;
}
