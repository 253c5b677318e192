import { Injectable, Logger } from '@nestjs/common';
import type { DomainEvent } from '@edgeloop/contracts';
import { OnDomainEvent } from '../events/domain-events';
import { RetrainingCanary } from './retraining-canary.service';
import { RetrainingRunRepository } from './retraining-run.repository';
import { RetrainingService } from './retraining.service';

/**
 * What other features tell retraining: drift and new labels may start a run (by the model's settings),
 * and the outcome of a run's canary deployment promotes its candidate or leaves production alone.
 */
@Injectable()
export class RetrainingListener {
  private readonly logger = new Logger(RetrainingListener.name);

  constructor(
    private readonly retraining: RetrainingService,
    private readonly runs: RetrainingRunRepository,
    private readonly canary: RetrainingCanary,
  ) {}

  @OnDomainEvent('drift.detected')
  async onDrift(event: DomainEvent<'drift.detected'>): Promise<void> {
    const model = event.data.model.name;
    const outcome = await this.retraining.startAutomatic(model, 'drift');
    if (typeof outcome === 'string') this.logger.log(`drift on ${model}@${event.data.model.version}: no retraining (${outcome})`);
  }

  @OnDomainEvent('hard-example.labelled')
  async onLabelled(event: DomainEvent<'hard-example.labelled'>): Promise<void> {
    for (const model of await this.runs.modelsOfHardExamples(event.data.ids)) {
      const outcome = await this.retraining.startAutomatic(model, 'labels');
      if (typeof outcome === 'string') this.logger.debug(`labels on ${model}: no retraining (${outcome})`);
    }
  }

  @OnDomainEvent('deployment.completed', 'deployment.failed', 'deployment.rolled_back')
  async onDeployment(event: DomainEvent<'deployment.completed' | 'deployment.failed' | 'deployment.rolled_back'>): Promise<void> {
    await this.canary.onDeploymentOutcome(event);
  }
}
