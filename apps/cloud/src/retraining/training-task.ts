import type { RetrainingReport } from '@edgeloop/contracts';
import {
  calibrate,
  datasetDigest,
  decodeVectorBase64,
  encodeVectorBase64,
  evaluateOpenSet,
  gate,
  splitDataset,
  trainHead,
  type Calibration,
  type ExampleKind,
  type GateRule,
  type OpenSetReport,
  type TrainHeadOptions,
  type TrainingExample,
} from '@edgeloop/training';
import {
  encodeHeadDelta,
  encodeQuantisedHead,
  quantiseAgainstParent,
  readDeltaBase,
  readIdentityHead,
  type HeadWeights,
  type IdentityPrototypes,
} from '@edgeloop/vision';
import { createHash } from 'node:crypto';
import { types } from 'node:util';

/**
 * The CPU-bound part of each retraining step, as a function of bytes: it runs in a worker thread
 * (training-compute.ts) and does everything that costs time there — checking its inputs against their
 * sha256, parsing them, computing, serialising its output and hashing it — so the cloud's event loop only
 * moves bytes between object storage and the thread (shared or transferred, never copied) and answers
 * requests meanwhile.
 */

/** Bytes with their sha256: an input read from object storage (checked here) or an output to store. */
export interface Digested {
  bytes: Uint8Array;
  sha256: string;
}

/** Training examples packed for the thread: one float32 matrix [n, dim] and parallel columns. */
export interface PackedExamples {
  ids: string[];
  labels: Array<string | null>;
  kinds: ExampleKind[];
  groups: string[];
  times: number[];
  dim: number;
  embeddings: Float32Array;
}

/** A training example as stored in the dataset document: the embedding as base64 of its float32 bytes. */
export interface StoredExample {
  id: string;
  label: string | null;
  kind: ExampleKind;
  group: string;
  time: number;
  embedding: string;
}

export interface DatasetDocument {
  digest: string;
  splits: Record<'train' | 'validation' | 'calibration' | 'holdout', StoredExample[]>;
  notes: string[];
  counts: Record<string, number>;
}

/** The trainer's output; the prototypes are the head's own (read from its ONNX, int8 as shipped). */
export interface HeadDocument {
  head: { sha256: string; size: number };
  weights: HeadWeights;
  labels: string[];
  method: string;
  validation: { accuracy: number; mated: number; nonMated: number };
  compared: Record<string, unknown>;
  settings: Record<string, unknown>;
  notes: string[];
  /**
   * The base head the int8 columns were quantised against (absent in documents of runs before it): columns
   * of identities that moved less than the int8 bound are the parent's own (`quantiseAgainstParent`).
   */
  parent?: { sha256: string; reused: number; rewritten: number; added: number } | null;
  /** The delta from the parent's head to this head (what a device on the parent downloads), if one was made. */
  delta?: { sha256: string; size: number; copied: number; carried: number } | null;
}

export interface CalibrationDocument {
  candidate: Calibration;
  production: Calibration | null;
}

export interface EvaluationDocument {
  datasetDigest: string;
  report: RetrainingReport;
  candidate: Omit<OpenSetReport, 'correct'>;
  production: Omit<OpenSetReport, 'correct'> | null;
}

/** How the candidate's head stores its weights: int8 per identity, a quarter of float32 (see buildIdentityHead). */
export const CANDIDATE_HEAD_WEIGHTS: HeadWeights = 'int8';

export interface BuildDatasetTask {
  examples: PackedExamples;
  seed: number;
  /** Near-duplicate gap of the split (`nearDuplicateSeconds`), in ms. */
  windowMs: number;
  counts: Record<string, number>;
}
export interface BuildDatasetResult {
  document: Digested;
  digest: string;
  splits: Record<'train' | 'validation' | 'calibration' | 'holdout', number>;
  notes: string[];
}

export interface TrainHeadTask {
  dataset: Digested;
  options: Partial<TrainHeadOptions>;
  /** The base version's head: its int8 columns are kept where they still fit, and the delta is made against it. */
  parent?: Digested | null;
}
export interface TrainHeadResult {
  /** The head ONNX (a model file) and the trainer's document. */
  head: Digested;
  document: Digested;
  /** The head delta from `parent` (null without an int8 parent head). */
  delta: Digested | null;
}

/** The production (base) head: its ONNX bytes, checked against the manifest's sha256, and labels. */
export interface ProductionHead {
  head: Digested;
  labels: string[];
  version: number;
}

export interface CalibrateTask {
  dataset: Digested;
  trained: Digested;
  candidateHead: Digested;
  production: ProductionHead | null;
  targetFpir: number;
}
export interface CalibrateResult {
  document: Digested;
}

export interface EvaluateTask {
  dataset: Digested;
  trained: Digested;
  candidateHead: Digested;
  calibration: Digested;
  production: ProductionHead | null;
  rule: Partial<GateRule>;
}
export interface EvaluateResult {
  document: Digested;
  report: RetrainingReport;
}

