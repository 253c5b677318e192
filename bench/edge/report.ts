import os from 'node:os';
import type { FrameAccount, HotSwitchResult } from './hot-switch';
import type { MemoryResult, SteadyRun } from './memory';
import type { SessionOptionsRow } from './session-options';
import { GOAL_RSS_MB, TARGET_DROPPED_FRAMES, TARGET_LEAK_MB, TARGET_PEAK_RSS_MB, TARGET_RSS_MB, TARGET_SWITCH_MS, type EdgeBenchSettings } from './settings';
import { round } from './stats';

export interface EdgeBenchResults {
  memory: MemoryResult;
  sessionOptions: SessionOptionsRow[];
  hotSwitch: HotSwitchResult;
}

const out = (line = '') => process.stdout.write(`${line}\n`);

function table(header: string[], rows: (string | number)[][]): void {
  out(`| ${header.join(' | ')} |`);
  out(`| ${header.map(() => '---').join(' | ')} |`);
  for (const row of rows) out(`| ${row.join(' | ')} |`);
  out();
}

const mb = (value: number) => round(value, 1).toFixed(1);
const signed = (value: number) => `${value > 0 ? '+' : value < 0 ? '−' : '±'}${mb(Math.abs(value))}`;
const frames = (a: FrameAccount) => [a.posted, a.accepted, a.processed, a.failed, a.dropped];

