import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Issue 13: steady RSS with the models (goal 120), peak across switches, head-only switch time, RSS after all switches vs before. */
export const TARGET_RSS_MB = 135;
export const GOAL_RSS_MB = 120;
export const TARGET_PEAK_RSS_MB = 145;
export const TARGET_SWITCH_MS = 20;
export const TARGET_LEAK_MB = 5;
export const TARGET_DROPPED_FRAMES = 0;

export interface EdgeBenchSettings {
  /** Rate of the folder source in the memory runs (EDGE_FPS). */
  fps: number;
  /** Frames processed before RSS sampling starts. */
  warmUpFrames: number;
  /** Seconds of steady inference sampled. */
  steadySeconds: number;
  sampleIntervalMs: number;
  /** Also run the steady measurement with glibc's and V8's defaults (no allocator settings). */
  withoutAllocatorSettings: boolean;
  /** Hot switches triggered through the cloud. */
  switches: number;
  /** Rate at which the bench posts frames to the worker's http-push source. */
  pushFps: number;
  /** Seconds of frames before the first switch (no switch: the control window) and after the last. */
  controlSeconds: number;
  /** Seconds between one switch becoming active and the next deployment. */
  settleSeconds: number;
  /** Seconds of frames sampled after the worker is restarted on the version it switched to last. */
  restartSeconds: number;
  broker: 'mosquitto' | 'embedded';
  /** Frames per session-options memory probe and interleaved rounds of the latency probe. */
  optionFrames: number;
  optionRounds: number;
}

export function readSettings(): EdgeBenchSettings {
  const num = (name: string, fallback: number, min: number): number => {
    const value = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}`);
    return value;
  };
  const broker = process.env.BENCH_EDGE_BROKER ?? 'mosquitto';
  if (broker !== 'mosquitto' && broker !== 'embedded') throw new Error('BENCH_EDGE_BROKER must be mosquitto or embedded');
  return {
    fps: num('BENCH_EDGE_FPS', 5, 0.5),
    warmUpFrames: num('BENCH_EDGE_WARMUP_FRAMES', 25, 1),
    steadySeconds: num('BENCH_EDGE_STEADY_S', 20, 2),
    sampleIntervalMs: 250,
    withoutAllocatorSettings: process.env.BENCH_EDGE_DEFAULTS_RUN !== '0',
    switches: num('BENCH_EDGE_SWITCHES', 50, 1),
    pushFps: num('BENCH_EDGE_PUSH_FPS', 5, 0.5),
    controlSeconds: num('BENCH_EDGE_CONTROL_S', 5, 1),
    settleSeconds: num('BENCH_EDGE_SETTLE_S', 1, 0.2),
    restartSeconds: num('BENCH_EDGE_RESTART_S', 8, 2),
    broker,
    optionFrames: num('BENCH_EDGE_OPTION_FRAMES', 30, 4),
    optionRounds: num('BENCH_EDGE_OPTION_ROUNDS', 6, 1),
  };
}

/**
 * The memory settings the worker's container runs with: the `MALLOC_*` and `NODE_OPTIONS` values of the
 * ENV instruction in apps/edge/Dockerfile, read from the file so the bench follows it.
 */
export function containerMemoryEnv(root: string): Record<string, string> {
  const dockerfile = readFileSync(path.join(root, 'apps', 'edge', 'Dockerfile'), 'utf8');
  const env: Record<string, string> = {};
  for (const match of dockerfile.matchAll(/^\s*(MALLOC_[A-Z_]+|NODE_OPTIONS)=(\S+?)\s*\\?$/gm)) env[match[1]] = match[2];
  if (Object.keys(env).length === 0) throw new Error('apps/edge/Dockerfile sets no MALLOC_* or NODE_OPTIONS variable');
  return env;
}