/** A delta asked for on demand: from the head a device has to a registered head (both checked against their sha256). */
export interface HeadDeltaTask {
  base: Digested;
  target: Digested;
}
export interface HeadDeltaResult {
  /** Null when no delta rebuilds the target from that base (another kind of head, another width). */
  delta: (Digested & { copied: number; carried: number }) | null;
}

export type TrainingTask =
  | { kind: 'build-dataset'; input: BuildDatasetTask }
  | { kind: 'train-head'; input: TrainHeadTask }
  | { kind: 'calibrate'; input: CalibrateTask }
  | { kind: 'evaluate'; input: EvaluateTask }
  | { kind: 'head-delta'; input: HeadDeltaTask };

export type TrainingTaskResult = BuildDatasetResult | TrainHeadResult | CalibrateResult | EvaluateResult | HeadDeltaResult;

/** A task's input is not what the run recorded (a changed object): never used, the step fails. */
export class TaskInputError extends Error {
  readonly code = 'INPUT_DIGEST_MISMATCH';
}

export function runTrainingTask(task: TrainingTask): TrainingTaskResult {
  switch (task.kind) {
    case 'build-dataset':
      return buildDataset(task.input);
    case 'train-head':
      return trainHeadTask(task.input);
    case 'calibrate':
      return calibrateTask(task.input);
    case 'evaluate':
      return evaluateTask(task.input);
    case 'head-delta':
      return headDeltaTask(task.input);
  }
}

/**
 * Buffers a message hands over to the other thread (transferred: no copy, no work on the receiving loop): the
 * packed examples of build-dataset. Results are in shared memory (`digested`), which is shared, not transferred.
 */
