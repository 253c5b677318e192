/**
 * @edgeloop/training — pure-TypeScript retraining of the identity head over frozen embeddings:
 * leakage-safe splits, the trainer, threshold calibration, open-set evaluation, the promotion gate
 * with McNemar's test, and clustering of unknown faces into suggested new people.
 * Test support (synthetic faces, the orthogonal embedder) is in `./testing`, not exported here.
 */
export { TrainingError } from './errors';
export type { TrainingErrorCode } from './errors';
export { createRandom, gaussianVector, randomUnitVector, shuffle } from './random';
export type { SeededRandom } from './random';
export { copyVector, decodeVectorBase64, dot, encodeVectorBase64, normalise, normalisedMean } from './vectors';
export { datasetDigest, DEFAULT_SPLIT_OPTIONS, exampleBlocks, SPLIT_NAMES, splitDataset } from './dataset';
export type { DatasetSplit, ExampleKind, SplitName, SplitOptions, TrainingExample } from './dataset';
export { groupByIdentity, trimmedPrototype, trimmedPrototypes } from './prototypes';
export { DEFAULT_LOGISTIC_OPTIONS, fitLogistic } from './logistic';
export type { LogisticFit, LogisticOptions } from './logistic';
export { DEFAULT_TRAIN_HEAD_OPTIONS, trainHead, validateHead } from './trainer';
export type { HeadValidation, TrainedHead, TrainHeadOptions, TrainingMethod } from './trainer';
export { NON_MATED, openSetRates, outcomeOf, scoreProbes, toMatchPolicy, UNKNOWN_TO_HEAD } from './open-set';
export type { OpenSetProbe, OpenSetRates, OpenSetThresholds, ProbeOutcome, ScoredProbe } from './open-set';
export { calibrate, DEFAULT_CALIBRATION_OPTIONS } from './calibrate';
export type { Calibration, CalibrationOptions } from './calibrate';
export { evaluateOpenSet, tarAtFarScores } from './evaluate';
export type { IdentitySlice, OpenSetReport, SliceAccuracy } from './evaluate';
export { chiSquare1Survival, exactMcNemarPValue, mcnemar } from './mcnemar';
export type { McNemarResult } from './mcnemar';
export { DEFAULT_GATE_RULE, gate } from './gate';
export type { GateMetric, GateResult, GateRule, SliceRegression } from './gate';
export { clusterUnknowns, DEFAULT_CLUSTER_OPTIONS } from './cluster';
export type { ClusterOptions, UnknownCluster, UnknownItem } from './cluster';
