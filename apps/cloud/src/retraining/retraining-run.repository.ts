import { Injectable } from '@nestjs/common';
import {
  RETRAINING_STEPS,
  RETRAINING_STEP_WEIGHTS,
  type RetrainingDataset,
  type RetrainingReport,
  type RetrainingRun,
  type RetrainingSettings,
  type RetrainingStatus,
  type RetrainingStep,
  type RetrainingStepState,
  type RetrainingTrigger,
} from '@edgeloop/contracts';
import { SqlDatabase, type SqlExecutor } from '../database/sql-database';
import { iso, json } from '../repositories/model.repository';

export interface RetrainingRunRecord extends RetrainingRun {
  settings: RetrainingSettings;
  flowGeneration: number;
}

interface RunRow {
  id: string;
  model_name: string;
  base_version: number;
  trigger: RetrainingTrigger;
  status: RetrainingStatus;
  step: RetrainingStep | null;
  progress: number;
  steps: Record<RetrainingStep, RetrainingStepState> | string;
  settings: RetrainingSettings | string;
  auto_canary: boolean;
  dataset: RetrainingDataset | string | null;
  report: RetrainingReport | string | null;
  candidate_version: number | null;
  canary_state: RetrainingRun['canary']['state'];
  canary_deployment_id: string | null;
  canary_reason: string | null;
  error: string | null;
  flow_generation: number;
  created_at: Date | string;
  finished_at: Date | string | null;
}

export const ACTIVE_STATUSES: readonly RetrainingStatus[] = ['queued', 'running'];

export function emptySteps(): Record<RetrainingStep, RetrainingStepState> {
  return Object.fromEntries(
    RETRAINING_STEPS.map((step) => [step, { status: 'pending', attempts: 0, startedAt: null, finishedAt: null, durationMs: null, output: null }]),
  ) as Record<RetrainingStep, RetrainingStepState>;
}

/** Overall progress: the weights of the finished steps plus the running step's share of its own. */
export function overallProgress(steps: Record<RetrainingStep, RetrainingStepState>, running?: { step: RetrainingStep; fraction: number }): number {
  let total = 0;
  for (const step of RETRAINING_STEPS) {
    if (steps[step].status === 'done') total += RETRAINING_STEP_WEIGHTS[step];
    else if (running?.step === step) total += RETRAINING_STEP_WEIGHTS[step] * Math.min(1, Math.max(0, running.fraction));
  }
  return Math.min(1, Math.round(total * 1e4) / 1e4);
}

const COLUMNS = `id, model_name, base_version, trigger, status, step, progress, steps, settings, auto_canary, dataset, report,
  candidate_version, canary_state, canary_deployment_id, canary_reason, error, flow_generation, created_at, finished_at`;

