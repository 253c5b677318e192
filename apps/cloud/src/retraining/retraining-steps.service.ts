import { Injectable, Logger } from '@nestjs/common';
import {
  manifestFile,
  RETRAINING_STEPS,
  type RetrainingDataset,
  type RetrainingReport,
  type RetrainingStep,
  type RetrainingStepState,
} from '@edgeloop/contracts';
import type { Calibration, OpenSetReport, TrainingExample } from '@edgeloop/training';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { DomainEvents } from '../events/domain-events';
import { TrainingDataService } from '../identities/training-data.service';
import { ModelRepository, type VersionRecord } from '../repositories/model.repository';
import { CandidateRegistrar } from './candidate-registrar';
import { decodeVector, encodeVector, loadExample, RetrainingArtifacts, storeExample, type StoredExample } from './retraining-artifacts';
import { overallProgress, RetrainingRunRepository, type RetrainingRunRecord } from './retraining-run.repository';
import { RetrainingCanary } from './retraining-canary.service';
import { TrainingCompute } from './training-compute';

/** The job a step runs in, as far as a step needs it. */
export interface StepJob {
  attemptsMade: number;
  updateProgress(progress: number): Promise<void>;
}

/** A step that cannot succeed by retrying (missing base, no data, a gate input that is not there). */
export class StepFailure extends Error {}

interface DatasetDocument {
  digest: string;
  splits: Record<'train' | 'validation' | 'calibration' | 'holdout', StoredExample[]>;
  notes: string[];
  counts: Record<string, number>;
}

interface HeadDocument {
  head: { sha256: string; size: number };
  labels: string[];
  prototypes: string[];
  method: string;
  validation: { accuracy: number; mated: number; nonMated: number };
  compared: Record<string, unknown>;
  settings: Record<string, unknown>;
  notes: string[];
}

interface CalibrationDocument {
  candidate: Calibration;
  production: Calibration | null;
}

interface EvaluationDocument {
  report: RetrainingReport;
  candidate: Omit<OpenSetReport, 'correct'>;
  production: Omit<OpenSetReport, 'correct'> | null;
}

type StepOutcome = { output: { key: string; sha256: string }; patch?: { dataset?: RetrainingDataset; report?: RetrainingReport } };

/**
 * The five steps of a retraining run. Each one reads the outputs of the steps before it from object
 * storage (by the digests the run records), runs its CPU work in a worker thread, stores its own output
 * by digest and records it in the run in one update. A step whose output is already recorded is done:
 * running it again (a redelivered job, a restart) changes nothing.
 */
@Injectable()
export class RetrainingSteps {
  private readonly logger = new Logger(RetrainingSteps.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly runs: RetrainingRunRepository,
    private readonly artifacts: RetrainingArtifacts,
    private readonly compute: TrainingCompute,
    private readonly data: TrainingDataService,
    private readonly models: ModelRepository,
    private readonly registrar: CandidateRegistrar,
    private readonly canary: RetrainingCanary,
    private readonly events: DomainEvents,
  ) {}

  async execute(step: RetrainingStep, runId: string, job: StepJob): Promise<void> {
    const run = await this.begin(step, runId);
    if (!run) return;
    const started = performance.now();
    await job.updateProgress(0.05);
    if (step === 'register') {
      await this.register(run, started);
      return;
    }
    const outcome = await this.work(step, run);
    await job.updateProgress(1);
    const finished = await this.db.transaction(async (tx) => {
      const current = await this.runs.lock(tx, runId);
      if (!current || current.status !== 'running') return undefined;
      const steps = finishStep(current.steps, step, started, outcome.output);
      const progress = overallProgress(steps);
      await this.runs.update(tx, runId, { steps, progress, ...outcome.patch });
      return { ...current, steps, progress };
    });
    if (finished) await this.announce(finished, 'running', step);
    this.logger.log(`run ${runId}: ${step} done in ${Math.round(performance.now() - started)} ms`);
  }

