import { freePort } from '@edgeloop/harness';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchCloud, MODEL_NAME } from './bench-cloud';
import { startFramePusher, type PushRecord } from './frame-pusher';
import { randomBytes } from 'node:crypto';

/** The bench camera's bearer token for the worker's http-push source (the source always needs one). */
const PUSH_TOKEN = randomBytes(18).toString('base64url');
import { franckFrameFiles } from './frames';
import { workerEnv } from './memory';
import { MemorySampler, readProcMemory } from './proc-status';
import type { EdgeBenchSettings } from './settings';
import { max, median, percentile, round } from './stats';
import { sleep, WorkerProcess, type LogLine } from './worker-process';

/** What became of the frames posted in one span of time. */
export interface FrameAccount {
  /** Posts sent in the span. */
  posted: number;
  /** Answered 202 `accepted`: in the source's newest-wins mailbox. */
  accepted: number;
  /** Answered `rate-limited` (above EDGE_FPS), or not 202. */
  refused: number;
  /** Accepted frames the worker ran the pipeline on, and of those the ones that failed. */
  processed: number;
  failed: number;
  /** Accepted, never processed: replaced in the mailbox by a newer frame (the worker fell behind). */
  dropped: number;
}

export interface SwitchRecord {
  index: number;
  kind: 'deploy' | 'rollback';
  deploymentId: string;
  from: string;
  to: string;
  /** The worker's own log: the desired state received and persisted, the deployer starting → the new version serving. */
  switchMs: number;
  /** The deployer's own phase times from its `active` line (download, verify, head or load, switch) and, after it, `stored` (manifest and pointers written). */
  phasesMs: Record<string, number>;
  /** The detector, landmark and embedder sessions were kept (a head-only switch). */
  sessionsKept: boolean;
  /** From the bench's API request to the worker's `active` line (cloud rollout tick, signed desired over MQTT, switch). */
  requestToActiveMs: number;
  /** Frames posted from `applying` until one second after `active`. */
  frames: FrameAccount;
  /** The worker's RSS when the next switch was requested (MB), and its anonymous and file-backed parts. */
  rssAfterMb: number;
  anonAfterMb: number;
  fileAfterMb: number;
}

export interface HotSwitchResult {
  broker: 'mosquitto' | 'embedded';
  pushFps: number;
  workerMaxFps: number;
  durationS: number;
  switches: SwitchRecord[];
  switchMs: { median: number; p95: number; max: number };
  requestToActiveMs: { median: number; p95: number; max: number };
  /** Every frame of the run, the frames inside the switch windows, and the rest (no switch in progress). */
  total: FrameAccount;
  acrossSwitches: FrameAccount;
  outsideSwitches: FrameAccount;
  /** The worker's own counters at the end (/metrics). */
  workerCounters: { framesOk: number; framesFailed: number; skipped: number; switchesReported: number };
  /** RSS of the worker during the run: before the first switch, median, largest sample, VmHWM at the end. */
  rssMb: {
    beforeSwitches: number;
    afterFirstSwitch: number;
    /** The first switch's step split: anonymous (heaps, V8, arenas) and file-backed (code pages) MB, after minus before. */
    firstStepAnonMb: number;
    firstStepFileMb: number;
    afterLastSwitch: number;
    median: number;
    max: number;
    peak: number;
    /** Median of the samples of the run's first and last 10 s: with BENCH_EDGE_SWITCHES=1 and a long BENCH_EDGE_CONTROL_S, how RSS moves with time alone. */
    firstTenSeconds: number;
    lastTenSeconds: number;
  };
  /** Median of each deployer phase over the switches, and how many switches kept the sessions. */
  phasesMedianMs: Record<string, number>;
  sessionsKept: number;
  finalRunning: string | null;
  /**
   * The same worker started again on the same state (it boots the last version from its store: the
   * models and a head, no switch behind it), broker connected, the camera posting: median RSS over
   * `restartSeconds`, to tell the cost of serving a headed version from what the switches left behind.
   */
  afterRestart: { running: string | null; rssMb: number; peakRssMb: number; frames: FrameAccount };
}