export function transferablesOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const visit = (v: unknown, depth: number) => {
    if (!v || typeof v !== 'object' || depth > 4) return;
    if (ArrayBuffer.isView(v)) {
      // types.isArrayBuffer: not a SharedArrayBuffer (shared, never transferred), whatever realm made it
      if (types.isArrayBuffer(v.buffer) && v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.add(v.buffer);
      return;
    }
    for (const child of Object.values(v)) visit(child, depth + 1);
  };
  visit(value, 0);
  return [...out];
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Bytes copied into shared memory (a `SharedArrayBuffer`), with their sha256: the cloud's thread stores them and
 * keeps them for the next steps, whose threads read the same memory — no copy is made on the cloud's thread, and
 * its heap gets no new external memory per step (V8 answers large amounts of it with a full collection whose
 * pause the API's answers wait behind).
 */
function digested(bytes: Uint8Array): Digested {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return { bytes: shared, sha256: sha256Of(shared) };
}

function document(value: unknown): Digested {
  return digested(Buffer.from(JSON.stringify(value), 'utf8'));
}

function checked(input: Digested, what: string): Digested {
  const actual = sha256Of(input.bytes);
  if (actual !== input.sha256) throw new TaskInputError(`the ${what} has sha256 ${actual}, expected ${input.sha256}`);
  return input;
}

function parse<T>(input: Digested, what: string): T {
  checked(input, what);
  return JSON.parse(Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength).toString('utf8')) as T;
}

function headOf(input: Digested, labels: readonly string[], what: string): IdentityPrototypes {
  const actual = sha256Of(input.bytes);
  if (actual !== input.sha256) throw new TaskInputError(`the ${what} has sha256 ${actual}, expected ${input.sha256}`);
  return readIdentityHead(input.bytes, labels);
}

export function unpackExamples(packed: PackedExamples): TrainingExample[] {
  return packed.ids.map((id, i) => ({
    id,
    label: packed.labels[i],
    kind: packed.kinds[i],
    group: packed.groups[i],
    time: packed.times[i],
    embedding: packed.embeddings.subarray(i * packed.dim, (i + 1) * packed.dim),
  }));
}

function buildDataset(input: BuildDatasetTask): BuildDatasetResult {
  const examples = unpackExamples(input.examples);
  const split = splitDataset(examples, { seed: input.seed, windowMs: input.windowMs });
  const digest = datasetDigest(examples);
  const doc: DatasetDocument = {
    digest,
    splits: {
      train: split.train.map(storeExample),
      validation: split.validation.map(storeExample),
      calibration: split.calibration.map(storeExample),
      holdout: split.holdout.map(storeExample),
    },
    notes: split.notes,
    counts: { ...input.counts },
  };
  return {
    document: document(doc),
    digest,
    splits: { train: split.train.length, validation: split.validation.length, calibration: split.calibration.length, holdout: split.holdout.length },
    notes: split.notes,
  };
}

function trainHeadTask(input: TrainHeadTask): TrainHeadResult {
  const dataset = parse<DatasetDocument>(input.dataset, 'dataset');
  const parent = input.parent ? checked(input.parent, 'base head') : null;
  const trained = trainHead(dataset.splits.train.map(loadExample), dataset.splits.validation.map(loadExample), input.options);
  // an int8 parent's own columns, or a float32 parent's (an upload) quantised as a device quantises them for a delta
  const quantisation = quantiseAgainstParent(trained.head, parent ? readDeltaBase(parent.bytes)?.quantised : undefined);
  const head = digested(encodeQuantisedHead(quantisation.quantised));
  const encodedDelta = parent ? encodeHeadDelta(parent.bytes, head.bytes) : undefined;
  const delta = encodedDelta ? digested(encodedDelta.bytes) : null;
  const { reused, rewritten, added } = quantisation;
  const doc: HeadDocument = {
    head: { sha256: head.sha256, size: head.bytes.byteLength },
    weights: CANDIDATE_HEAD_WEIGHTS,
    labels: trained.head.labels,
    method: trained.method,
    validation: trained.validation,
    compared: trained.compared as Record<string, unknown>,
    settings: { ...trained.settings },
    notes: trained.notes,
    parent: parent ? { sha256: parent.sha256, reused, rewritten, added } : null,
    delta: delta && encodedDelta ? { sha256: delta.sha256, size: delta.bytes.byteLength, copied: encodedDelta.copied, carried: encodedDelta.carried } : null,
  };
  return { head, document: document(doc), delta };
}

function headDeltaTask(input: HeadDeltaTask): HeadDeltaResult {
  const base = checked(input.base, 'base head');
  const target = checked(input.target, 'target head');
  const encoded = encodeHeadDelta(base.bytes, target.bytes);
  return { delta: encoded ? { ...digested(encoded.bytes), copied: encoded.copied, carried: encoded.carried } : null };
}

function calibrateTask(input: CalibrateTask): CalibrateResult {
  const dataset = parse<DatasetDocument>(input.dataset, 'dataset');
  const trained = parse<HeadDocument>(input.trained, "trainer's output");
  const candidate = headOf(input.candidateHead, trained.labels, 'candidate head');
  const production = input.production ? headOf(input.production.head, input.production.labels, 'production head') : null;
  const probes = dataset.splits.calibration.map(loadExample);
  const options = { targetFpir: input.targetFpir };
  const doc: CalibrationDocument = {
    candidate: calibrate(candidate, probes, options),
    production: production ? calibrate(production, probes, options) : null,
  };
  return { document: document(doc) };
}

function evaluateTask(input: EvaluateTask): EvaluateResult {
  const dataset = parse<DatasetDocument>(input.dataset, 'dataset');
  const trained = parse<HeadDocument>(input.trained, "trainer's output");
  const calibration = parse<CalibrationDocument>(input.calibration, 'calibration');
  const candidateHead = headOf(input.candidateHead, trained.labels, 'candidate head');
  const productionHead = input.production && calibration.production ? headOf(input.production.head, input.production.labels, 'production head') : null;
  const thresholds = (c: Calibration) => ({ match: c.match, margin: c.margin });
  const holdout = dataset.splits.holdout.map(loadExample);
  // one truth for both heads: every person either head knows is enrolled, so a person only the
  // candidate learned (from labelled hard examples) is a miss for production, not a rejected stranger
  const gallery = [...new Set([...candidateHead.labels, ...(productionHead?.labels ?? [])])];
  const candidate = evaluateOpenSet(candidateHead, thresholds(calibration.candidate), holdout, { gallery });
  const production =
    productionHead && calibration.production ? evaluateOpenSet(productionHead, thresholds(calibration.production), holdout, { gallery }) : null;
  const verdict = gate(candidate, production, input.rule);
  const report: RetrainingReport = {
    verdict: verdict.passed ? 'passed' : 'rejected',
    reasons: verdict.reasons.slice(0, 200).map((r) => r.slice(0, 2000)),
    holdoutProbes: holdout.length,
    candidate: { metrics: metricsOf(candidate), thresholds: thresholds(calibration.candidate) },
    production:
      production && calibration.production && input.production
        ? { version: input.production.version, metrics: metricsOf(production), thresholds: thresholds(calibration.production) }
        : null,
    primary: verdict.primary,
    worseSlices: verdict.worseSlices.slice(0, 100),
    mcnemar: verdict.mcnemar,
    trainer: { method: trained.method, validation: trained.validation, compared: trained.compared, settings: trained.settings, notes: trained.notes },
  };
  const doc: EvaluationDocument = {
    datasetDigest: dataset.digest,
    report,
    candidate: withoutCorrect(candidate),
    production: production ? withoutCorrect(production) : null,
  };
  return { document: document(doc), report };
}

function metricsOf(report: OpenSetReport): Record<string, number> {
  return {
    dirAtFpir: report.dirAtFpir.dir,
    fpir: report.dirAtFpir.fpir,
    rank1: report.rank1,
    accuracy: report.accuracy,
    tarAtFar1e3: report.tarAtFar1e3,
    unknownRejection: report.unknownRejection,
  };
}

function withoutCorrect(report: OpenSetReport): Omit<OpenSetReport, 'correct'> {
  const { correct: _c, ...rest } = report;
  return rest;
}

export function storeExample(e: TrainingExample): StoredExample {
  return { id: e.id, label: e.label, kind: e.kind, group: e.group, time: e.time, embedding: encodeVectorBase64(e.embedding) };
}

export function loadExample(e: StoredExample): TrainingExample {
  return { id: e.id, label: e.label, kind: e.kind, group: e.group, time: e.time, embedding: decodeVectorBase64(e.embedding) };
}
