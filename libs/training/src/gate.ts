import { TrainingError } from './errors';
import type { IdentitySlice, OpenSetReport, SliceAccuracy } from './evaluate';
import { mcnemar, type McNemarResult } from './mcnemar';

/**
 * The promotion gate: may a retrained head (the candidate) replace production? Both reports must
 * come from the same holdout probes in the same order (each head with its own calibrated
 * thresholds). The candidate passes when
 * 1. its primary metric beats production's by more than `minImprovement` (0: strictly better) — or,
 *    with no production, reaches `floor`;
 * 2. no per-identity or per-device slice with at least `minSliceSize` probes in both reports lost
 *    more than `sliceTolerance` accuracy (an identity enrolled in one head and not the other is not
 *    compared: one head must name that person, the other must say unknown — different tasks);
 * 3. McNemar's test on the per-probe decisions does not show it significantly worse (p < `alpha`
 *    with more probes lost than won); with `requireSignificance` it must be significantly better;
 * 4. with `maxFpir` set, its FPIR on the holdout is at most that.
 */

export type GateMetric = 'dirAtFpir' | 'rank1' | 'accuracy' | 'tarAtFar1e3' | 'unknownRejection';

export interface GateRule {
  primary: GateMetric;
  minImprovement: number;
  sliceTolerance: number;
  minSliceSize: number;
  alpha: number;
  /** Primary metric a first head (no production) must reach. */
  floor: number;
  requireSignificance: boolean;
  maxFpir: number | null;
}

export const DEFAULT_GATE_RULE: Readonly<GateRule> = Object.freeze({
  primary: 'dirAtFpir' as const,
  minImprovement: 0,
  sliceTolerance: 0.02,
  minSliceSize: 5,
  alpha: 0.05,
  floor: 0.5,
  requireSignificance: false,
  maxFpir: null,
});

export interface SliceRegression {
  kind: 'identity' | 'device';
  key: string;
  n: number;
  candidate: number;
  production: number;
  delta: number;
}

export interface GateResult {
  passed: boolean;
  reasons: string[];
  primary: { metric: GateMetric; candidate: number; production: number | null; delta: number | null };
  worseSlices: SliceRegression[];
  mcnemar: McNemarResult | null;
}

export function metricOf(report: OpenSetReport, metric: GateMetric): number {
  return metric === 'dirAtFpir' ? report.dirAtFpir.dir : report[metric];
}

/** Reports from before `enrolled` existed count every labelled slice as enrolled. */
const enrolledIn = (slice: SliceAccuracy | IdentitySlice) => ('enrolled' in slice ? slice.enrolled : true);

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function worseSlices(
  kind: SliceRegression['kind'],
  candidate: Record<string, SliceAccuracy>,
  production: Record<string, SliceAccuracy>,
  rule: GateRule,
): SliceRegression[] {
  const worse: SliceRegression[] = [];
  for (const key of Object.keys(candidate).sort()) {
    const c = candidate[key];
    const p = production[key];
    if (!p || c.n < rule.minSliceSize || p.n < rule.minSliceSize) continue;
    const delta = c.accuracy - p.accuracy;
    if (delta < -rule.sliceTolerance - 1e-12) worse.push({ kind, key, n: c.n, candidate: c.accuracy, production: p.accuracy, delta });
  }
  return worse;
}

export function gate(candidate: OpenSetReport, production: OpenSetReport | null, overrides: Partial<GateRule> = {}): GateResult {
  const rule = { ...DEFAULT_GATE_RULE, ...overrides };
  const reasons: string[] = [];
  let passed = true;
  const value = metricOf(candidate, rule.primary);
  if (rule.maxFpir !== null && candidate.dirAtFpir.fpir > rule.maxFpir) {
    passed = false;
    reasons.push(`candidate FPIR ${pct(candidate.dirAtFpir.fpir)} is above the allowed ${pct(rule.maxFpir)}`);
  }
  if (production === null) {
    const ok = value >= rule.floor;
    if (!ok) passed = false;
    reasons.push(
      ok
        ? `no production head: candidate ${rule.primary} ${pct(value)} reaches the floor ${pct(rule.floor)}`
        : `no production head: candidate ${rule.primary} ${pct(value)} is below the floor ${pct(rule.floor)}`,
    );
    return { passed, reasons, primary: { metric: rule.primary, candidate: value, production: null, delta: null }, worseSlices: [], mcnemar: null };
  }
  if (candidate.probes !== production.probes || candidate.correct.length !== production.correct.length) {
    throw new TrainingError('MISMATCHED_REPORTS', `the reports cover different probes (${candidate.probes} vs ${production.probes})`);
  }
  const before = metricOf(production, rule.primary);
  const delta = value - before;
  if (delta > rule.minImprovement) {
    reasons.push(`${rule.primary} improves from ${pct(before)} to ${pct(value)} (+${pct(delta)})`);
  } else {
    passed = false;
    reasons.push(
      delta === 0
        ? `${rule.primary} is unchanged at ${pct(value)}: the candidate must be strictly better`
        : `${rule.primary} ${delta < 0 ? 'drops' : 'improves only'} from ${pct(before)} to ${pct(value)}` +
            (delta < 0 ? '' : `, not more than the required ${pct(rule.minImprovement)}`),
    );
  }
  const changed = Object.keys(candidate.perIdentity)
    .filter((key) => production.perIdentity[key] && enrolledIn(candidate.perIdentity[key]) !== enrolledIn(production.perIdentity[key]))
    .sort();
  if (changed.length > 0) {
    reasons.push(`not compared, enrolled in only one of the heads: ${changed.join(', ')}`);
  }
  const sameTask = (report: OpenSetReport) => Object.fromEntries(Object.entries(report.perIdentity).filter(([key]) => !changed.includes(key)));
  const worse = [
    ...worseSlices('identity', sameTask(candidate), sameTask(production), rule),
    ...worseSlices('device', candidate.perDevice, production.perDevice, rule),
  ];
  if (worse.length > 0) {
    passed = false;
    for (const s of worse) {
      reasons.push(
        `${s.kind} ${s.key} (${s.n} probes) drops from ${pct(s.production)} to ${pct(s.candidate)}, more than the ${pct(rule.sliceTolerance)} tolerance`,
      );
    }
  }
  const test = mcnemar(candidate.correct, production.correct);
  const significant = test.pValue < rule.alpha;
  if (significant && test.c > test.b) {
    passed = false;
    reasons.push(`McNemar: the candidate gets ${test.c - test.b} more probes wrong than production (p = ${test.pValue.toPrecision(3)})`);
  } else if (rule.requireSignificance && !(significant && test.b > test.c)) {
    passed = false;
    reasons.push(`McNemar: the improvement is not significant (${test.b} probes won, ${test.c} lost, p = ${test.pValue.toPrecision(3)} ≥ ${rule.alpha})`);
  }
  return { passed, reasons, primary: { metric: rule.primary, candidate: value, production: before, delta }, worseSlices: worse, mcnemar: test };
}
