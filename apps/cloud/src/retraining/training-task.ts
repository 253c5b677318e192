import {
  calibrate,
  datasetDigest,
  evaluateOpenSet,
  gate,
  splitDataset,
  trainHead,
  type Calibration,
  type DatasetSplit,
  type GateResult,
  type GateRule,
  type OpenSetReport,
  type TrainHeadOptions,
  type TrainingExample,
} from '@edgeloop/training';
import { buildIdentityHead, type IdentityPrototypes } from '@edgeloop/vision';
import { onnx } from 'onnx-proto';

/**
 * The CPU-bound parts of a retraining run, as plain functions of plain data: they run in a worker
 * thread (training-compute.ts), never on the event loop that renews the queue's job locks.
 */

export interface SplitTask {
  examples: TrainingExample[];
  seed: number;
}
export interface SplitResult {
  digest: string;
  split: DatasetSplit;
}

export interface TrainTask {
  train: TrainingExample[];
  validation: TrainingExample[];
  options: Partial<TrainHeadOptions>;
}
export interface TrainResult {
  head: IdentityPrototypes;
  onnx: Uint8Array;
  method: string;
  validation: { accuracy: number; mated: number; nonMated: number };
  compared: Record<string, { accuracy: number; mated: number; nonMated: number }>;
  settings: Record<string, unknown>;
  notes: string[];
}

export interface CalibrateTask {
  candidate: IdentityPrototypes;
  /** The production head's ONNX bytes, or null when the base version has no head. */
  production: { onnx: Uint8Array; labels: string[] } | null;
  probes: TrainingExample[];
  targetFpir: number;
}
export interface CalibrateResult {
  candidate: Calibration;
  production: Calibration | null;
}

export interface EvaluateTask {
  candidate: { head: IdentityPrototypes; thresholds: { match: number; margin: number } };
  production: { onnx: Uint8Array; labels: string[]; thresholds: { match: number; margin: number } } | null;
  holdout: TrainingExample[];
  rule: Partial<GateRule>;
}
export interface EvaluateResult {
  candidate: OpenSetReport;
  production: OpenSetReport | null;
  gate: GateResult;
}

export type TrainingTask =
  | { kind: 'split'; input: SplitTask }
  | { kind: 'train'; input: TrainTask }
  | { kind: 'calibrate'; input: CalibrateTask }
  | { kind: 'evaluate'; input: EvaluateTask };

export function runTrainingTask(task: TrainingTask): SplitResult | TrainResult | CalibrateResult | EvaluateResult {
  switch (task.kind) {
    case 'split': {
      const split = splitDataset(task.input.examples, { seed: task.input.seed });
      return { digest: datasetDigest(task.input.examples), split };
    }
    case 'train': {
      const trained = trainHead(task.input.train, task.input.validation, task.input.options);
      return {
        head: trained.head,
        onnx: buildIdentityHead(trained.head),
        method: trained.method,
        validation: trained.validation,
        compared: trained.compared as TrainResult['compared'],
        settings: { ...trained.settings },
        notes: trained.notes,
      };
    }
    case 'calibrate': {
      const options = { targetFpir: task.input.targetFpir };
      const production = task.input.production ? readHeadPrototypes(task.input.production.onnx, task.input.production.labels) : null;
      return {
        candidate: calibrate(task.input.candidate, task.input.probes, options),
        production: production ? calibrate(production, task.input.probes, options) : null,
      };
    }
    case 'evaluate': {
      const { candidate, production, holdout, rule } = task.input;
      // one truth for both heads: every person either head knows is enrolled, so a person only the
      // candidate learned (from labelled hard examples) is a miss for production, not a rejected stranger
      const gallery = [...new Set([...candidate.head.labels, ...(production?.labels ?? [])])];
      const candidateReport = evaluateOpenSet(candidate.head, candidate.thresholds, holdout, { gallery });
      const productionReport = production
        ? evaluateOpenSet(readHeadPrototypes(production.onnx, production.labels), production.thresholds, holdout, { gallery })
        : null;
      return { candidate: candidateReport, production: productionReport, gate: gate(candidateReport, productionReport, rule) };
    }
  }
}

/**
 * The prototypes of an identity head built by `buildIdentityHead`: its `MatMul` initializer [D, K]
 * (float32, little-endian) read back as K unit rows, labelled by the manifest (else the head's metadata).
 */
export function readHeadPrototypes(bytes: Uint8Array, manifestLabels?: string[]): IdentityPrototypes {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  const init = graph?.initializer?.find((t) => t.name === 'prototypes') ?? graph?.initializer?.[0];
  if (!init || !init.dims || init.dims.length !== 2) throw new Error('the production head has no [D, K] prototype initializer');
  const [dim, k] = init.dims.map(Number);
  let values: Float32Array;
  if (init.rawData && init.rawData.length > 0) {
    const raw = Buffer.from(init.rawData);
    values = new Float32Array(dim * k);
    for (let i = 0; i < values.length; i++) values[i] = raw.readFloatLE(i * 4);
  } else values = Float32Array.from(init.floatData ?? []);
  if (values.length !== dim * k) throw new Error(`the production head's initializer has ${values.length} values, not ${dim}×${k}`);
  const labelsEntry = model.metadataProps?.find((p) => p.key === 'edgeloop.labels');
  const labels =
    manifestLabels && manifestLabels.length === k
      ? manifestLabels
      : labelsEntry?.value
        ? (JSON.parse(labelsEntry.value) as string[])
        : Array.from({ length: k }, (_, j) => `#${j}`);
  const prototypes = Array.from({ length: k }, (_, j) => {
    const row = new Float32Array(dim);
    for (let i = 0; i < dim; i++) row[i] = values[i * k + j];
    return row;
  });
  return { labels, prototypes };
}