const FRAME_LINE = /\] frame (\d+) .* — \d+ ms \(/;
const FAILED_LINE = /\] frame (\d+) \(.*\) failed: /;
/** A switch window runs until this long after the new version is active (the old one is released meanwhile). */
const AFTER_ACTIVE_MS = 1000;

/**
 * Phase 2: the real worker against the cloud fixture's broker (the cloud's device ACLs, credentials from
 * provisioning), fed by a camera posting franck frames to its http-push source at a fixed rate, while the
 * bench makes the cloud switch its model N times — deployments of two versions that differ in their
 * head, alternating through a new deployment and a rollback — and accounts for every posted frame.
 */
export async function measureHotSwitch(root: string, settings: EdgeBenchSettings, containerEnv: Record<string, string>): Promise<HotSwitchResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-edge-switch-'));
  const cloud = await BenchCloud.start(settings.broker);
  let worker: WorkerProcess | undefined;
  try {
    await cloud.uploadVersion(root, 1);
    await cloud.uploadVersion(root, 2);
    const device = await cloud.provisionDevice('bench camera');
    const pushPort = await freePort();
    const workerMaxFps = settings.pushFps * 2;
    const env: Record<string, string> = {
      ...workerEnv(root, work),
      EDGE_DEVICE_ID: device.device.id,
      EDGE_SOURCE: `http-push:127.0.0.1:${pushPort}`,
      EDGE_SOURCE_PUSH_TOKEN: PUSH_TOKEN,
      // The limit sits above the camera's rate, so no posted frame is refused for arriving a little early.
      EDGE_FPS: String(workerMaxFps),
      EDGE_LOG_FRAMES: 'true',
      EDGE_MQTT_URL: cloud.mqttUrl,
      EDGE_MQTT_PASSWORD: device.credentials.mqtt.password,
      EDGE_CLOUD_URL: cloud.url,
      EDGE_HTTP_TOKEN: device.credentials.http.token,
      EDGE_SIGNING_PUBLIC_KEY: device.signingKey.publicKey,
      ...containerEnv,
    };
    worker = new WorkerProcess(root, env);
    await worker.healthy();
    await worker.waitForLine(/\] connected to /);
    const sampler = new MemorySampler(worker.pid, settings.sampleIntervalMs).start();
    const started = Date.now();
    const pusher = startFramePusher({ url: `http://127.0.0.1:${pushPort}/frames`, token: PUSH_TOKEN, fps: settings.pushFps, files: franckFrameFiles(root) });

    await sleep(settings.controlSeconds * 1000);
    const memoryBefore = readProcMemory(worker.pid);
    const rssBeforeSwitches = memoryBefore?.rssMb ?? Number.NaN;
    const timings = await switchRepeatedly(worker, cloud, settings);
    await sleep(settings.controlSeconds * 1000);
    const records = await pusher.stop();
    await settle(worker, records);
    const durationS = (Date.now() - started) / 1000;
    const samples = sampler.stop();
    const metrics = await worker.metrics();
    const end = readProcMemory(worker.pid);
    const reported = await cloud.device(device.device.id);
    const outcome = frameOutcomes(worker.lines);
    const windows = timings.map((t) => t.window);
    await worker.stop();
    worker = new WorkerProcess(root, env);
    const afterRestart = await restartedRun(worker, root, pushPort, settings);

    const inWindow = (r: PushRecord) => windows.some((w) => r.sentAt >= w.from && r.sentAt <= w.to);
    const switches: SwitchRecord[] = timings.map(({ window, ...t }) => ({
      ...t,
      frames: account(
        records.filter((r) => r.sentAt >= window.from && r.sentAt <= window.to),
        outcome,
      ),
    }));
    const stat = (values: number[]) => ({ median: round(median(values), 0), p95: round(percentile(values, 95), 0), max: round(max(values), 0) });
    return {
      broker: settings.broker,
      pushFps: settings.pushFps,
      workerMaxFps,
      durationS: round(durationS, 1),
      switches,
      switchMs: stat(switches.map((s) => s.switchMs)),
      requestToActiveMs: stat(switches.map((s) => s.requestToActiveMs)),
      total: account(records, outcome),
      acrossSwitches: account(records.filter(inWindow), outcome),
      outsideSwitches: account(
        records.filter((r) => !inWindow(r)),
        outcome,
      ),
      workerCounters: {
        framesOk: metrics.value('edge_frames_total', { result: 'ok' }),
        framesFailed: metrics.value('edge_frames_total', { result: 'failed' }),
        skipped: metrics.value('edge_frames_skipped_total'),
        switchesReported: metrics.value('edge_deployments_total', { result: 'active' }),
      },
      phasesMedianMs: Object.fromEntries(
        [...new Set(switches.flatMap((s) => Object.keys(s.phasesMs)))].map((phase) => [
          phase,
          round(median(switches.filter((s) => phase in s.phasesMs).map((s) => s.phasesMs[phase])), 1),
        ]),
      ),
      sessionsKept: switches.filter((s) => s.sessionsKept).length,
      rssMb: {
        beforeSwitches: round(rssBeforeSwitches),
        afterFirstSwitch: switches[0]?.rssAfterMb ?? Number.NaN,
        firstStepAnonMb: round((switches[0]?.anonAfterMb ?? Number.NaN) - (memoryBefore?.anonMb ?? Number.NaN)),
        firstStepFileMb: round((switches[0]?.fileAfterMb ?? Number.NaN) - (memoryBefore?.fileMb ?? Number.NaN)),
        afterLastSwitch: switches.at(-1)?.rssAfterMb ?? Number.NaN,
        median: round(median(samples.map((s) => s.rssMb))),
        max: round(max(samples.map((s) => s.rssMb))),
        peak: round(end?.hwmMb ?? max(samples.map((s) => s.hwmMb))),
        firstTenSeconds: round(median(samples.filter((s) => s.atMs <= 10_000).map((s) => s.rssMb))),
        lastTenSeconds: round(median(samples.filter((s) => s.atMs >= (samples.at(-1)?.atMs ?? 0) - 10_000).map((s) => s.rssMb))),
      },
      finalRunning: reported.reported?.running ? `${reported.reported.running.name}@${reported.reported.running.version}` : null,
      afterRestart,
    };
  } finally {
    await worker?.stop();
    await cloud.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

type SwitchTiming = Omit<SwitchRecord, 'frames'> & { window: { from: number; to: number } };

/**
 * Makes the cloud switch the worker's model `settings.switches` times, one after the other. Versions
 * alternate: face-id@1 from the base models, then @2 by a new deployment and back to @1 by rolling that
 * deployment back, and so on. Each switch is timed from the worker's own log lines.
 */
async function switchRepeatedly(worker: WorkerProcess, cloud: BenchCloud, settings: EdgeBenchSettings): Promise<SwitchTiming[]> {
  const timings: SwitchTiming[] = [];
  let running = 'face-base@1';
  let lastDeployment = '';
  for (let index = 0; index < settings.switches; index++) {
    const kind: SwitchRecord['kind'] = index >= 2 && index % 2 === 0 ? 'rollback' : 'deploy';
    const version = index % 2 === 0 ? 1 : 2;
    const from = worker.lines.length;
    const requestedAt = Date.now();
    const deployment = kind === 'rollback' ? await cloud.rollback(lastDeployment) : await cloud.deploy(version);
    if (kind === 'deploy') lastDeployment = deployment.id;
    const label = `${MODEL_NAME}@${version} \\(deployment ${deployment.id}\\)`;
    const applying = await worker.waitForLine(new RegExp(`${label}: applying`), 60_000, from);
    const result = await worker.waitForLine(new RegExp(`${label}: (active(?: \\((.*)\\))?|failed .*)$`), 60_000, from);
    if (!result.match[1].startsWith('active')) throw new Error(`switch ${index + 1} failed: ${result.text}`);
    const phasesMs = Object.fromEntries([...(result.match[2] ?? '').matchAll(/(\w+) ([\d.]+) ms/g)].map((m) => [m[1], Number(m[2])]));
    // After the switch the worker writes the manifest and the pointers (fsyncs) before it takes the next desired state.
    const stored = await worker.waitForLine(new RegExp(`${label}: manifest and pointers stored \\(stored ([\\d.]+) ms\\)`), 60_000, from);
    phasesMs.stored = Number(stored.match[1]);
    await sleep(settings.settleSeconds * 1000);
    const to = `${MODEL_NAME}@${version}`;
    timings.push({
      index: index + 1,
      kind,
      deploymentId: deployment.id,
      from: running,
      to,
      switchMs: result.at - applying.at,
      phasesMs,
      sessionsKept: (result.match[2] ?? '').includes('sessions kept'),
      requestToActiveMs: result.at - requestedAt,
      ...memoryAfter(worker.pid),
      window: { from: applying.at, to: result.at + AFTER_ACTIVE_MS },
    });
    running = to;
  }
  return timings;
}

/** The restarted worker: healthy and connected, then the camera for `restartSeconds`, RSS sampled meanwhile. */
async function restartedRun(worker: WorkerProcess, root: string, pushPort: number, settings: EdgeBenchSettings): Promise<HotSwitchResult['afterRestart']> {
  await worker.healthy();
  const serving = await worker.waitForLine(/\] serving (\S+) \((?:store|base)\)/);
  await worker.waitForLine(/\] connected to /);
  const pusher = startFramePusher({ url: `http://127.0.0.1:${pushPort}/frames`, token: PUSH_TOKEN, fps: settings.pushFps, files: franckFrameFiles(root) });
  // The first frames allocate the inference buffers: sampled after them.
  await sleep(2000);
  const sampler = new MemorySampler(worker.pid, settings.sampleIntervalMs).start();
  await sleep(settings.restartSeconds * 1000);
  const samples = sampler.stop();
  const records = await pusher.stop();
  await settle(worker, records);
  const end = readProcMemory(worker.pid);
  return {
    running: serving.match[1],
    rssMb: round(median(samples.map((s) => s.rssMb))),
    peakRssMb: round(end?.hwmMb ?? max(samples.map((s) => s.hwmMb))),
    frames: account(records, frameOutcomes(worker.lines)),
  };
}

