import { Injectable, Logger, Optional } from '@nestjs/common';
import type { DeploymentTarget, DomainEvent } from '@edgeloop/contracts';
import { SqlDatabase } from '../database/sql-database';
import { DomainEvents } from '../events/domain-events';
import { AuditRepository } from '../repositories/audit.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { ModelRepository } from '../repositories/model.repository';
import { RolloutService } from '../services/rollout.service';
import { RetrainingRunRepository, type RetrainingRunRecord } from './retraining-run.repository';

export const PRODUCTION_ALIAS = 'production';

/**
 * The automatic canary of a registered candidate: a `canary` deployment (health gate, automatic rollback)
 * to the devices that run the base version, or to the model's configured group. When the deployment
 * completes, `production` moves to the candidate; when it fails or is rolled back, `production` stays.
 */
@Injectable()
export class RetrainingCanary {
  private readonly logger = new Logger(RetrainingCanary.name);

  constructor(
    private readonly db: SqlDatabase,
    private readonly runs: RetrainingRunRepository,
    private readonly models: ModelRepository,
    private readonly devices: DeviceRepository,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
    @Optional() private readonly rollouts?: RolloutService,
  ) {}

  /** Starts the canaries of candidates registered while no canary could start (a restart between the two). */
  async startPending(): Promise<void> {
    for (const run of await this.runs.listPendingCanaries()) {
      if (run.candidate) await this.start(run, run.candidate.version);
    }
  }

  async start(run: RetrainingRunRecord, candidateVersion: number): Promise<void> {
    const skip = async (reason: string) => {
      this.logger.warn(`run ${run.id}: no canary of ${run.modelName}@${candidateVersion}: ${reason}`);
      await this.db.transaction((tx) => this.runs.update(tx, run.id, { canaryState: 'skipped', canaryReason: reason.slice(0, 1000) }));
    };
    if (!(await this.runs.claimCanary(run.id))) return;
    if (!this.rollouts) return skip('rollouts are not enabled on this cloud (no broker)');
    const settings = run.settings.canary;
    let target: DeploymentTarget;
    if (settings.group) target = { group: settings.group };
    else {
      const running = (await this.devices.list()).filter(
        (d) => !d.disabled && d.reported?.running?.name === run.modelName && d.reported.running.version === run.baseVersion,
      );
      if (running.length === 0) return skip(`no enabled device runs ${run.modelName}@${run.baseVersion}`);
      target = { devices: running.map((d) => d.id) };
    }
    try {
      const deployment = await this.rollouts.create(
        {
          model: { kind: 'version', name: run.modelName, version: candidateVersion },
          target,
          strategy: {
            type: 'canary',
            percent: settings.percent,
            batchSize: settings.batchSize,
            observeSeconds: settings.observeSeconds,
            maxFailurePercent: settings.maxFailurePercent,
            autoRollback: true,
          },
        },
        `retraining:${run.id}`,
      );
      await this.db.transaction((tx) => this.runs.update(tx, run.id, { canaryDeploymentId: deployment.id }));
      this.logger.log(`run ${run.id}: canary ${deployment.id} of ${run.modelName}@${candidateVersion} started`);
    } catch (err) {
      await skip(`the canary deployment could not start: ${(err as Error).message}`);
    }
  }

  /** A deployment finished: if it is a run's canary, promote the candidate or leave production where it is. */
  async onDeploymentOutcome(event: DomainEvent<'deployment.completed' | 'deployment.failed' | 'deployment.rolled_back'>): Promise<void> {
    const { deploymentId, model } = event.data;
    const run = await this.runs.findByCanary(deploymentId);
    if (!run || run.canary.state !== 'running' || !run.candidate) return;
    if (event.type === 'deployment.completed') {
      const promoted = await this.db.transaction(async (tx) => {
        const current = await this.runs.lock(tx, run.id);
        if (!current || current.canary.state !== 'running') return false;
        await this.models.setAlias(tx, run.modelName, PRODUCTION_ALIAS, model.version);
        await this.audit.record(
          {
            actor: null,
            action: 'model.alias.set',
            subject: `${run.modelName}@${PRODUCTION_ALIAS}`,
            details: { version: model.version, runId: run.id, deploymentId },
          },
          tx,
        );
        await this.runs.update(tx, run.id, { canaryState: 'promoted', canaryReason: null });
        return true;
      });
      if (!promoted) return;
      this.logger.log(`run ${run.id}: canary ${deploymentId} completed, ${run.modelName}@${PRODUCTION_ALIAS} is now version ${model.version}`);
      await this.events.emit('model.alias.changed', { modelName: run.modelName, alias: PRODUCTION_ALIAS, version: model.version });
      return;
    }
    const reason = 'reason' in event.data ? event.data.reason : event.type;
    await this.db.transaction(async (tx) => {
      const current = await this.runs.lock(tx, run.id);
      if (!current || current.canary.state !== 'running') return;
      await this.runs.update(tx, run.id, { canaryState: 'rolled_back', canaryReason: `${event.type}: ${reason}`.slice(0, 1000) });
    });
    this.logger.warn(`run ${run.id}: canary ${deploymentId} ${event.type.slice('deployment.'.length)} (${reason}); production stays`);
  }
}