export function printResults(results: EdgeBenchResults, durationS: number): void {
  const { memory, sessionOptions, hotSwitch } = results;
  out('\n## Edge worker memory (one process loading the worker’s modules, GC before each reading)\n');
  table(
    ['step', 'RSS MB', 'Δ MB', 'anon MB', 'file MB'],
    memory.modules.map((m, i) => [m.step, mb(m.memory.rssMb), i === 0 ? '' : signed(m.memory.rssMb - memory.modules[i - 1].memory.rssMb), mb(m.memory.anonMb), mb(m.memory.fileMb)]),
  );
  const loaded = memory.modelsLoaded;
  const modulesEnd = memory.modules[memory.modules.length - 1].memory;
  out(`real worker, base models loaded and warmed up, no source: ${mb(loaded.rssMb)} MB (${signed(loaded.rssMb - modulesEnd.rssMb)} over the modules; anon ${mb(loaded.anonMb)}, file ${mb(loaded.fileMb)})\n`);
  out(`## Edge worker at ${memory.steady[0].fps} fps on franck frames (folder source, no broker)\n`);
  table(
    ['allocator settings', 'models loaded MB', 'steady RSS MB', 'p95 MB', 'max MB', 'peak (VmHWM) MB', 'anon MB', 'file MB', 'frame ms median / p95', 'skipped', `target ≤ ${TARGET_RSS_MB} MB`],
    memory.steady.map((s) => [
      settingsName(s),
      mb(s.modelsLoaded.rssMb),
      mb(s.steadyRssMb),
      mb(s.p95RssMb),
      mb(s.maxRssMb),
      mb(s.peakRssMb),
      mb(s.steadyAnonMb),
      mb(s.steadyFileMb),
      `${s.frameMs.median} / ${s.frameMs.p95}`,
      s.skippedFrames,
      s.steadyRssMb <= TARGET_RSS_MB ? 'met' : 'not met',
    ]),
  );
  out('## Where the steady RSS is (smaps of the worker at the end of each steady run, MB)\n');
  table(
    ['allocator settings', 'node binary', 'libonnxruntime', 'libvips', 'other libraries', 'anonymous (V8 heap, malloc: onnxruntime arenas and weights, libvips buffers)', 'other'],
    memory.steady.map((s) => [
      settingsName(s),
      ...(s.mapped ? [s.mapped.nodeMb, s.mapped.onnxruntimeMb, s.mapped.libvipsMb, s.mapped.otherLibrariesMb, s.mapped.anonymousMb, s.mapped.otherMb].map(mb) : ['n/a']),
    ]),
  );
  out('## onnxruntime session memory options (bare sessions of the three base models, container allocator settings)\n');
  table(
    ['variant', 'steady RSS MB', 'vs defaults MB', 'sessions MB', 'session.run median ms', 'run × defaults', 'frame median ms', 'frame × defaults'],
    sessionOptions.map((r) => [r.variant.name, mb(r.steadyRssMb), signed(r.rssVsDefaultsMb), mb(r.sessionsMb), r.runMedianMs, r.runVsDefaults, r.frameMedianMs, r.frameVsDefaults]),
  );
  out(`## Hot switches (${hotSwitch.broker} broker with the cloud's ACLs, camera posting at ${hotSwitch.pushFps} fps to http-push)\n`);
  table(
    ['#', 'switch', 'applying → active ms', 'deployer phases ms', 'sessions kept', 'API request → active ms', 'posted', 'accepted', 'processed', 'failed', 'dropped', 'RSS after MB'],
    hotSwitch.switches.map((s) => [
      s.index,
      `${s.kind}: ${s.from} → ${s.to}`,
      s.switchMs,
      Object.entries(s.phasesMs)
        .map(([phase, ms]) => `${phase} ${ms}`)
        .join(', '),
      s.sessionsKept ? 'yes' : 'no',
      s.requestToActiveMs,
      ...frames(s.frames),
      mb(s.rssAfterMb),
    ]),
  );
  table(
    ['frames', 'posted', 'accepted', 'processed', 'failed', 'dropped'],
    [
      ['outside the switches', ...frames(hotSwitch.outsideSwitches)],
      ['across the switches (applying → active + 1 s)', ...frames(hotSwitch.acrossSwitches)],
      ['whole run', ...frames(hotSwitch.total)],
    ],
  );
  const c = hotSwitch.workerCounters;
  out(
    `switch time (applying → active): median ${hotSwitch.switchMs.median} ms, p95 ${hotSwitch.switchMs.p95} ms, max ${hotSwitch.switchMs.max} ms; ` +
      `worker counters: ${c.framesOk} ok, ${c.framesFailed} failed, ${c.skipped} skipped, ${c.switchesReported} switches; running ${hotSwitch.finalRunning}`,
  );
  const r = hotSwitch.rssMb;
  out(
    `worker RSS during the run: ${mb(r.beforeSwitches)} MB before the first switch, ${mb(r.afterFirstSwitch)} after it (anonymous ${signed(r.firstStepAnonMb)}, file-backed ${signed(r.firstStepFileMb)}), ${mb(r.afterLastSwitch)} after the last (${hotSwitch.switches.length}); ` +
      `median ${mb(r.median)}, max ${mb(r.max)}, peak (VmHWM) ${mb(r.peak)}; first 10 s ${mb(r.firstTenSeconds)}, last 10 s ${mb(r.lastTenSeconds)}`,
  );
  out(`deployer phase medians (ms): ${JSON.stringify(hotSwitch.phasesMedianMs)}; sessions kept in ${hotSwitch.sessionsKept} of ${hotSwitch.switches.length} switches`);
  const restart = hotSwitch.afterRestart;
  out(
    `restarted on ${restart.running} (no switch behind it, broker connected, camera on): RSS ${mb(restart.rssMb)} MB median, peak ${mb(restart.peakRssMb)}; ` +
      `${restart.frames.processed}/${restart.frames.accepted} frames processed`,
  );
  out();
  for (const line of targetLines(results)) out(line);
  out();
  const headline = ownDefaultsRun(memory.steady);
  out(
    `RSS ${mb(headline.steadyRssMb)} MB steady (target ≤ ${TARGET_RSS_MB}: ${headline.steadyRssMb <= TARGET_RSS_MB ? 'met' : 'not met'}); ` +
      `${hotSwitch.acrossSwitches.dropped + hotSwitch.acrossSwitches.failed} frames dropped or failed across ${hotSwitch.switches.length} switches ` +
      `(target ${TARGET_DROPPED_FRAMES}: ${hotSwitch.acrossSwitches.dropped + hotSwitch.acrossSwitches.failed <= TARGET_DROPPED_FRAMES ? 'met' : 'not met'}); bench ${round(durationS, 0)} s`,
  );
}

