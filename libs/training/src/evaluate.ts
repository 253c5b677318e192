import type { IdentityPrototypes } from '@edgeloop/vision';
import type { ExampleKind } from './dataset';
import { isCorrect, NON_MATED, openSetRates, outcomeOf, scoreProbes, type OpenSetProbe, type OpenSetThresholds } from './open-set';

/**
 * Open-set evaluation of a head with its thresholds on a probe set (the holdout), in the terms the
 * gate compares: rank-1, DIR at the FPIR of the given thresholds (definitions in open-set.ts),
 * TAR at FAR 1e-3, unknown rejection, and per-identity, per-device and per-kind slices. `correct`
 * lists, per probe in input order, whether the edge's decision would be right (own identity for a
 * mated probe, unknown for any other), for paired tests between two heads on the same probes.
 */

export interface SliceAccuracy {
  n: number;
  correct: number;
  accuracy: number;
}

export interface IdentitySlice extends SliceAccuracy {
  /** Whether the head knows this identity (if not, its probes are expected unknown). */
  enrolled: boolean;
}

export interface OpenSetReport {
  probes: number;
  /** Share of mated probes whose best-scoring identity is their own (no threshold). */
  rank1: number;
  /** Share of all probes decided correctly. */
  accuracy: number;
  dirAtFpir: { fpir: number; dir: number; strangerFpir: number; misidentification: number };
  /** Share of genuine scores at or above the lowest threshold that lets ≤ 1e-3 of impostor scores through. */
  tarAtFar1e3: number;
  /** Share of non-mated probes (strangers, not-a-face, people the head does not know) left unknown; 0 without any. */
  unknownRejection: number;
  thresholds: OpenSetThresholds;
  /** By true label, for probes that have one (a label the head does not know is expected unknown). */
  perIdentity: Record<string, IdentitySlice>;
  /** By the probe's group (device or source); `unknown` when a probe has none. */
  perDevice: Record<string, SliceAccuracy>;
  /** By kind: identity, stranger, not_a_face. */
  perKind: Partial<Record<ExampleKind, SliceAccuracy>>;
  /** Per probe, same order as the input. */
  correct: boolean[];
}

/**
 * TAR at FAR (the rule of vision's `tarAtFar`, on a Float32Array so millions of impostor scores
 * stay cheap): threshold just above the (⌊far·n⌋+1)-th highest impostor score.
 */
export function tarAtFarScores(genuine: Float32Array, impostor: Float32Array, far: number): { threshold: number; tar: number } {
  const sorted = Float32Array.from(impostor).sort().reverse();
  const allowed = Math.floor(far * sorted.length);
  const threshold = sorted.length > allowed ? sorted[allowed] + 1e-6 : -1;
  let accepted = 0;
  for (const g of genuine) if (g >= threshold) accepted++;
  return { threshold, tar: genuine.length > 0 ? accepted / genuine.length : 0 };
}

function tally(slices: Record<string, SliceAccuracy>, key: string, correct: boolean): void {
  const slice = (slices[key] ??= { n: 0, correct: 0, accuracy: 0 });
  slice.n++;
  if (correct) slice.correct++;
  slice.accuracy = slice.correct / slice.n;
}

class GrowingScores {
  private data: Float32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Float32Array(Math.max(16, capacity));
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
  values(): Float32Array {
    return this.data.subarray(0, this.length);
  }
}

/**
 * `gallery`: the identities enrolled in truth (default: the head's own). Pass the same gallery when two
 * heads are compared on one holdout, so that a person only the candidate knows counts as a miss for the
 * other head rather than as a correctly rejected stranger.
 */
export function evaluateOpenSet(
  head: IdentityPrototypes,
  thresholds: OpenSetThresholds,
  probes: readonly OpenSetProbe[],
  options: { gallery?: readonly string[] } = {},
): OpenSetReport {
  const genuine = new GrowingScores(probes.length);
  const impostor = new GrowingScores(probes.length * head.labels.length);
  const gallery = options.gallery ? new Set(options.gallery) : undefined;
  const scored = scoreProbes(head, probes, { genuine: (s) => genuine.push(s), impostor: (s) => impostor.push(s) }, gallery);
  const perIdentity: Record<string, IdentitySlice> = {};
  const perDevice: Record<string, SliceAccuracy> = {};
  const perKind: Record<string, SliceAccuracy> = {};
  const correct: boolean[] = [];
  let mated = 0;
  let rank1 = 0;
  let nonMated = 0;
  let rejected = 0;
  scored.forEach((p, i) => {
    const probe = probes[i];
    const outcome = outcomeOf(p, thresholds);
    const right = isCorrect(outcome);
    correct.push(right);
    if (p.expected !== NON_MATED) {
      mated++;
      if (p.candidate === p.expected) rank1++;
    } else {
      nonMated++;
      if (outcome === 'rejected') rejected++;
    }
    if (probe.label !== null) {
      perIdentity[probe.label] ??= { n: 0, correct: 0, accuracy: 0, enrolled: p.expected >= 0 };
      tally(perIdentity, probe.label, right);
    }
    tally(perDevice, probe.group ?? 'unknown', right);
    tally(perKind, probe.kind ?? (probe.label === null ? 'stranger' : 'identity'), right);
  });
  const rates = openSetRates(scored, thresholds);
  return {
    probes: probes.length,
    rank1: mated > 0 ? rank1 / mated : 0,
    accuracy: probes.length > 0 ? correct.filter(Boolean).length / probes.length : 0,
    dirAtFpir: { fpir: rates.fpir, dir: rates.dir, strangerFpir: rates.strangerFpir, misidentification: rates.misidentification },
    tarAtFar1e3: tarAtFarScores(genuine.values(), impostor.values(), 1e-3).tar,
    unknownRejection: nonMated > 0 ? rejected / nonMated : 0,
    thresholds: { match: thresholds.match, margin: thresholds.margin },
    perIdentity,
    perDevice,
    perKind,
    correct,
  };
}