/** Retraining runs and per-model settings in SQL. */
@Injectable()
export class RetrainingRunRepository {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * Inserts a queued run; returns undefined when the model already has a queued or running run (the
   * partial unique index decides, so two replicas starting at once still get one run).
   */
  async insertIfNoneActive(run: {
    id: string;
    modelName: string;
    baseVersion: number;
    trigger: RetrainingTrigger;
    settings: RetrainingSettings;
    autoCanary: boolean;
    createdBy: string | null;
  }): Promise<RetrainingRunRecord | undefined> {
    const rows = await this.db.query<RunRow>(
      `insert into retraining_runs (id, model_name, base_version, trigger, status, steps, settings, auto_canary, created_by)
       values ($1, $2, $3, $4, 'queued', $5, $6, $7, $8)
       on conflict (model_name) where status in ('queued', 'running') do nothing
       returning ${COLUMNS}`,
      [run.id, run.modelName, run.baseVersion, run.trigger, JSON.stringify(emptySteps()), JSON.stringify(run.settings), run.autoCanary, run.createdBy],
    );
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async get(id: string, tx: SqlExecutor = this.db): Promise<RetrainingRunRecord | undefined> {
    const rows = await tx.query<RunRow>(`select ${COLUMNS} from retraining_runs where id = $1`, [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  /** The run, locked for the rest of the caller's transaction. */
  async lock(tx: SqlExecutor, id: string): Promise<RetrainingRunRecord | undefined> {
    const rows = await tx.query<RunRow>(`select ${COLUMNS} from retraining_runs where id = $1 for update`, [id]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async activeForModel(modelName: string): Promise<RetrainingRunRecord | undefined> {
    const rows = await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs where model_name = $1 and status in ('queued', 'running')`, [modelName]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async listActive(): Promise<RetrainingRunRecord[]> {
    const rows = await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs where status in ('queued', 'running') order by created_at`);
    return rows.map(toRun);
  }

  async list(filter: { modelName?: string; limit: number }): Promise<RetrainingRunRecord[]> {
    const rows = filter.modelName
      ? await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs where model_name = $1 order by created_at desc limit $2`, [
          filter.modelName,
          filter.limit,
        ])
      : await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs order by created_at desc limit $1`, [filter.limit]);
    return rows.map(toRun);
  }

  /** When the model's last run (of any status) was created. */
  async lastRunAt(modelName: string): Promise<Date | undefined> {
    const rows = await this.db.query<{ at: Date | string | null }>('select max(created_at) as at from retraining_runs where model_name = $1', [modelName]);
    return rows[0]?.at ? new Date(rows[0].at) : undefined;
  }

  /** Hard examples of the model labelled (identity or not-a-face) after `since` (all of them without it). */
  async countLabelledSince(modelName: string, since: Date | undefined): Promise<number> {
    const rows = await this.db.query<{ n: string | number }>(
      `select count(*) as n from hard_examples
        where model_name = $1 and labelled_at is not null and ($2::timestamptz is null or labelled_at > $2)`,
      [modelName, since ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Models whose hard examples carry these ids. */
  async modelsOfHardExamples(ids: readonly string[]): Promise<string[]> {
    const rows = await this.db.query<{ model_name: string }>('select distinct model_name from hard_examples where id = any($1)', [ids]);
    return rows.map((r) => r.model_name);
  }

  async update(
    tx: SqlExecutor,
    id: string,
    patch: Partial<{
      status: RetrainingStatus;
      step: RetrainingStep | null;
      progress: number;
      steps: Record<RetrainingStep, RetrainingStepState>;
      dataset: RetrainingDataset;
      report: RetrainingReport;
      candidateVersion: number;
      canaryState: RetrainingRun['canary']['state'];
      canaryDeploymentId: string | null;
      canaryReason: string | null;
      error: string | null;
      flowGeneration: number;
      finished: boolean;
    }>,
  ): Promise<void> {
    const sets: string[] = [];
    const params: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (patch.status !== undefined) set('status', patch.status);
    if (patch.step !== undefined) set('step', patch.step);
    if (patch.progress !== undefined) set('progress', patch.progress);
    if (patch.steps !== undefined) set('steps', JSON.stringify(patch.steps));
    if (patch.dataset !== undefined) set('dataset', JSON.stringify(patch.dataset));
    if (patch.report !== undefined) set('report', JSON.stringify(patch.report));
    if (patch.candidateVersion !== undefined) set('candidate_version', patch.candidateVersion);
    if (patch.canaryState !== undefined) set('canary_state', patch.canaryState);
    if (patch.canaryDeploymentId !== undefined) set('canary_deployment_id', patch.canaryDeploymentId);
    if (patch.canaryReason !== undefined) set('canary_reason', patch.canaryReason);
    if (patch.error !== undefined) set('error', patch.error);
    if (patch.flowGeneration !== undefined) set('flow_generation', patch.flowGeneration);
    if (patch.finished) sets.push('finished_at = now()');
    sets.push('updated_at = now()');
    await tx.query(`update retraining_runs set ${sets.join(', ')} where id = $1`, params);
  }

  /** Moves a pending canary to running; false when another caller did first (one deployment per run). */
  async claimCanary(id: string): Promise<boolean> {
    const rows = await this.db.query(
      `update retraining_runs set canary_state = 'running', updated_at = now() where id = $1 and canary_state = 'pending' returning id`,
      [id],
    );
    return rows.length > 0;
  }

  async listPendingCanaries(): Promise<RetrainingRunRecord[]> {
    const rows = await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs where canary_state = 'pending' and status = 'completed'`);
    return rows.map(toRun);
  }

  async findByCanary(deploymentId: string): Promise<RetrainingRunRecord | undefined> {
    const rows = await this.db.query<RunRow>(`select ${COLUMNS} from retraining_runs where canary_deployment_id = $1`, [deploymentId]);
    return rows[0] ? toRun(rows[0]) : undefined;
  }

  async getSettings(modelName: string): Promise<unknown> {
    const rows = await this.db.query<{ settings: unknown }>('select settings from retraining_settings where model_name = $1', [modelName]);
    return rows[0] ? json(rows[0].settings as string) : undefined;
  }

  async putSettings(modelName: string, settings: RetrainingSettings): Promise<void> {
    await this.db.query(
      `insert into retraining_settings (model_name, settings) values ($1, $2)
       on conflict (model_name) do update set settings = excluded.settings, updated_at = now()`,
      [modelName, JSON.stringify(settings)],
    );
  }
}

function toRun(r: RunRow): RetrainingRunRecord {
  return {
    id: r.id,
    modelName: r.model_name,
    baseVersion: Number(r.base_version),
    trigger: r.trigger,
    status: r.status,
    step: r.step,
    progress: Number(r.progress),
    steps: json(r.steps) as Record<RetrainingStep, RetrainingStepState>,
    dataset: json(r.dataset),
    report: json(r.report),
    candidate: r.candidate_version === null ? null : { name: r.model_name, version: Number(r.candidate_version) },
    autoCanary: r.auto_canary,
    canary: { state: r.canary_state, deploymentId: r.canary_deployment_id, reason: r.canary_reason },
    error: r.error,
    createdAt: iso(r.created_at),
    finishedAt: r.finished_at === null ? null : iso(r.finished_at),
    settings: json(r.settings) as RetrainingSettings,
    flowGeneration: Number(r.flow_generation),
  };
}
