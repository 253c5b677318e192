import type { IdentityPrototypes } from './head';
import { cosineScores, matchIdentity, type MatchPolicy } from './matching';

/** A probe embedding with its true identity; a label that is not enrolled is expected to be unknown. */
export interface EvaluationProbe {
  label: string | null;
  embedding: Float32Array;
}

export const UNKNOWN = 'unknown';

export interface Evaluation {
  total: number;
  correct: number;
  /** correct / total, where an unknown expected as unknown is correct. */
  accuracy: number;
  /** Row and column names of `confusion`: the enrolled labels, then `unknown`. */
  classes: string[];
  /** confusion[expected][predicted] counts. */
  confusion: number[][];
  /** Score of each enrolled probe against its own identity. */
  genuineScores: number[];
  /** Score of each probe against every identity that is not its own. */
  impostorScores: number[];
  /** Share of enrolled probes whose top-1 is right but rejected (below threshold or margin). */
  falseRejectRate: number;
  /** Share of not-enrolled probes given some identity. */
  falseAcceptRate: number;
}

/**
 * Accuracy and confusion of a set of prototypes on labelled embeddings, with the same decision
 * rule as the pipeline (threshold and margin), scored in plain JS.
 */
export function evaluate(head: IdentityPrototypes, probes: readonly EvaluationProbe[], policy: MatchPolicy): Evaluation {
  const classes = [...head.labels, UNKNOWN];
  const index = new Map(classes.map((c, i) => [c, i]));
  const unknown = classes.length - 1;
  const confusion = classes.map(() => classes.map(() => 0));
  const genuineScores: number[] = [];
  const impostorScores: number[] = [];
  let correct = 0;
  let enrolled = 0;
  let rejected = 0;
  let strangers = 0;
  let accepted = 0;
  for (const probe of probes) {
    const scores = cosineScores(probe.embedding, head.prototypes);
    const expected = probe.label !== null && index.has(probe.label) ? (index.get(probe.label) as number) : unknown;
    scores.forEach((s, j) => (j === expected ? genuineScores : impostorScores).push(s));
    const match = matchIdentity(scores, head.labels, policy);
    const predicted = match.identity === null ? unknown : (index.get(match.identity) as number);
    confusion[expected][predicted]++;
    if (predicted === expected) correct++;
    if (expected === unknown) {
      strangers++;
      if (predicted !== unknown) accepted++;
    } else {
      enrolled++;
      if (predicted === unknown && match.candidate === probe.label) rejected++;
    }
  }
  return {
    total: probes.length,
    correct,
    accuracy: probes.length > 0 ? correct / probes.length : 0,
    classes,
    confusion,
    genuineScores,
    impostorScores,
    falseRejectRate: enrolled > 0 ? rejected / enrolled : 0,
    falseAcceptRate: strangers > 0 ? accepted / strangers : 0,
  };
}

/**
 * True-accept rate at a false-accept rate: the lowest threshold that lets at most `far` of the
 * impostor scores through, and the share of genuine scores at or above it.
 */
export function tarAtFar(genuine: readonly number[], impostor: readonly number[], far: number): { threshold: number; tar: number } {
  const sorted = [...impostor].sort((a, b) => b - a);
  const allowed = Math.floor(far * sorted.length);
  // Just above the (allowed+1)-th highest impostor score.
  const threshold = sorted.length > allowed ? sorted[allowed] + 1e-6 : -1;
  const tar = genuine.length > 0 ? genuine.filter((g) => g >= threshold).length / genuine.length : 0;
  return { threshold, tar };
}