  /** Marks the step running (counting the attempt); undefined when there is nothing to do. */
  private async begin(step: RetrainingStep, runId: string): Promise<RetrainingRunRecord | undefined> {
    const run = await this.db.transaction(async (tx) => {
      const current = await this.runs.lock(tx, runId);
      if (!current) throw new StepFailure(`run ${runId} does not exist`);
      if (!['queued', 'running'].includes(current.status) || current.steps[step].status === 'done') return undefined;
      const previous = RETRAINING_STEPS[RETRAINING_STEPS.indexOf(step) - 1];
      if (previous && current.steps[previous].status !== 'done') throw new StepFailure(`${step} started before ${previous} finished`);
      const state = current.steps[step];
      const steps = {
        ...current.steps,
        [step]: { ...state, status: 'running', attempts: state.attempts + 1, startedAt: new Date().toISOString(), finishedAt: null, durationMs: null },
      } as Record<RetrainingStep, RetrainingStepState>;
      const progress = overallProgress(steps, { step, fraction: 0 });
      await this.runs.update(tx, runId, { status: 'running', step, steps, progress, error: null });
      return { ...current, status: 'running' as const, step, steps, progress };
    });
    if (run) await this.announce(run, 'running', step);
    return run;
  }

  private async work(step: Exclude<RetrainingStep, 'register'>, run: RetrainingRunRecord): Promise<StepOutcome> {
    switch (step) {
      case 'build-dataset':
        return this.buildDataset(run);
      case 'train-head':
        return this.trainHead(run);
      case 'calibrate':
        return this.calibrate(run);
      case 'evaluate':
        return this.evaluate(run);
    }
  }

  private async base(run: RetrainingRunRecord): Promise<VersionRecord> {
    const base = await this.models.getVersion(run.modelName, run.baseVersion);
    if (!base) throw new StepFailure(`the base version ${run.modelName}@${run.baseVersion} no longer exists`);
    return base;
  }

  private async buildDataset(run: RetrainingRunRecord): Promise<StepOutcome> {
    const base = await this.base(run);
    const embedder = manifestFile(base.manifest, 'embedder');
    if (!embedder) throw new StepFailure(`${run.modelName}@${run.baseVersion} has no embedder: there is nothing to train a head on`);
    const collected = await this.data.collect({
      modelName: run.modelName,
      embedderSha256: embedder.sha256,
      embedderVersion: { name: run.modelName, version: run.baseVersion },
    });
    const identities = new Set(collected.examples.filter((e) => e.kind === 'identity').map((e) => e.label));
    if (identities.size === 0) throw new StepFailure('no labelled examples of any identity: enrol people or label hard examples first');
    const { digest, split } = await this.compute.split({ examples: collected.examples, seed: run.settings.trainer.seed });
    if (split.holdout.length === 0 || split.calibration.length === 0) {
      throw new StepFailure(
        `too few examples to hold any out (${collected.examples.length} examples of ${identities.size} identities): ${split.notes.join('; ')}`,
      );
    }
    const document: DatasetDocument = {
      digest,
      splits: {
        train: split.train.map(storeExample),
        validation: split.validation.map(storeExample),
        calibration: split.calibration.map(storeExample),
        holdout: split.holdout.map(storeExample),
      },
      notes: split.notes,
      counts: { ...collected.counts },
    };
    const dataset: RetrainingDataset = {
      digest,
      identities: identities.size,
      examples: collected.examples.length,
      splits: { train: split.train.length, validation: split.validation.length, calibration: split.calibration.length, holdout: split.holdout.length },
      counts: { ...collected.counts },
      notes: split.notes.slice(0, 50).map((n) => n.slice(0, 2000)),
    };
    return { output: await this.artifacts.putDocument(document), patch: { dataset } };
  }

  private async dataset(run: RetrainingRunRecord): Promise<DatasetDocument> {
    return this.artifacts.getDocument<DatasetDocument>(requireOutput(run, 'build-dataset'));
  }

  private async trainHead(run: RetrainingRunRecord): Promise<StepOutcome> {
    const dataset = await this.dataset(run);
    const trained = await this.compute.train({
      train: dataset.splits.train.map(loadExample),
      validation: dataset.splits.validation.map(loadExample),
      options: { method: run.settings.trainer.method, seed: run.settings.trainer.seed },
    });
    const head = await this.artifacts.putModelFile(trained.onnx);
    const document: HeadDocument = {
      head,
      labels: trained.head.labels,
      prototypes: trained.head.prototypes.map(encodeVector),
      method: trained.method,
      validation: trained.validation,
      compared: trained.compared,
      settings: trained.settings,
      notes: trained.notes,
    };
    return { output: await this.artifacts.putDocument(document) };
  }

