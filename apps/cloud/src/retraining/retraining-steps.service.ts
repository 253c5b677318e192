import { Injectable, Logger } from '@nestjs/common';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  manifestFile,
  RETRAINING_STEPS,
  type RetrainingDataset,
  type RetrainingReport,
  type RetrainingStep,
  type RetrainingStepState,
} from '@edgeloop/contracts';
import { copyVector, DEFAULT_SPLIT_OPTIONS, type TrainingExample } from '@edgeloop/training';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { DomainEvents } from '../events/domain-events';
import { TrainingDataService } from '../identities/training-data.service';
import { ModelRepository, type VersionRecord } from '../repositories/model.repository';
import { CandidateRegistrar } from './candidate-registrar';
import { RetrainingArtifacts } from './retraining-artifacts';
import { overallProgress, RetrainingRunRepository, type RetrainingRunRecord } from './retraining-run.repository';
import { RetrainingCanary } from './retraining-canary.service';
import { TrainingCompute } from './training-compute';
import type { EvaluationDocument, HeadDocument, PackedExamples, ProductionHead } from './training-task';

/** The job a step runs in, as far as a step needs it. */
export interface StepJob {
  attemptsMade: number;
  updateProgress(progress: number): Promise<void>;
}

/** A step that cannot succeed by retrying (missing base, no data, a gate input that is not there). */
export class StepFailure extends Error {}

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
    // a run recorded before the setting existed has none: the split's default
    const nearDuplicateSeconds: number | undefined = run.settings.nearDuplicateSeconds;
    const result = await this.compute.buildDataset({
      examples: await packExamples(collected.examples),
      seed: run.settings.trainer.seed,
      windowMs: nearDuplicateSeconds === undefined ? DEFAULT_SPLIT_OPTIONS.windowMs : nearDuplicateSeconds * 1000,
      counts: { ...collected.counts },
    });
    if (result.splits.holdout === 0 || result.splits.calibration === 0) {
      throw new StepFailure(
        `too few examples to hold any out (${collected.examples.length} examples of ${identities.size} identities): ${result.notes.join('; ')}`,
      );
    }
    const dataset: RetrainingDataset = {
      digest: result.digest,
      identities: identities.size,
      examples: collected.examples.length,
      splits: result.splits,
      counts: { ...collected.counts },
      notes: result.notes.slice(0, 50).map((n) => n.slice(0, 2000)),
    };
    return { output: await this.artifacts.putDocumentBytes(result.document), patch: { dataset } };
  }

  private async trainHead(run: RetrainingRunRecord): Promise<StepOutcome> {
    const [dataset, parent] = await Promise.all([
      this.artifacts.getDocumentBytes(requireOutput(run, 'build-dataset')),
      this.base(run).then((b) => this.productionHead(b)),
    ]);
    const trained = await this.compute.trainHead({
      dataset,
      options: { method: run.settings.trainer.method, seed: run.settings.trainer.seed },
      parent: parent?.head ?? null,
    });
    // the head (and its delta from the base's head) first: the trainer's document names them
    await this.artifacts.putModelFile(trained.head.bytes, trained.head.sha256);
    if (trained.delta && parent) await this.artifacts.putHeadDelta(trained.head.sha256, parent.head.sha256, trained.delta.bytes);
    return { output: await this.artifacts.putDocumentBytes(trained.document) };
  }

  private async trainedHead(run: RetrainingRunRecord): Promise<HeadDocument> {
    return this.artifacts.getDocument<HeadDocument>(requireOutput(run, 'train-head'));
  }

  /** The base version's head (what production runs) as bytes for the thread, or null when it has none. */
  private async productionHead(base: VersionRecord): Promise<ProductionHead | null> {
    const file = manifestFile(base.manifest, 'head');
    if (!file) return null;
    return { head: await this.artifacts.getModelFileBytes(file.sha256), labels: base.manifest.labels, version: base.version };
  }

  private async calibrate(run: RetrainingRunRecord): Promise<StepOutcome> {
    const [trained, base] = await Promise.all([this.trainedHead(run), this.base(run)]);
    const [dataset, trainedBytes, candidateHead, production] = await Promise.all([
      this.artifacts.getDocumentBytes(requireOutput(run, 'build-dataset')),
      this.artifacts.getDocumentBytes(requireOutput(run, 'train-head')),
      this.artifacts.getModelFileBytes(trained.head.sha256),
      this.productionHead(base),
    ]);
    const result = await this.compute.calibrate({ dataset, trained: trainedBytes, candidateHead, production, targetFpir: run.settings.targetFpir });
    return { output: await this.artifacts.putDocumentBytes(result.document) };
  }

  private async evaluate(run: RetrainingRunRecord): Promise<StepOutcome> {
    const [trained, base] = await Promise.all([this.trainedHead(run), this.base(run)]);
    const [dataset, trainedBytes, candidateHead, calibration, production] = await Promise.all([
      this.artifacts.getDocumentBytes(requireOutput(run, 'build-dataset')),
      this.artifacts.getDocumentBytes(requireOutput(run, 'train-head')),
      this.artifacts.getModelFileBytes(trained.head.sha256),
      this.artifacts.getDocumentBytes(requireOutput(run, 'calibrate')),
      this.productionHead(base),
    ]);
    const result = await this.compute.evaluate({
      dataset,
      trained: trainedBytes,
      candidateHead,
      calibration,
      production,
      rule: { ...run.settings.gate, primary: 'dirAtFpir' },
    });
    return { output: await this.artifacts.putDocumentBytes(result.document), patch: { report: result.report } };
  }

  /** Registers the candidate when the gate passed (else the run ends `rejected`), then the optional canary. */
  private async register(run: RetrainingRunRecord, started: number): Promise<void> {
    const evaluation = await this.artifacts.getDocument<EvaluationDocument>(requireOutput(run, 'evaluate'));
    const { report, datasetDigest } = evaluation;
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
            datasetDigest,
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
      report: { verdict: report.verdict, reasons: report.reasons, primary: report.primary, datasetDigest },
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

/**
 * How long packing may hold the event loop before it waits for a turn. The matrix is new memory each run (22 MB at
 * 11,000 × 512), and its first write costs the page faults: in a CPU profile of a 1,000 × 10 run the copy took 106 ms
 * of the loop, 2,000 rows (≈ 18 ms) a turn, and `/health` answers (several turns each) waited 109–111 ms.
 */
const PACK_HOLD_MS = 4;

/** Examples packed for the training thread: the embeddings in one float32 matrix (transferred, not cloned), a turn of the loop every few ms. */
async function packExamples(examples: readonly TrainingExample[]): Promise<PackedExamples> {
  const dim = examples[0]?.embedding.length ?? 0;
  const embeddings = new Float32Array(examples.length * dim);
  const packed: PackedExamples = { ids: [], labels: [], kinds: [], groups: [], times: [], dim, embeddings };
  let heldSince = performance.now();
  for (let i = 0; i < examples.length; i++) {
    const e = examples[i];
    if (e.embedding.length !== dim) throw new StepFailure(`example ${e.id} has ${e.embedding.length} values, expected ${dim}`);
    copyVector(embeddings, e.embedding, i * dim);
    packed.ids.push(e.id);
    packed.labels.push(e.label);
    packed.kinds.push(e.kind);
    packed.groups.push(e.group);
    packed.times.push(e.time);
    if (i % 64 === 63 && performance.now() - heldSince >= PACK_HOLD_MS) {
      await yieldToLoop();
      heldSince = performance.now();
    }
  }
  return packed;
}
