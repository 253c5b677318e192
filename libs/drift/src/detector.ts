import { DRIFT_METRICS, type DriftEvidence, type DriftMetric } from '@edgeloop/contracts';
import { centroidShift } from './centroid';
import { histogramTotal, type Histogram } from './histogram';
import { ksTwoSample } from './ks';
import type { Moments } from './moments';
import { twoProportionZTest } from './proportion';
import { populationStabilityIndex } from './psi';
import { standardizedMeanDifference } from './shift';
import { DEFAULT_DRIFT_THRESHOLDS, type DriftThresholds, type MetricThreshold } from './thresholds';
import type { WindowStats } from './window-stats';

/**
 * One detector's verdict on a window against the reference.
 *
 * `value` by metric: `*_psi` PSI (≥ 0); `*_ks` the KS statistic D (0..1); `unknown_rate` the
 * current minus the reference unknown rate; `*_shift` Cohen's d (signed: negative = lower now, e.g.
 * darker); `embedding_centroid_shift` the cosine distance of the centroids (0..2). `drifted` is
 * |value| ≥ threshold, and for the tests also pValue < alpha (and, for the unknown rate, enough
 * events for the normal approximation).
 */
export interface DriftFinding {
  metric: DriftMetric;
  value: number;
  threshold: number;
  /** KS and the two-proportion test. */
  pValue?: number;
  drifted: boolean;
  /** What the metric counted on each side (faces, frames or embeddings). */
  samples: { reference: number; current: number };
}

/**
 * Runs every enabled detector and returns a finding for each one that could be evaluated, in
 * `DRIFT_METRICS` order. A metric is left out when either window has fewer than its `minSamples`
 * (or nothing to compare): absence means "no observation", which `DriftAlarm` treats as neither
 * over nor under the threshold. For per-model settings pass `resolveDriftThresholds(overrides)`.
 */
export function evaluateDrift(
  reference: WindowStats,
  current: WindowStats,
  thresholds: DriftThresholds = DEFAULT_DRIFT_THRESHOLDS,
): DriftFinding[] {
  const findings: DriftFinding[] = [];
  for (const metric of DRIFT_METRICS) {
    const policy = thresholds.metrics[metric];
    if (!policy.enabled) continue;
    const finding = DETECTORS[metric](reference, current, policy, thresholds);
    if (finding) findings.push({ metric, ...finding });
  }
  return findings;
}

/** The evidence of a `drift.detected` event: the drifted findings in the contract's shape. */
export function toDriftEvidence(findings: readonly DriftFinding[]): DriftEvidence[] {
  return findings
    .filter((finding) => finding.drifted)
    .map(({ metric, value, threshold, pValue }) => (pValue === undefined ? { metric, value, threshold } : { metric, value, threshold, pValue }));
}

type Detector = (
  reference: WindowStats,
  current: WindowStats,
  policy: MetricThreshold,
  thresholds: DriftThresholds,
) => Omit<DriftFinding, 'metric'> | null;

function enough(policy: MetricThreshold, reference: number, current: number): boolean {
  return reference >= policy.minSamples && current >= policy.minSamples;
}

const psiOf =
  (pick: (stats: WindowStats) => Histogram): Detector =>
  (reference, current, policy, thresholds) => {
    const samples = { reference: histogramTotal(pick(reference)), current: histogramTotal(pick(current)) };
    if (!enough(policy, samples.reference, samples.current)) return null;
    const value = populationStabilityIndex(pick(reference), pick(current), thresholds.psi);
    if (value === null) return null;
    return { value, threshold: policy.threshold, drifted: value >= policy.threshold, samples };
  };

const ksOf =
  (pick: (stats: WindowStats) => Histogram): Detector =>
  (reference, current, policy) => {
    const samples = { reference: histogramTotal(pick(reference)), current: histogramTotal(pick(current)) };
    if (!enough(policy, samples.reference, samples.current)) return null;
    const result = ksTwoSample(pick(reference), pick(current));
    if (!result) return null;
    const drifted = result.statistic >= policy.threshold && result.pValue < (policy.alpha ?? 1);
    return { value: result.statistic, threshold: policy.threshold, pValue: result.pValue, drifted, samples };
  };

const shiftOf =
  (pick: (stats: WindowStats) => Moments): Detector =>
  (reference, current, policy) => {
    const samples = { reference: pick(reference).count, current: pick(current).count };
    if (!enough(policy, samples.reference, samples.current)) return null;
    const result = standardizedMeanDifference(pick(reference), pick(current), { minScale: policy.minScale });
    if (!result || !Number.isFinite(result.d)) return null;
    return { value: result.d, threshold: policy.threshold, drifted: Math.abs(result.d) >= policy.threshold, samples };
  };

const unknownRate: Detector = (reference, current, policy) => {
  const samples = { reference: reference.scoredFaces, current: current.scoredFaces };
  if (!enough(policy, samples.reference, samples.current)) return null;
  const result = twoProportionZTest(
    { successes: reference.unknownFaces, trials: reference.scoredFaces },
    { successes: current.unknownFaces, trials: current.scoredFaces },
  );
  if (!result) return null;
  const drifted =
    result.approximationValid && Math.abs(result.difference) >= policy.threshold && result.pValue < (policy.alpha ?? 1);
  return { value: result.difference, threshold: policy.threshold, pValue: result.pValue, drifted, samples };
};

const embeddingCentroid: Detector = (reference, current, policy) => {
  const samples = { reference: reference.centroid.count, current: current.centroid.count };
  if (!enough(policy, samples.reference, samples.current)) return null;
  const value = centroidShift(reference.centroid, current.centroid);
  if (value === null) return null;
  return { value, threshold: policy.threshold, drifted: value >= policy.threshold, samples };
};

const DETECTORS: Record<DriftMetric, Detector> = {
  score_psi: psiOf((s) => s.score),
  score_ks: ksOf((s) => s.score),
  margin_psi: psiOf((s) => s.margin),
  margin_ks: ksOf((s) => s.margin),
  unknown_rate: unknownRate,
  faces_per_frame_shift: shiftOf((s) => s.facesPerFrame),
  brightness_shift: shiftOf((s) => s.brightness.moments),
  contrast_shift: shiftOf((s) => s.contrast.moments),
  sharpness_shift: shiftOf((s) => s.sharpness.moments),
  embedding_centroid_shift: embeddingCentroid,
};