  private async trainedHead(run: RetrainingRunRecord): Promise<HeadDocument> {
    return this.artifacts.getDocument<HeadDocument>(requireOutput(run, 'train-head'));
  }

  /** The base version's head (what production runs), or null when it has none. */
  private async productionHead(base: VersionRecord): Promise<{ onnx: Uint8Array; labels: string[] } | null> {
    const file = manifestFile(base.manifest, 'head');
    if (!file) return null;
    return { onnx: await this.artifacts.getModelFile(file.sha256), labels: base.manifest.labels };
  }

  private async calibrate(run: RetrainingRunRecord): Promise<StepOutcome> {
    const [dataset, trained, base] = await Promise.all([this.dataset(run), this.trainedHead(run), this.base(run)]);
    const result = await this.compute.calibrate({
      candidate: { labels: trained.labels, prototypes: trained.prototypes.map(decodeVector) },
      production: await this.productionHead(base),
      probes: dataset.splits.calibration.map(loadExample),
      targetFpir: run.settings.targetFpir,
    });
    const document: CalibrationDocument = { candidate: result.candidate, production: result.production };
    return { output: await this.artifacts.putDocument(document) };
  }

  private async evaluate(run: RetrainingRunRecord): Promise<StepOutcome> {
    const [dataset, trained, base] = await Promise.all([this.dataset(run), this.trainedHead(run), this.base(run)]);
    const calibration = await this.artifacts.getDocument<CalibrationDocument>(requireOutput(run, 'calibrate'));
    const production = await this.productionHead(base);
    const thresholds = (c: Calibration) => ({ match: c.match, margin: c.margin });
    const holdout: TrainingExample[] = dataset.splits.holdout.map(loadExample);
    const result = await this.compute.evaluate({
      candidate: { head: { labels: trained.labels, prototypes: trained.prototypes.map(decodeVector) }, thresholds: thresholds(calibration.candidate) },
      production: production && calibration.production ? { ...production, thresholds: thresholds(calibration.production) } : null,
      holdout,
      rule: { ...run.settings.gate, primary: 'dirAtFpir' },
    });
    const report: RetrainingReport = {
      verdict: result.gate.passed ? 'passed' : 'rejected',
      reasons: result.gate.reasons.slice(0, 200).map((r) => r.slice(0, 2000)),
      holdoutProbes: holdout.length,
      candidate: { metrics: metricsOf(result.candidate), thresholds: thresholds(calibration.candidate) },
      production:
        result.production && calibration.production
          ? { version: base.version, metrics: metricsOf(result.production), thresholds: thresholds(calibration.production) }
          : null,
      primary: result.gate.primary,
      worseSlices: result.gate.worseSlices.slice(0, 100),
      mcnemar: result.gate.mcnemar,
      trainer: { method: trained.method, validation: trained.validation, compared: trained.compared, settings: trained.settings, notes: trained.notes },
    };
    const { correct: _c, ...candidate } = result.candidate;
    const document: EvaluationDocument = { report, candidate, production: result.production ? withoutCorrect(result.production) : null };
    return { output: await this.artifacts.putDocument(document), patch: { report } };
  }

