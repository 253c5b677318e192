import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { RETRAINING_STEPS } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { SqlDatabase } from '../database/sql-database';
import { HealthService } from '../services/health.service';
import { HeadDeltaService } from './head-delta.service';
import { RetrainingCanary } from './retraining-canary.service';
import { RetrainingFlow } from './retraining-flow';
import { RetrainingRunRepository, type RetrainingRunRecord } from './retraining-run.repository';
import { RetrainingSteps } from './retraining-steps.service';

/** How often active runs are checked against their jobs (a failure event that was never handled, a lost flow). */
export const RETRAINING_SWEEP_MS = 60_000;

/** How often stored head deltas whose heads are no longer in use are removed (every tenth sweep). */
export const HEAD_DELTA_PRUNE_EVERY_SWEEPS = 10;

/** A run younger than this without jobs is left alone: its flow may still be on its way to Redis. */
const FLOW_ADD_GRACE_MS = 30_000;

/**
 * Keeps every queued or running run moving after a restart: a run whose flow is in Redis carries on there
 * (BullMQ retries a step cut short by the shutdown, or one whose worker died once its lock expires); a run
 * whose flow Redis lost is added again as the next generation (finished steps complete at once from their
 * recorded outputs); a run whose step job failed for good ends `failed` with BullMQ's reason. Never a run
 * left `running` with nothing to run it. Every tenth sweep also removes stored head deltas whose heads are no
 * longer in use (`HeadDeltaService.prune`).
 */
@Injectable()
export class RetrainingBoot implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RetrainingBoot.name);
  private sweep: NodeJS.Timeout | undefined;
  private sweeps = 0;

  constructor(
    private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly runs: RetrainingRunRepository,
    private readonly flow: RetrainingFlow,
    private readonly steps: RetrainingSteps,
    private readonly canary: RetrainingCanary,
    private readonly health: HealthService,
    private readonly deltas: HeadDeltaService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.health.register('retraining', () => this.flow.ping());
    if (!this.config.workers) return;
    await this.reconcile();
    this.sweep = setInterval(() => {
      this.reconcile().catch((err: Error) => this.logger.warn(`sweep of retraining runs: ${err.message}`));
      if (++this.sweeps % HEAD_DELTA_PRUNE_EVERY_SWEEPS === 0)
        this.deltas.prune().catch((err: Error) => this.logger.warn(`pruning head deltas: ${err.message}`));
    }, RETRAINING_SWEEP_MS);
    this.sweep.unref();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.sweep);
  }

  async reconcile(): Promise<void> {
    await this.canary.startPending().catch((err: Error) => this.logger.warn(`pending canaries: ${err.message}`));
    for (const run of await this.runs.listActive()) {
      try {
        await this.reconcileRun(run);
      } catch (err) {
        this.logger.warn(`run ${run.id}: could not check its jobs: ${(err as Error).message}`);
      }
    }
  }

  private async reconcileRun(run: RetrainingRunRecord): Promise<void> {
    const states = await this.flow.states(run);
    const failed = RETRAINING_STEPS.find((step) => states[step] === 'failed');
    if (failed) {
      const reason = (await this.flow.failedReason(run, failed)) ?? 'the step job failed';
      await this.steps.fail(run.id, failed, reason);
      return;
    }
    const pending = RETRAINING_STEPS.filter((step) => run.steps[step].status !== 'done');
    // a run this young may be between its insert and its flow's add on another replica
    const settled = Date.now() - Date.parse(run.createdAt) > FLOW_ADD_GRACE_MS;
    if (settled && pending.length > 0 && pending.every((step) => states[step] === 'missing' || states[step] === 'completed')) {
      const generation = run.flowGeneration + 1;
      await this.db.transaction((tx) => this.runs.update(tx, run.id, { flowGeneration: generation }));
      await this.flow.add({ ...run, flowGeneration: generation }, generation);
      this.logger.warn(`run ${run.id}: its flow was not in the queue; added again (generation ${generation}), resuming at ${pending[0]}`);
    }
  }
}
