import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SessionLatencyResult, SessionMemoryResult } from './session-probe';
import { median, percentile, round } from './stats';
import type { SessionVariant } from './variant-sessions';

/** The variants compared: onnxruntime's defaults (what the pipeline used before), each option off, both off. */
export const SESSION_VARIANTS: SessionVariant[] = [
  { name: 'onnxruntime defaults (arena on, memory pattern on)', enableCpuMemArena: true, enableMemPattern: true },
  { name: 'CPU memory arena off', enableCpuMemArena: false, enableMemPattern: true },
  { name: 'memory pattern off', enableCpuMemArena: true, enableMemPattern: false },
  { name: 'arena off and memory pattern off', enableCpuMemArena: false, enableMemPattern: false },
];

export interface SessionOptionsRow {
  variant: SessionVariant;
  /** RSS (MB) of a process holding only these sessions, GC before each reading: after creation and one run. */
  afterCreateMb: number;
  /** Median and peak over the second half of the frames. */
  steadyRssMb: number;
  peakRssMb: number;
  /** Steady RSS minus the same process before any session existed. */
  sessionsMb: number;
  rssVsDefaultsMb: number;
  /** `session.run` per frame (detector + landmarks + embedder), all variants interleaved in one process. */
  runMedianMs: number;
  runP95Ms: number;
  /** The whole frame: JPEG decode, tensors, the three models, NMS, alignment. */
  frameMedianMs: number;
  frameP95Ms: number;
  /** Median over the frames of (this variant's time / the defaults' time on the same frame, run next to it). */
  runVsDefaults: number;
  frameVsDefaults: number;
}

/**
 * Each variant's memory in its own child process, then every variant's `session.run` time in one more
 * child process; all with the environment given (the worker's allocator settings).
 */
export async function measureSessionOptions(
  root: string,
  env: NodeJS.ProcessEnv,
  settings: { memoryFrames: number; latencyRounds: number },
): Promise<SessionOptionsRow[]> {
  const memory: SessionMemoryResult[] = [];
  for (const variant of SESSION_VARIANTS) memory.push(await probe<SessionMemoryResult>(root, env, ['memory', JSON.stringify(variant), String(settings.memoryFrames)]));
  const { runMs, frameMs } = await probe<SessionLatencyResult>(root, env, ['latency', JSON.stringify(SESSION_VARIANTS), String(settings.latencyRounds)]);
  const paired = (times: number[][], i: number) => median(times[i].map((ms, turn) => ms / times[0][turn]));
  return SESSION_VARIANTS.map((variant, i) => ({
    variant,
    afterCreateMb: round(memory[i].afterSessions.rssMb),
    steadyRssMb: round(memory[i].steadyRssMb),
    peakRssMb: round(memory[i].end.hwmMb),
    sessionsMb: round(memory[i].steadyRssMb - memory[i].beforeSessions.rssMb),
    rssVsDefaultsMb: round(memory[i].steadyRssMb - memory[0].steadyRssMb),
    runMedianMs: round(median(runMs[i]), 2),
    runP95Ms: round(percentile(runMs[i], 95), 2),
    frameMedianMs: round(median(frameMs[i]), 2),
    frameP95Ms: round(percentile(frameMs[i], 95), 2),
    runVsDefaults: round(paired(runMs, i), 3),
    frameVsDefaults: round(paired(frameMs, i), 3),
  }));
}

async function probe<T>(root: string, env: NodeJS.ProcessEnv, args: string[]): Promise<T> {
  const script = path.join(__dirname, 'session-probe.js');
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script, ...args], { cwd: root, env, maxBuffer: 4 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}