interface FrameOutcomes {
  processed: Set<number>;
  failed: Set<number>;
}

/** Which source sequence numbers the worker ran the pipeline on, from its frame log lines. */
function frameOutcomes(lines: LogLine[]): FrameOutcomes {
  const processed = new Set<number>();
  const failed = new Set<number>();
  for (const line of lines) {
    const ok = FRAME_LINE.exec(line.text);
    if (ok) processed.add(Number(ok[1]));
    const bad = FAILED_LINE.exec(line.text);
    if (bad) {
      processed.add(Number(bad[1]));
      failed.add(Number(bad[1]));
    }
  }
  return { processed, failed };
}

function account(records: PushRecord[], outcome: FrameOutcomes): FrameAccount {
  const accepted = records.filter((r) => r.httpStatus === 202 && r.status === 'accepted' && r.seq !== undefined);
  const processed = accepted.filter((r) => outcome.processed.has(r.seq!));
  const failed = accepted.filter((r) => outcome.failed.has(r.seq!));
  return {
    posted: records.length,
    accepted: accepted.length,
    refused: records.length - accepted.length,
    processed: processed.length,
    failed: failed.length,
    dropped: accepted.length - processed.length,
  };
}

/** Waits until the last accepted frame was processed (or 10 s), so nothing is counted as dropped while still in the mailbox. */
async function settle(worker: WorkerProcess, records: PushRecord[]): Promise<void> {
  const last = Math.max(0, ...records.filter((r) => r.status === 'accepted').map((r) => r.seq ?? 0));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !frameOutcomes(worker.lines).processed.has(last)) await sleep(100);
}

/** The worker's RSS and its anonymous and file-backed parts, MB. */
function memoryAfter(pid: number): { rssAfterMb: number; anonAfterMb: number; fileAfterMb: number } {
  const memory = readProcMemory(pid);
  return { rssAfterMb: round(memory?.rssMb ?? Number.NaN), anonAfterMb: round(memory?.anonMb ?? Number.NaN), fileAfterMb: round(memory?.fileMb ?? Number.NaN) };
}
