import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { franckFrameFiles } from './frames';
import type { ModuleStep } from './module-probe';
import { MemorySampler, readMappedMemory, readProcMemory, type MappedMemory, type MemorySample, type ProcMemory } from './proc-status';
import type { EdgeBenchSettings } from './settings';
import { max, median, percentile, round } from './stats';
import { sleep, WorkerProcess, type WorkerStart } from './worker-process';

export interface SteadyRun {
  /** `container` = the Dockerfile's allocator settings; `defaults` = glibc's and V8's. */
  settings: 'container' | 'defaults';
  env: Record<string, string>;
  /** Once the models were loaded and warmed up, before the first frame. */
  modelsLoaded: ProcMemory;
  framesBeforeSampling: number;
  framesSampled: number;
  sampledSeconds: number;
  steadyRssMb: number;
  p95RssMb: number;
  maxRssMb: number;
  /** VmHWM at the end: the peak over the process's whole life, start-up included. */
  peakRssMb: number;
  steadyAnonMb: number;
  steadyFileMb: number;
  /** Resident memory by mapping at the end of the steady run (smaps): node binary, libonnxruntime, libvips, anonymous. */
  mapped: MappedMemory | undefined;
  /** Per-frame total (decode → identity) from the worker's frame log lines, sampled frames only. */
  frameMs: { median: number; p95: number; mean: number };
  fps: number;
  skippedFrames: number;
  failedFrames: number;
}

export interface MemoryResult {
  /** One process loading the worker's modules group by group (GC before each reading), nothing created. */
  modules: ModuleStep[];
  /** The real worker once started: models loaded and warmed up, no source, no broker. */
  modelsLoaded: ProcMemory;
  steady: SteadyRun[];
}

const FRAME_LINE = /\] frame (\d+) .* — (\d+) ms \(/;

/**
 * Phase 1: RSS of the edge worker, built up stage by stage — a process loading the worker's modules
 * group by group, the real worker with its models loaded and no source — then the real worker with a
 * folder of franck frames at `fps`, sampled from /proc over `steadySeconds` of inference. All with the
 * container's allocator settings; the steady run once more with glibc's and V8's defaults.
 */
export async function measureMemory(root: string, settings: EdgeBenchSettings, containerEnv: Record<string, string>): Promise<MemoryResult> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'edgeloop-bench-edge-'));
  try {
    const frames = path.join(work, 'frames');
    mkdirSync(frames);
    for (const file of franckFrameFiles(root)) symlinkSync(file, path.join(frames, path.basename(file)));
    const modules = await moduleSteps(root, containerEnv);
    const modelsLoaded = await workerWithoutSource(root, work, containerEnv);
    const steady = [await steadyRun(root, work, frames, settings, 'container', containerEnv)];
    if (settings.withoutAllocatorSettings) steady.push(await steadyRun(root, work, frames, settings, 'defaults', {}));
    return { modules, modelsLoaded, steady };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs `module-probe` with the given environment and returns its readings. */
async function moduleSteps(root: string, env: Record<string, string>): Promise<ModuleStep[]> {
  const script = path.join(__dirname, 'module-probe.js');
  const child = spawn(process.execPath, ['--expose-gc', script], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const deadline = Date.now() + 30_000;
    while (!out.includes('\n')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error('the module probe gave no reading');
      await sleep(25);
    }
    return JSON.parse(out.split('\n')[0]) as ModuleStep[];
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit').catch(() => undefined);
  }
}

async function workerWithoutSource(root: string, work: string, env: Record<string, string>): Promise<ProcMemory> {
  const state = mkdtempSync(path.join(work, 'state-'));
  const worker = new WorkerProcess(root, { ...workerEnv(root, state), ...env });
  try {
    await worker.healthy();
    await sleep(1500);
    const memory = readProcMemory(worker.pid);
    if (!memory) throw new Error(`the worker exited:\n${worker.tail()}`);
    return memory;
  } finally {
    await worker.stop();
  }
}

/** One steady run: the worker on a folder of frames at `settings.fps`, RSS sampled over `settings.steadySeconds`. */
export async function steadyRun(
  root: string,
  work: string,
  frames: string,
  settings: EdgeBenchSettings,
  kind: SteadyRun['settings'],
  env: Record<string, string>,
  start: WorkerStart = {},
): Promise<SteadyRun> {
  const state = mkdtempSync(path.join(work, 'state-'));
  const worker = new WorkerProcess(root, {
    ...workerEnv(root, state),
    EDGE_SOURCE: `folder:${frames}`,
    EDGE_FPS: String(settings.fps),
    EDGE_LOG_FRAMES: 'true',
    ...env,
  }, start);
  try {
    await worker.waitForLine(/\] playing folder:/);
    const modelsLoaded = readProcMemory(worker.pid);
    if (!modelsLoaded) throw new Error(`the worker exited:\n${worker.tail()}`);
    const frameLines = () => worker.lines.filter((l) => FRAME_LINE.test(l.text));
    while (frameLines().length < settings.warmUpFrames) {
      if (!worker.alive) throw new Error(`the worker exited:\n${worker.tail()}`);
      await sleep(50);
    }
    const before = frameLines().length;
    const metricsBefore = await worker.metrics();
    const sampler = new MemorySampler(worker.pid, settings.sampleIntervalMs).start();
    const started = Date.now();
    await sleep(settings.steadySeconds * 1000);
    const samples: MemorySample[] = sampler.stop();
    const seconds = (Date.now() - started) / 1000;
    const metricsAfter = await worker.metrics();
    const end = readProcMemory(worker.pid);
    const mapped = readMappedMemory(worker.pid);
    const sampled = frameLines().slice(before);
    const ms = sampled.map((l) => Number(FRAME_LINE.exec(l.text)?.[2]));
    const rss = samples.map((s) => s.rssMb);
    const delta = (name: string, labels: Record<string, string> = {}) => metricsAfter.value(name, labels) - metricsBefore.value(name, labels);
    return {
      settings: kind,
      env,
      modelsLoaded,
      framesBeforeSampling: before,
      framesSampled: sampled.length,
      sampledSeconds: round(seconds, 1),
      steadyRssMb: round(median(rss)),
      p95RssMb: round(percentile(rss, 95)),
      maxRssMb: round(max(rss)),
      peakRssMb: round(end?.hwmMb ?? max(samples.map((s) => s.hwmMb))),
      steadyAnonMb: round(median(samples.map((s) => s.anonMb))),
      steadyFileMb: round(median(samples.map((s) => s.fileMb))),
      mapped,
      frameMs: { median: round(median(ms), 1), p95: round(percentile(ms, 95), 1), mean: round(ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length), 1) },
      fps: round(sampled.length / seconds, 2),
      skippedFrames: delta('edge_frames_skipped_total'),
      failedFrames: delta('edge_frames_total', { result: 'failed' }),
    };
  } finally {
    await worker.stop();
  }
}

/** A worker on the base models with no broker and no cloud; a temp state folder; a free HTTP port. */
export function workerEnv(root: string, stateDir: string): Record<string, string> {
  return {
    EDGE_DEVICE_ID: 'bench-edge',
    EDGE_MODELS_DIR: path.join(root, 'models', 'base'),
    EDGE_STATE_DIR: stateDir,
    EDGE_HTTP_HOST: '127.0.0.1',
    EDGE_HTTP_PORT: '0',
    EDGE_LOG_LEVEL: 'info',
    EDGE_LOG_FRAMES: 'false',
  };
}
