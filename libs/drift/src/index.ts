/** @edgeloop/drift — pure drift statistics: mergeable window aggregates, tests, detectors and the alarm. */
export { DriftError } from './errors';
export type { DriftErrorCode } from './errors';
export {
  addValue,
  addValues,
  binCentres,
  binEdges,
  binIndex,
  createHistogram,
  cumulativeFractions,
  HISTOGRAM_SCALES,
  HistogramSchema,
  HistogramSpecSchema,
  histogramTotal,
  MAX_HISTOGRAM_BINS,
  mergeHistograms,
  quantile,
  sameSpec,
} from './histogram';
export type { Histogram, HistogramScale, HistogramSpec } from './histogram';
export {
  addObservation,
  emptyMoments,
  histogramMean,
  histogramVariance,
  mergeMoments,
  MomentsSchema,
  momentsFromHistogram,
  sampleVariance,
} from './moments';
export type { Moments } from './moments';
export { kolmogorovSurvival, standardNormalCdf, twoSidedNormalPValue } from './distributions';
export { DEFAULT_PSI_OPTIONS, equalMassGroups, populationStabilityIndex, PSI_LEVELS, psiSeverity } from './psi';
export type { PsiOptions, PsiSeverity } from './psi';
export { ksTwoSample } from './ks';
export type { KsResult } from './ks';
export { twoProportionZTest } from './proportion';
export type { ProportionSample, TwoProportionResult } from './proportion';
export { standardizedMeanDifference } from './shift';
export type { MeanShift } from './shift';
export {
  addEmbedding,
  addMeanEmbedding,
  CentroidAccumulatorSchema,
  centroidMean,
  centroidShift,
  cosineDistance,
  createCentroid,
  mergeCentroids,
} from './centroid';
export type { CentroidAccumulator } from './centroid';
export {
  accumulateBatch,
  accumulateFrame,
  createWindowStats,
  DEFAULT_WINDOW_HISTOGRAMS,
  mergeWindowStats,
  parseWindowStats,
  sharpnessScale,
  summarizeWindow,
  WINDOW_STATS_VERSION,
  WindowHistogramSpecsSchema,
  WindowStatsSchema,
} from './window-stats';
export type { InputStat, LatencyQuantiles, WindowHistogramSpecs, WindowStats, WindowSummary } from './window-stats';
export {
  DEFAULT_DRIFT_THRESHOLDS,
  defaultDriftThresholds,
  DriftThresholdOverridesSchema,
  resolveDriftThresholds,
} from './thresholds';
export type { DriftThresholdOverrides, DriftThresholds, MetricThreshold } from './thresholds';
export { evaluateDrift, toDriftEvidence } from './detector';
export { driftingDevices } from './attribution';
export type { DriftFinding } from './detector';
export {
  advanceDriftAlarm,
  DEFAULT_DRIFT_ALARM_OPTIONS,
  DRIFT_ALARM_STATUSES,
  DriftAlarm,
  DriftAlarmOptionsSchema,
  DriftAlarmStateSchema,
  initialDriftAlarmState,
  parseDriftAlarmState,
  resolveDriftAlarmOptions,
} from './alarm';
export type {
  DriftAlarmClear,
  DriftAlarmFire,
  DriftAlarmOptions,
  DriftAlarmState,
  DriftAlarmStatus,
  DriftAlarmStep,
  DriftEpisode,
  MetricStreak,
} from './alarm';