  /** Registers the candidate when the gate passed (else the run ends `rejected`), then the optional canary. */
  private async register(run: RetrainingRunRecord, started: number): Promise<void> {
    const evaluation = await this.artifacts.getDocument<EvaluationDocument>(requireOutput(run, 'evaluate'));
    const { report } = evaluation;
    const dataset = await this.dataset(run);
    const output = requireOutput(run, 'evaluate');
    const close = async (tx: SqlExecutor, candidateVersion?: number) => {
      const current = await this.runs.lock(tx, run.id);
      if (!current || current.status !== 'running') throw new StepFailure(`run ${run.id} is ${current?.status ?? 'gone'}`);
      const steps = finishStep(current.steps, 'register', started, output);
      await this.runs.update(tx, run.id, {
        steps,
        progress: 1,
        status: candidateVersion !== undefined ? 'completed' : 'rejected',
        step: null,
        finished: true,
        ...(candidateVersion !== undefined ? { candidateVersion, ...(run.autoCanary ? { canaryState: 'pending' as const } : {}) } : {}),
      });
    };
    let candidate: { name: string; version: number } | null = null;
    if (report.verdict === 'passed') {
      const trained = await this.trainedHead(run);
      const base = await this.base(run);
      const record = await this.registrar.register(
        {
          runId: run.id,
          base,
          head: trained.head,
          labels: trained.labels,
          thresholds: report.candidate.thresholds,
          metrics: report.candidate.metrics,
          lineage: {
            runId: run.id,
            datasetDigest: dataset.digest,
            baseVersion: run.baseVersion,
            trainer: { method: trained.method, ...trained.settings },
            targetFpir: run.settings.targetFpir,
          },
        },
        (tx, inserted) => close(tx, inserted.version),
      );
      candidate = { name: record.name, version: record.version };
    } else {
      await this.db.transaction((tx) => close(tx));
    }
    const finished = await this.runs.get(run.id);
    if (finished) await this.announce(finished, finished.status, null);
    await this.events.emit('retraining.completed', {
      runId: run.id,
      modelName: run.modelName,
      baseVersion: run.baseVersion,
      candidate,
      metrics: { candidate: report.candidate.metrics, production: report.production?.metrics ?? {} },
      report: { verdict: report.verdict, reasons: report.reasons, primary: report.primary, datasetDigest: dataset.digest },
    });
    this.logger.log(
      `run ${run.id}: ${candidate ? `registered ${candidate.name}@${candidate.version} as candidate` : `candidate rejected (${report.reasons.join('; ')})`}`,
    );
    if (candidate && run.autoCanary && finished) await this.canary.start(finished, candidate.version);
  }

  /** Ends a run as failed (the queue gave up on a step); a run already finished is left as it is. */
  async fail(runId: string, step: RetrainingStep, error: string): Promise<void> {
    const message = error.slice(0, 2000) || 'failed';
    const run = await this.db.transaction(async (tx) => {
      const current = await this.runs.lock(tx, runId);
      if (!current || !['queued', 'running'].includes(current.status)) return undefined;
      const steps = { ...current.steps, [step]: { ...current.steps[step], status: 'failed', finishedAt: new Date().toISOString() } } as Record<
        RetrainingStep,
        RetrainingStepState
      >;
      await this.runs.update(tx, runId, { status: 'failed', steps, error: `${step}: ${message}`, finished: true });
      return { ...current, status: 'failed' as const, steps, error: message };
    });
    if (!run) return;
    this.logger.warn(`run ${runId} failed at ${step}: ${message}`);
    await this.announce(run, 'failed', step);
    await this.events.emit('retraining.failed', {
      runId,
      modelName: run.modelName,
      baseVersion: run.baseVersion,
      step,
      error: message,
      ...(run.report && run.dataset
        ? { report: { verdict: run.report.verdict, reasons: run.report.reasons, primary: run.report.primary, datasetDigest: run.dataset.digest } }
        : {}),
    });
  }

  private async announce(run: RetrainingRunRecord, status: string, step: RetrainingStep | null): Promise<void> {
    await this.events.emit('retraining.progress', { runId: run.id, modelName: run.modelName, status, step, progress: run.progress });
  }
}

function requireOutput(run: RetrainingRunRecord, step: RetrainingStep): { key: string; sha256: string } {
  const output = run.steps[step].output;
  if (!output) throw new StepFailure(`the ${step} step has no recorded output`);
  return output;
}

function finishStep(
  steps: Record<RetrainingStep, RetrainingStepState>,
  step: RetrainingStep,
  started: number,
  output: { key: string; sha256: string },
): Record<RetrainingStep, RetrainingStepState> {
  return {
    ...steps,
    [step]: { ...steps[step], status: 'done', finishedAt: new Date().toISOString(), durationMs: Math.round(performance.now() - started), output },
  };
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
