import type { IdentityPrototypes } from '@edgeloop/vision';
import type { TrainingExample } from './dataset';
import { TrainingError } from './errors';
import { DEFAULT_LOGISTIC_OPTIONS, fitLogistic, type LogisticOptions } from './logistic';
import { scoreProbes } from './open-set';
import { trimmedPrototypes } from './prototypes';

/**
 * The identity-head trainer over frozen embeddings. Two methods, both giving unit-length rows (so
 * scores stay cosines and the edge's match/margin thresholds keep their meaning):
 * - `prototypes`: trimmed mean per identity (prototypes.ts);
 * - `logistic`: multinomial logistic regression started from those prototypes (logistic.ts).
 * `auto` trains both and keeps the one with the higher validation rank-1 accuracy; a tie keeps the
 * prototypes (simpler, and what the head was before retraining existed).
 */

export type TrainingMethod = 'prototypes' | 'logistic';

export interface TrainHeadOptions extends LogisticOptions {
  /** Recorded in the settings; the trainer itself is deterministic (full batch, fixed order). */
  seed: number;
  trimFraction: number;
  method: 'auto' | TrainingMethod;
}

export const DEFAULT_TRAIN_HEAD_OPTIONS: Readonly<TrainHeadOptions> = Object.freeze({
  ...DEFAULT_LOGISTIC_OPTIONS,
  seed: 1,
  trimFraction: 0.1,
  method: 'auto' as const,
});

export interface HeadValidation {
  /** Rank-1 accuracy on the validation probes whose identity the head knows. */
  accuracy: number;
  /** Validation probes of known identities (the accuracy's denominator). */
  mated: number;
  /** Other validation probes (strangers, not-a-face, identities absent from train). */
  nonMated: number;
}

export interface TrainedHead {
  method: TrainingMethod;
  head: IdentityPrototypes;
  validation: HeadValidation;
  /** Validation of every method trained (one entry unless `auto`). */
  compared: Partial<Record<TrainingMethod, HeadValidation>>;
  settings: TrainHeadOptions;
  /** Logistic regression details when it was trained. */
  logistic?: { unknownCosine: number; loss: { first: number; last: number } };
  /** Milliseconds per method. */
  durationMs: Partial<Record<TrainingMethod, number>>;
  notes: string[];
}

export function validateHead(head: IdentityPrototypes, validation: readonly TrainingExample[]): HeadValidation {
  const scored = scoreProbes(head, validation);
  const mated = scored.filter((p) => p.expected >= 0);
  const right = mated.filter((p) => p.candidate === p.expected).length;
  return { accuracy: mated.length > 0 ? right / mated.length : 0, mated: mated.length, nonMated: scored.length - mated.length };
}

export function trainHead(
  train: readonly TrainingExample[],
  validation: readonly TrainingExample[],
  options: Partial<TrainHeadOptions> = {},
): TrainedHead {
  const settings: TrainHeadOptions = { ...DEFAULT_TRAIN_HEAD_OPTIONS, ...options };
  if (!['auto', 'prototypes', 'logistic'].includes(settings.method)) {
    throw new TrainingError('INVALID_OPTIONS', `unknown method "${settings.method}"`);
  }
  const notes: string[] = [];
  const durationMs: TrainedHead['durationMs'] = {};
  const compared: TrainedHead['compared'] = {};
  let started = performance.now();
  const prototypes = trimmedPrototypes(train, settings.trimFraction);
  durationMs.prototypes = performance.now() - started;
  const negatives = train.filter((e) => e.kind !== 'identity').length;
  const result = (method: TrainingMethod, head: IdentityPrototypes, extra: Partial<TrainedHead> = {}): TrainedHead => ({
    method,
    head,
    validation: compared[method] ?? validateHead(head, validation),
    compared,
    settings,
    durationMs,
    notes,
    ...extra,
  });
  if (settings.method !== 'logistic') compared.prototypes = validateHead(prototypes, validation);
  if (settings.method === 'prototypes') return result('prototypes', prototypes);

  started = performance.now();
  const fit = fitLogistic(prototypes, train, settings);
  durationMs.logistic = performance.now() - started;
  compared.logistic = validateHead(fit.head, validation);
  const logistic = { unknownCosine: fit.unknownCosine, loss: fit.loss };
  if (negatives === 0) notes.push('no stranger or not-a-face examples in train: the logistic head learned no explicit unknown');
  if (settings.method === 'logistic') return result('logistic', fit.head, { logistic });

  const p = compared.prototypes as HeadValidation;
  const l = compared.logistic;
  if (p.mated === 0) notes.push('no validation probes of known identities: auto keeps the prototypes');
  if (l.accuracy > p.accuracy) {
    notes.push(`logistic kept: validation rank-1 ${l.accuracy.toFixed(4)} > prototypes ${p.accuracy.toFixed(4)}`);
    return result('logistic', fit.head, { logistic });
  }
  notes.push(`prototypes kept: validation rank-1 ${p.accuracy.toFixed(4)} ≥ logistic ${l.accuracy.toFixed(4)}`);
  return result('prototypes', prototypes, { logistic });
}
