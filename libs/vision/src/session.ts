import { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from './errors';
import type { ModelSource } from './options';

export interface SessionSettings {
  intraOpNumThreads: number;
  interOpNumThreads: number;
  executionMode: 'sequential' | 'parallel';
  /** onnxruntime's CPU memory arena; default `SESSION_MEMORY_DEFAULTS.enableCpuMemArena`. */
  enableCpuMemArena?: boolean;
  /** onnxruntime's memory pattern (one pre-planned block for a run's tensors); default `SESSION_MEMORY_DEFAULTS.enableMemPattern`. */
  enableMemPattern?: boolean;
}

/**
 * Memory options of every session whose caller does not set them, chosen with `npm run bench:edge`
 * (docs/benchmarks.md, "Edge worker") on the base models and the edge worker's allocator settings
 * (apps/edge/Dockerfile):
 * - memory pattern off: about 5–7 MB less RSS (bare sessions and the worker alike), same run time — a
 *   run's tensors come from the arena one by one instead of one pre-planned block per run;
 * - CPU memory arena kept on: turning it off too saves 7–12 MB more but makes each frame 20–40 %
 *   slower there, because `MALLOC_MMAP_THRESHOLD_` (fixed at 128 KiB) sends every large tensor to
 *   mmap/munmap on every run.
 */
export const SESSION_MEMORY_DEFAULTS = { enableCpuMemArena: true, enableMemPattern: false } as const;

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Creates a CPU session from a model path or model bytes; a failure names the model's role. */
export async function createSession(
  role: string,
  source: ModelSource,
  settings: SessionSettings,
  graphOptimizationLevel: GraphOptimizationLevel = 'all',
): Promise<InferenceSession> {
  const options: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: settings.intraOpNumThreads,
    interOpNumThreads: settings.interOpNumThreads,
    executionMode: settings.executionMode,
    graphOptimizationLevel,
    enableCpuMemArena: settings.enableCpuMemArena ?? SESSION_MEMORY_DEFAULTS.enableCpuMemArena,
    enableMemPattern: settings.enableMemPattern ?? SESSION_MEMORY_DEFAULTS.enableMemPattern,
  };
  try {
    return typeof source === 'string'
      ? await InferenceSession.create(source, options)
      : await InferenceSession.create(source, options);
  } catch (err) {
    const what = typeof source === 'string' ? source : `${source.byteLength}-byte buffer`;
    throw new ModelLoadError(role, `cannot load ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** Checks a session's single input and output names, so a wrong file for a role fails at load. */
export function expectIo(role: string, session: InferenceSession, inputs: string[], outputs: string[]): void {
  const missing = [
    ...inputs.filter((n) => !session.inputNames.includes(n)).map((n) => `input "${n}"`),
    ...outputs.filter((n) => !session.outputNames.includes(n)).map((n) => `output "${n}"`),
  ];
  if (missing.length > 0) {
    throw new ModelLoadError(
      role,
      `model lacks ${missing.join(', ')} (has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`,
    );
  }
}
