import { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from './errors';
import type { ModelSource } from './options';

export interface SessionSettings {
  intraOpNumThreads: number;
  interOpNumThreads: number;
  executionMode: 'sequential' | 'parallel';
}

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
