import { Injectable, Logger } from '@nestjs/common';
import {
  describeZodError,
  fieldIssues,
  manifestFile,
  ModelNameSchema,
  RetrainingSettingsSchema,
  type ModelReference,
  type RetrainingRun,
  type RetrainingSettings,
  type RetrainingTrigger,
} from '@edgeloop/contracts';
import { randomBytes } from 'node:crypto';
import { SqlDatabase } from '../database/sql-database';
import { BadRequestError, DomainError, NotFoundError } from '../errors/domain.errors';
import { DomainEvents } from '../events/domain-events';
import { ModelRepository } from '../repositories/model.repository';
import { PRODUCTION_ALIAS } from './retraining-canary.service';
import { RetrainingFlow } from './retraining-flow';
import { RetrainingRunRepository, type RetrainingRunRecord } from './retraining-run.repository';

/** 409: the model already has a queued or running run; `details[0].runId` names it. */
export class RetrainingInProgressError extends DomainError {
  constructor(run: RetrainingRunRecord) {
    super(409, 'retraining_in_progress', `${run.modelName} already has a ${run.status} retraining run (${run.id})`, [{ runId: run.id }]);
  }
}

export const DEFAULT_RETRAINING_SETTINGS: RetrainingSettings = RetrainingSettingsSchema.parse({});

/**
 * Starts and reads retraining runs; decides on automatic triggers. One run per model at a time (the SQL
 * index decides across replicas); automatic triggers respect the model's cool-down and thresholds.
 */
@Injectable()
export class RetrainingService {
  private readonly logger = new Logger(RetrainingService.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly runs: RetrainingRunRepository,
    private readonly models: ModelRepository,
    private readonly flow: RetrainingFlow,
    private readonly events: DomainEvents,
  ) {}

  /** A manual start: 404 for an unknown model, version or alias (no production), 422 for a base with no embedder, 409 while a run is active. */
  async start(request: { base: ModelReference; autoCanary: boolean }, trigger: RetrainingTrigger, actor: string | null): Promise<RetrainingRun> {
    const name = request.base.name;
    if (!(await this.models.modelExists(name))) throw new NotFoundError(`model ${name}`);
    let version: number;
    if (request.base.kind === 'version') version = request.base.version;
    else {
      const resolved = await this.models.resolveAlias(name, request.base.alias);
      if (resolved === undefined) {
        throw new DomainError(
          404,
          'not_found',
          `${name} has no ${request.base.alias} alias: point it at the version to retrain from, or name a version (${name}@<version>)`,
        );
      }
      version = resolved;
    }
    const base = await this.models.getVersion(name, version);
    if (!base) throw new NotFoundError(`version ${name}@${version}`);
    if (!manifestFile(base.manifest, 'embedder')) {
      throw new DomainError(422, 'unprocessable_entity', `${name}@${version} has no embedder file: a head can only be trained over an embedder`);
    }
    const settings = await this.settings(name);
    const run = await this.runs.insertIfNoneActive({
      id: `rt_${randomBytes(8).toString('hex')}`,
      modelName: name,
      baseVersion: version,
      trigger,
      settings,
      autoCanary: request.autoCanary,
      createdBy: actor,
    });
    if (!run) {
      const active = await this.runs.activeForModel(name);
      if (active) throw new RetrainingInProgressError(active);
      throw new DomainError(409, 'retraining_in_progress', `${name} already has an active retraining run`);
    }
    try {
      await this.flow.add(run, 0);
    } catch (err) {
      const message = `the retraining flow could not be queued: ${(err as Error).message}`;
      await this.db.transaction((tx) => this.runs.update(tx, run.id, { status: 'failed', error: message.slice(0, 2000), finished: true }));
      throw new DomainError(503, 'unavailable', message);
    }
    this.logger.log(`run ${run.id}: ${trigger} retraining of ${name}@${version} queued${request.autoCanary ? ' (auto canary)' : ''}`);
    await this.events.emit('retraining.progress', { runId: run.id, modelName: name, status: 'queued', step: null, progress: 0 });
    return toResponse(run);
  }

  /**
   * An automatic trigger: retrains the `production` version when the model has no active run, its
   * cool-down has passed and at least `minNew` examples were labelled since its last run. Returns the run,
   * or why it did not start.
   */
  async startAutomatic(modelName: string, trigger: Exclude<RetrainingTrigger, 'manual'>): Promise<RetrainingRun | string> {
    const settings = await this.settings(modelName);
    const minNew = trigger === 'drift' ? settings.driftMinNewExamples : settings.labelsThreshold;
    if (minNew === null) return `${trigger} triggers are off for ${modelName}`;
    const production = await this.models.resolveAlias(modelName, PRODUCTION_ALIAS);
    if (production === undefined) return `${modelName} has no production version`;
    if (await this.runs.activeForModel(modelName)) return `${modelName} already has an active run`;
    const last = await this.runs.lastRunAt(modelName);
    if (last && Date.now() - last.getTime() < settings.cooldownSeconds * 1000) {
      return `${modelName} is in its cool-down until ${new Date(last.getTime() + settings.cooldownSeconds * 1000).toISOString()}`;
    }
    const fresh = await this.runs.countLabelledSince(modelName, last);
    if (fresh < minNew) return `${fresh} example(s) labelled since the last run, ${minNew} needed: label more hard examples`;
    try {
      return await this.start({ base: { kind: 'alias', name: modelName, alias: PRODUCTION_ALIAS }, autoCanary: settings.autoCanary }, trigger, null);
    } catch (err) {
      if (err instanceof DomainError) return err.message;
      throw err;
    }
  }

  async get(id: string): Promise<RetrainingRun> {
    const run = await this.runs.get(id);
    if (!run) throw new NotFoundError(`retraining run ${id}`);
    return toResponse(run);
  }

  async list(filter: { modelName?: string; limit: number }): Promise<RetrainingRun[]> {
    return (await this.runs.list(filter)).map(toResponse);
  }

  /** The model's settings: the stored ones over the defaults. */
  async settings(modelName: string): Promise<RetrainingSettings> {
    const stored = await this.runs.getSettings(modelName);
    if (stored === undefined) return DEFAULT_RETRAINING_SETTINGS;
    const parsed = RetrainingSettingsSchema.safeParse(stored);
    if (!parsed.success) {
      this.logger.warn(`stored retraining settings of ${modelName} are invalid (${describeZodError(parsed.error)}); using the defaults`);
      return DEFAULT_RETRAINING_SETTINGS;
    }
    return parsed.data;
  }

  async putSettings(modelName: string, body: unknown): Promise<RetrainingSettings> {
    const name = ModelNameSchema.safeParse(modelName);
    if (!name.success) throw new BadRequestError('invalid_model_name', describeZodError(name.error));
    const parsed = RetrainingSettingsSchema.safeParse(body ?? {});
    if (!parsed.success) throw new BadRequestError('invalid_body', describeZodError(parsed.error), fieldIssues(parsed.error));
    if (!(await this.models.modelExists(modelName))) throw new NotFoundError(`model ${modelName}`);
    await this.runs.putSettings(modelName, parsed.data);
    return parsed.data;
  }
}

export function toResponse(run: RetrainingRunRecord): RetrainingRun {
  const { settings: _settings, flowGeneration: _generation, ...response } = run;
  return response;
}