/** One "target … met / NOT met" line per target of issue 13 (items 2 and 3). */
export function targetLines(results: EdgeBenchResults): string[] {
  const { memory, hotSwitch } = results;
  const steady = ownDefaultsRun(memory.steady);
  const r = hotSwitch.rssMb;
  const leak = r.afterLastSwitch - r.beforeSwitches;
  const step = r.afterFirstSwitch - r.beforeSwitches;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  return [
    `target head-only switch (applying → active) ≤ ${TARGET_SWITCH_MS} ms median: ${hotSwitch.switchMs.median} ms — ${met(hotSwitch.switchMs.median <= TARGET_SWITCH_MS)}`,
    `target no RSS step at a switch: ${signed(step)} MB after the first — ${met(step <= TARGET_LEAK_MB)} (within ${TARGET_LEAK_MB} MB)`,
    `target RSS after ${hotSwitch.switches.length} switches within ${TARGET_LEAK_MB} MB of before: ${signed(leak)} MB — ${met(Math.abs(leak) <= TARGET_LEAK_MB)}`,
    `target steady RSS ≤ ${TARGET_RSS_MB} MB (goal ${GOAL_RSS_MB}): ${mb(steady.steadyRssMb)} MB — ${met(steady.steadyRssMb <= TARGET_RSS_MB)}${steady.steadyRssMb <= GOAL_RSS_MB ? ' (goal met)' : ''}`,
    `target peak RSS across switches ≤ ${TARGET_PEAK_RSS_MB} MB: ${mb(r.peak)} MB (VmHWM) — ${met(r.peak <= TARGET_PEAK_RSS_MB)}`,
  ];
}

/** The steady run the targets are read from: the worker's own defaults (nothing in the environment) when it ran. */
function ownDefaultsRun(steady: SteadyRun[]): SteadyRun {
  return steady.find((s) => s.settings === 'defaults') ?? steady[0];
}

function settingsName(s: SteadyRun): string {
  return s.settings === 'container'
    ? `container (${Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ')})`
    : 'nothing in the environment (the worker restarts itself with its own defaults)';
}

export function resultsDocument(results: EdgeBenchResults, settings: EdgeBenchSettings, context: { durationS: number; loadBefore: number[]; loadAfter: number[] }): object {
  const headline = ownDefaultsRun(results.memory.steady);
  const across = results.hotSwitch.acrossSwitches;
  return {
    schema: 'edgeloop.bench.edge/v1',
    createdAt: new Date().toISOString(),
    durationS: round(context.durationS, 1),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
      memoryGb: round(os.totalmem() / 1024 ** 3, 1),
      node: process.version,
      loadAverageBefore: context.loadBefore.map((v) => round(v, 2)),
      loadAverageAfter: context.loadAfter.map((v) => round(v, 2)),
      note: 'shared cores with other work running; RSS is steady to a few MB, latencies vary by ±30 % between runs',
    },
    settings,
    units: 'MB = 2^20 bytes, from /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile)',
    targets: {
      rssMb: TARGET_RSS_MB,
      droppedFramesAcrossSwitches: TARGET_DROPPED_FRAMES,
      rssMet: headline.steadyRssMb <= TARGET_RSS_MB,
      goalRssMb: GOAL_RSS_MB,
      peakRssMb: TARGET_PEAK_RSS_MB,
      peakRssMet: results.hotSwitch.rssMb.peak <= TARGET_PEAK_RSS_MB,
      switchMs: TARGET_SWITCH_MS,
      switchMet: results.hotSwitch.switchMs.median <= TARGET_SWITCH_MS,
      leakMb: TARGET_LEAK_MB,
      leakMet: Math.abs(results.hotSwitch.rssMb.afterLastSwitch - results.hotSwitch.rssMb.beforeSwitches) <= TARGET_LEAK_MB,
      droppedMet: across.dropped + across.failed <= TARGET_DROPPED_FRAMES,
    },
    ...results,
  };
}
