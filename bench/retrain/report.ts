/** The retraining bench's tables, target lines and results document. */
import { RETRAINING_STEPS } from '@edgeloop/contracts';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { AccuracyResult } from './accuracy';
import type { RetrainSettings } from './settings';
import type { SizeResult, TimedRun } from './timing';

/** Health answers within this many ms, every sample, during every run. */
export const TARGET_HEALTH_MS = 100;
/** Candidate download for a device on the base version, in percent of the full bundle. */
export const TARGET_DOWNLOAD_PERCENT = 1;

const out = (line = '') => process.stdout.write(`${line}\n`);
const range = (values: number[], digits = 1, scale = 1): string => {
  const v = values.filter(Number.isFinite).map((x) => x / scale);
  if (v.length === 0) return '-';
  const [lo, hi] = [Math.min(...v), Math.max(...v)];
  return lo === hi ? lo.toFixed(digits) : `${lo.toFixed(digits)}–${hi.toFixed(digits)}`;
};
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

export interface TargetLine {
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export function sizeTargets(size: SizeResult): TargetLine[] {
  const label = `${size.size.identities} × ${size.size.perIdentity}`;
  const runs = size.runs;
  const completed = runs.every((r) => r.status === 'completed');
  const worstHealth = Math.max(...runs.map((r) => r.health.maxMs));
  // run 1 retrains the uploaded production head; every later run retrains the run before's candidate after newcomers were labelled
  const first = runs.slice(0, 1).map((r) => r.download?.percentOfFull ?? NaN);
  const later = runs.slice(1);
  const downloads = later.map((r) => r.download?.percentOfFull ?? NaN);
  const deltaBytes = later.map((r) => r.download?.downloadedBytes ?? NaN);
  return [
    {
      what: `${label}: trigger → candidate registered`,
      target: `≤ ${size.targetMs / 1000} s`,
      measured: `${range(
        runs.map((r) => r.triggerToEndMs),
        1,
        1000,
      )} s over ${runs.length} runs${completed ? '' : ` (${runs.filter((r) => r.status !== 'completed').length} not completed)`}`,
      met: completed && runs.every((r) => r.triggerToEndMs <= size.targetMs),
    },
    {
      what: `${label}: GET /api/v1/health during the runs`,
      target: `every answer ≤ ${TARGET_HEALTH_MS} ms`,
      measured: `max ${range(
        runs.map((r) => r.health.maxMs),
        0,
      )} ms, p99 ${range(
        runs.map((r) => r.health.p99Ms),
        0,
      )} ms, over 100 ms ${range(
        runs.map((r) => r.health.over100Ms),
        0,
      )} of ${range(
        runs.map((r) => r.health.samples),
        0,
      )}`,
      met: worstHealth <= TARGET_HEALTH_MS && runs.every((r) => r.health.errors === 0),
    },
    {
      what: `${label}: candidate download / full bundle, retrain of a candidate after new people were labelled (runs 2+)`,
      target: `≤ ${TARGET_DOWNLOAD_PERCENT} %`,
      measured:
        later.length > 0
          ? `${range(downloads, 2)} % (${range(deltaBytes, 0)} of ${later[0]?.download?.fullBundleBytes ?? '-'} B; whole head ${range(
              later.map((r) => r.download?.percentWithoutDelta ?? NaN),
              2,
            )} %)`
          : 'no run 2',
      met: later.length > 0 && downloads.every((p) => p <= TARGET_DOWNLOAD_PERCENT),
    },
    {
      what: `${label}: candidate download / full bundle, first retrain of the uploaded (float32) head (run 1)`,
      target: `≤ ${TARGET_DOWNLOAD_PERCENT} %`,
      measured: `${range(first, 2)} % (${runs[0]?.download?.downloadedBytes ?? '-'} of ${runs[0]?.download?.fullBundleBytes ?? '-'} B; ${
        runs[0]?.download?.headDelta
          ? `a delta from the float32 head carrying ${runs[0].download.headDelta.carried} identities, copying ${runs[0].download.headDelta.copied}`
          : 'no delta: the whole head'
      }; whole head ${range(
        runs.slice(0, 1).map((r) => r.download?.percentWithoutDelta ?? NaN),
        2,
      )} %)`,
      met: first.every((p) => p <= TARGET_DOWNLOAD_PERCENT),
    },
  ];
}

export function printSize(size: SizeResult): void {
  const runs = size.runs;
  out();
  out(`${size.size.identities} identities × ${size.size.perIdentity} examples (+ ${size.size.identities} strangers), ${runs.length} runs — ranges`);
  const rows: Array<[string, (r: TimedRun) => number]> = [
    ...RETRAINING_STEPS.map((s): [string, (r: TimedRun) => number] => [s, (r) => r.steps[s] ?? NaN]),
    ['queue waits', (r) => r.queueWaitMs],
    ['trigger → registered', (r) => r.triggerToEndMs],
  ];
  for (const [name, of] of rows) out(`  ${name.padEnd(22)} ${range(runs.map(of), 0).padStart(14)} ms`);
  out(`  load average (1 min)   ${runs.map((r) => `${r.loadavgStart[0].toFixed(1)}→${r.loadavgEnd[0].toFixed(1)}`).join(', ')}`);
  const slow = new Map<string, { count: number; maxMs: number }>();
  for (const r of runs)
    for (const [step, v] of Object.entries(r.slowHealthBySteps)) {
      const e = slow.get(step) ?? { count: 0, maxMs: 0 };
      slow.set(step, { count: e.count + v.count, maxMs: Math.max(e.maxMs, v.maxMs) });
    }
  out(`  health > 100 ms by step (all runs): ${[...slow].map(([step, v]) => `${step} ${v.count} (max ${v.maxMs} ms)`).join(', ') || 'none'}`);
  out(
    `  event loop: max lateness ${range(
      runs.map((r) => r.loopLag.maxMs),
      0,
    )} ms, held ${range(
      runs.map((r) => r.loopLag.heldMs),
      0,
    )} ms per run; GC pauses of the cloud's thread max ${range(
      runs.map((r) => r.loopLag.gcMaxMs ?? 0),
      0,
    )} ms, ${range(
      runs.map((r) => r.loopLag.gcMs ?? 0),
      0,
    )} ms per run, of which for external memory ${range(
      runs.map((r) => r.loopLag.externalGcs ?? 0),
      0,
    )} a run (longest ${range(
      runs.map((r) => r.loopLag.externalGcMaxMs ?? 0),
      0,
    )} ms); ` +
      `ticks > 100 ms late by step: ${Object.entries(runs[runs.length - 1]?.loopLag.lateBySteps ?? {})
        .map(([step, v]) => `${step} ${v.count} (max ${v.maxMs} ms)`)
        .join(', ')} (last run)`,
  );
  out(
    `  idle health            max ${size.idleHealth.maxMs} ms, p99 ${size.idleHealth.p99Ms} ms over ${size.idleHealth.samples} samples (3 s before the runs)`,
  );
  const idle = runs.flatMap((r) => (r.idleHealth && r.slowOnlyOnBusy ? [{ idle: r.idleHealth, only: r.slowOnlyOnBusy }] : []));
  if (idle.length > 0) {
    out(
      `  idle cloud during runs max ${range(
        idle.map((r) => r.idle.maxMs),
        0,
      )} ms, p99 ${range(
        idle.map((r) => r.idle.p99Ms),
        0,
      )} ms, over 100 ms ${range(
        idle.map((r) => r.idle.over100Ms),
        0,
      )}; busy cloud over 100 ms with no slow idle answer at the time: ${range(
        idle.map((r) => r.only.count),
        0,
      )} (max ${range(
        idle.map((r) => r.only.maxMs),
        0,
      )} ms)`,
    );
  }
  for (const t of sizeTargets(size)) out(`  ${t.what}: ${t.measured} (target ${t.target}) — ${verdict(t.met)}`);
}

export function accuracyTargets(a: AccuracyResult): TargetLine[] {
  const d = a.run.download;
  return [
    {
      what: `real photos: new person (${a.newPerson.name}) recognised by the candidate on the holdout`,
      target: 'all of its holdout probes',
      measured: a.newPerson.candidate ? `${a.newPerson.candidate.correct} of ${a.newPerson.candidate.n}` : 'no holdout probes',
      met: !!a.newPerson.candidate && a.newPerson.candidate.n > 0 && a.newPerson.candidate.correct === a.newPerson.candidate.n,
    },
    {
      what: 'real photos: candidate download / full bundle',
      target: `≤ ${TARGET_DOWNLOAD_PERCENT} %`,
      measured: d ? `${d.percentOfFull.toFixed(2)} % (${d.downloadedBytes} of ${d.fullBundleBytes} B)` : 'no candidate',
      met: !!d && d.percentOfFull <= TARGET_DOWNLOAD_PERCENT,
    },
  ];
}

export function printAccuracy(a: AccuracyResult): void {
  out();
  out(
    `real photos: ${a.photos.known.length} people known to production (${a.enrolmentPhotos} enrolment photos), ` +
      `${a.newPerson.name} only in ${a.hardExamples.newPerson} labelled hard examples, ${a.hardExamples.identity} other labelled, ${a.hardExamples.strangers} strangers`,
  );
  out(`  run: ${a.run.status} in ${(a.run.triggerToEndMs / 1000).toFixed(1)} s, gate ${a.verdict ?? '-'}, ${a.holdoutProbes} holdout probes`);
  for (const r of a.reasons) out(`    ${r}`);
  const fmt = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(3));
  out('  head         rank-1  DIR@FPIR  (FPIR)  unknown rejection  accuracy');
  for (const [name, h] of [
    ['production', a.production],
    ['candidate', a.candidate],
  ] as const) {
    out(
      `  ${name.padEnd(11)} ${fmt(h?.rank1).padStart(7)} ${fmt(h?.dirAtFpir).padStart(9)} ${fmt(h?.fpir).padStart(7)} ${fmt(h?.unknownRejection).padStart(18)} ${fmt(h?.accuracy).padStart(9)}`,
    );
  }
  const twin = a.float32Twin;
  if (twin) {
    const h = twin.figures;
    out(
      `  float32 twin${fmt(h.rank1).padStart(7)} ${fmt(h.dirAtFpir).padStart(9)} ${fmt(h.fpir).padStart(7)} ${fmt(h.unknownRejection).padStart(18)} ${fmt(h.accuracy).padStart(9)}` +
        `  (the candidate unquantised${twin.sameTraining ? '' : ' — NOT the same training as the shipped head'})`,
    );
    out(
      `  int8 head ${twin.headBytes.int8} B vs float32 ${twin.headBytes.float32} B; largest score difference over the holdout ${twin.maxScoreDifference.toExponential(2)}`,
    );
  }
  for (const t of accuracyTargets(a)) out(`  ${t.what}: ${t.measured} (target ${t.target}) — ${verdict(t.met)}`);
}

export function resultsDocument(settings: RetrainSettings, loadBefore: number[], sizes: SizeResult[], accuracy: AccuracyResult | null) {
  const targets = [...sizes.flatMap(sizeTargets), ...(accuracy ? accuracyTargets(accuracy) : [])];
  return {
    schema: 'edgeloop.bench.retrain/v1',
    createdAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(os.totalmem() / 1e8) / 10,
      node: process.version,
      /** The V8 flags the bench process (and so the cloud in it) ran with: the cloud's own defaults. */
      nodeFlags: process.execArgv,
      loadAverage: { before: loadBefore.map((v) => Math.round(v * 100) / 100), after: os.loadavg().map((v) => Math.round(v * 100) / 100) },
      note: '2 shared cores with other work running; the cloud (in the bench process), Redis and s3rver (its own process) share them, and the idle cloud (its own process, with its own Redis and s3rver) when probed',
    },
    source: { commit: gitCommit() },
    settings,
    targets: targets.map((t) => ({ ...t, verdict: verdict(t.met) })),
    sizes,
    accuracy,
  };
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
