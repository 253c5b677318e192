import { cosineScores, matchIdentity, type IdentityPrototypes, type MatchPolicy } from '@edgeloop/vision';
import type { ExampleKind } from './dataset';
import { TrainingError } from './errors';

/**
 * Open-set scoring shared by calibration and evaluation, with the edge's own decision rule
 * (`matchIdentity`: top-1 ≥ match and top-1 − top-2 ≥ margin, else unknown) on the same float32
 * cosine scores the ONNX head computes.
 *
 * A probe is *mated* when its label is one of the head's identities; every other probe (stranger,
 * not-a-face, or a person this head does not know) is *non-mated* and should come out unknown.
 *
 * False positives come in two kinds, and the FPIR used throughout is the worse of the two rates:
 * - a non-mated probe given any identity (false accepts / non-mated probes), and
 * - a mated probe given someone else's identity (misidentifications / mated probes).
 * Both must stay under the calibration target; DIR is the share of mated probes given their own
 * identity.
 */

export interface OpenSetProbe {
  label: string | null;
  kind?: ExampleKind;
  embedding: Float32Array;
  /** Device or source, for per-device slices. */
  group?: string;
}

/** `ScoredProbe.expected` of a probe that should come out unknown (a stranger, not a face, or a person nobody enrolled). */
export const NON_MATED = -1;
/** `ScoredProbe.expected` of a probe of a gallery identity that this head does not know: it can only be missed or misidentified. */
export const UNKNOWN_TO_HEAD = -2;

export interface ScoredProbe {
  /** Index of the probe's identity in the head, `NON_MATED`, or `UNKNOWN_TO_HEAD`. */
  expected: number;
  /** Index of the best-scoring identity. */
  candidate: number;
  /** Top-1 score and top-1 − top-2 margin, as `matchIdentity` computes them. */
  score: number;
  margin: number;
}

/** The thresholds an edge decides with: `match` (top-1) and `margin` (top-1 − top-2). */
export interface OpenSetThresholds {
  match: number;
  margin: number;
}

export function toMatchPolicy(thresholds: OpenSetThresholds): MatchPolicy {
  return { matchThreshold: thresholds.match, minMargin: thresholds.margin };
}

export interface ScoreCollector {
  /** Score of a mated probe against its own identity. */
  genuine(score: number): void;
  /** Score of a probe against an identity that is not its own. */
  impostor(score: number): void;
}

export function checkHead(head: IdentityPrototypes): void {
  if (head.labels.length === 0) throw new TrainingError('NO_IDENTITIES', 'the head has no identities');
  if (head.prototypes.length !== head.labels.length) {
    throw new TrainingError('INVALID_OPTIONS', `${head.prototypes.length} prototypes for ${head.labels.length} labels`);
  }
}

/**
 * Scores every probe against every identity of the head. With a `gallery` (the identities that are
 * enrolled in truth, e.g. every person of a retraining dataset), a probe of a gallery identity the head
 * does not know is mated all the same — a head that cannot name an enrolled person misses them — so two
 * heads with different identities are scored against one truth.
 */
export function scoreProbes(
  head: IdentityPrototypes,
  probes: readonly OpenSetProbe[],
  collector?: ScoreCollector,
  gallery?: ReadonlySet<string>,
): ScoredProbe[] {
  checkHead(head);
  const dimension = head.prototypes[0].length;
  const index = new Map(head.labels.map((label, i) => [label, i]));
  const policy: MatchPolicy = { matchThreshold: Infinity, minMargin: Infinity };
  return probes.map((probe) => {
    if (probe.embedding.length !== dimension) {
      throw new TrainingError('DIMENSION_MISMATCH', `probe has ${probe.embedding.length} values, the head ${dimension}`);
    }
    const scores = cosineScores(probe.embedding, head.prototypes);
    const expected =
      probe.label !== null && (probe.kind ?? 'identity') === 'identity'
        ? (index.get(probe.label) ?? (gallery?.has(probe.label) ? UNKNOWN_TO_HEAD : NON_MATED))
        : NON_MATED;
    const match = matchIdentity(scores, head.labels, policy);
    if (collector) {
      for (let j = 0; j < scores.length; j++) {
        if (j === expected) collector.genuine(scores[j]);
        else collector.impostor(scores[j]);
      }
    }
    return { expected, candidate: index.get(match.candidate as string) as number, score: match.score as number, margin: match.margin as number };
  });
}

export type ProbeOutcome = 'identified' | 'misidentified' | 'missed' | 'false_accept' | 'rejected';

/** The same decision as `matchIdentity` on a scored probe. */
export function outcomeOf(probe: ScoredProbe, thresholds: OpenSetThresholds): ProbeOutcome {
  const accepted = probe.score >= thresholds.match && probe.margin >= thresholds.margin;
  if (probe.expected === NON_MATED) return accepted ? 'false_accept' : 'rejected';
  if (!accepted) return 'missed';
  return probe.candidate === probe.expected ? 'identified' : 'misidentified';
}

export function isCorrect(outcome: ProbeOutcome): boolean {
  return outcome === 'identified' || outcome === 'rejected';
}

export interface OpenSetRates {
  /** The worse of `strangerFpir` and `misidentification`. */
  fpir: number;
  /** Non-mated probes given an identity / non-mated probes. */
  strangerFpir: number;
  /** Mated probes given another identity / mated probes. */
  misidentification: number;
  /** Detection and identification rate: mated probes given their own identity / mated probes. */
  dir: number;
  mated: number;
  nonMated: number;
}

export function ratesFromCounts(counts: { identified: number; misidentified: number; falseAccepts: number; mated: number; nonMated: number }): OpenSetRates {
  const strangerFpir = counts.nonMated > 0 ? counts.falseAccepts / counts.nonMated : 0;
  const misidentification = counts.mated > 0 ? counts.misidentified / counts.mated : 0;
  return {
    fpir: Math.max(strangerFpir, misidentification),
    strangerFpir,
    misidentification,
    dir: counts.mated > 0 ? counts.identified / counts.mated : 0,
    mated: counts.mated,
    nonMated: counts.nonMated,
  };
}

export function openSetRates(scored: readonly ScoredProbe[], thresholds: OpenSetThresholds): OpenSetRates {
  const counts = { identified: 0, misidentified: 0, falseAccepts: 0, mated: 0, nonMated: 0 };
  for (const probe of scored) {
    const outcome = outcomeOf(probe, thresholds);
    if (probe.expected === NON_MATED) counts.nonMated++;
    else counts.mated++;
    if (outcome === 'identified') counts.identified++;
    else if (outcome === 'misidentified') counts.misidentified++;
    else if (outcome === 'false_accept') counts.falseAccepts++;
  }
  return ratesFromCounts(counts);
}
