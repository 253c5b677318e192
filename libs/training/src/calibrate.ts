import type { IdentityPrototypes } from '@edgeloop/vision';
import { TrainingError } from './errors';
import { ratesFromCounts, scoreProbes, type OpenSetProbe, type OpenSetRates, type ScoredProbe } from './open-set';

/**
 * Threshold calibration on the calibration split: for each minimum margin of a small grid, sweep
 * the match threshold down through the probes' top-1 scores and keep the point with the highest
 * DIR whose FPIR (see open-set.ts: the worse of the stranger false-accept rate and the
 * misidentification rate) is at most the target. Ties keep the lower FPIR, then the smaller margin,
 * then the higher threshold. The threshold sits halfway between the last accepted top-1 score and
 * the next lower one, so float32 rounding on the edge cannot flip a calibration probe.
 */

export interface CalibrationOptions {
  targetFpir: number;
  /** Minimum margins tried (top-1 − top-2). */
  marginGrid: readonly number[];
}

export const DEFAULT_CALIBRATION_OPTIONS: Readonly<CalibrationOptions> = Object.freeze({
  targetFpir: 0.01,
  marginGrid: Object.freeze([0, 0.02, 0.05, 0.1, 0.15]),
});

export interface Calibration extends OpenSetRates {
  /** Top-1 threshold. */
  match: number;
  /** Minimum top-1 − top-2 margin. */
  margin: number;
  targetFpir: number;
  notes: string[];
}

/** Gap left under the lowest accepted score when no lower score bounds it. */
const EDGE_GAP = 1e-3;

interface Candidate extends OpenSetRates {
  match: number;
  margin: number;
}

function better(a: Candidate, b: Candidate): boolean {
  if (a.dir !== b.dir) return a.dir > b.dir;
  return a.fpir < b.fpir;
}

/** Best threshold for one minimum margin: a single pass down the eligible probes' scores. */
function sweep(scored: readonly ScoredProbe[], margin: number, target: number, mated: number, nonMated: number): Candidate {
  const eligible = scored.filter((p) => p.margin >= margin).sort((a, b) => b.score - a.score);
  const counts = { identified: 0, misidentified: 0, falseAccepts: 0, mated, nonMated };
  const top = scored.reduce((m, p) => Math.max(m, p.score), -Infinity);
  let best: Candidate = { match: top + EDGE_GAP, margin, ...ratesFromCounts(counts) };
  for (let i = 0; i < eligible.length; ) {
    const score = eligible[i].score;
    for (; i < eligible.length && eligible[i].score === score; i++) {
      const p = eligible[i];
      if (p.expected < 0) counts.falseAccepts++;
      else if (p.candidate === p.expected) counts.identified++;
      else counts.misidentified++;
    }
    const rates = ratesFromCounts(counts);
    if (rates.fpir > target) break; // false positives only grow as the threshold goes down
    const next = i < eligible.length ? eligible[i].score : score - 2 * EDGE_GAP;
    const candidate: Candidate = { match: (score + next) / 2, margin, ...rates };
    if (better(candidate, best)) best = candidate;
  }
  return best;
}

/** Chooses the match threshold and minimum margin on calibration probes (see the file comment). */
export function calibrate(
  head: IdentityPrototypes,
  probes: readonly OpenSetProbe[],
  options: Partial<CalibrationOptions> = {},
): Calibration {
  const o = { ...DEFAULT_CALIBRATION_OPTIONS, ...options };
  if (!(o.targetFpir >= 0 && o.targetFpir < 1)) throw new TrainingError('INVALID_OPTIONS', `targetFpir must be in [0, 1), got ${o.targetFpir}`);
  if (o.marginGrid.length === 0 || o.marginGrid.some((m) => !(m >= 0))) {
    throw new TrainingError('INVALID_OPTIONS', 'marginGrid needs at least one margin ≥ 0');
  }
  const notes: string[] = [];
  const scored = scoreProbes(head, probes);
  const mated = scored.filter((p) => p.expected >= 0).length;
  const nonMated = scored.length - mated;
  if (scored.length === 0) {
    notes.push('no calibration probes: the threshold accepts nothing (match 1.001); calibrate on real data before deploying');
    return { match: 1 + EDGE_GAP, margin: 0, targetFpir: o.targetFpir, notes, ...ratesFromCounts({ identified: 0, misidentified: 0, falseAccepts: 0, mated, nonMated }) };
  }
  if (nonMated === 0) notes.push('no stranger or not-a-face probes: FPIR counts misidentifications of enrolled people only');
  else if (nonMated * o.targetFpir < 1) {
    notes.push(`only ${nonMated} non-mated probes: no false accept of a stranger is tolerated (one would be ${(100 / nonMated).toFixed(2)}% > target)`);
  }
  if (mated === 0) notes.push('no enrolled-identity probes: DIR cannot be measured, the threshold only rejects strangers');
  let best: Candidate | null = null;
  for (const margin of [...o.marginGrid].sort((a, b) => a - b)) {
    const candidate = sweep(scored, margin, o.targetFpir, mated, nonMated);
    if (best === null || better(candidate, best)) best = candidate;
  }
  const chosen = best as Candidate;
  if (chosen.dir === 0 && mated > 0) notes.push(`no threshold reaches FPIR ≤ ${o.targetFpir} while identifying anyone: the head accepts nothing`);
  return { ...chosen, targetFpir: o.targetFpir, notes };
}
