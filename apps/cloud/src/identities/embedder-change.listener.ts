import { Injectable, Logger } from '@nestjs/common';
import type { DomainEvent } from '@edgeloop/contracts';
import { OnDomainEvent } from '../events/domain-events';
import { TrainingDataService } from './training-data.service';

/**
 * Identities survive an embedder change: when a new version registers, every enrolment photo and every
 * labelled hard-example crop is embedded with its embedder where that embedding is missing (nothing to do
 * when the embedder is one already seen). Runs after the upload has answered, one version at a time.
 */
@Injectable()
export class EmbedderChangeListener {
  private readonly logger = new Logger(EmbedderChangeListener.name);
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly trainingData: TrainingDataService) {}

  /** Resolves when every re-embedding started so far has finished. */
  idle(): Promise<void> {
    return this.queue;
  }

  @OnDomainEvent('model.version.created')
  onVersionCreated(event: DomainEvent<'model.version.created'>): void {
    const { model, files } = event.data;
    if (!files.some((f) => f.role === 'embedder') || !files.some((f) => f.role === 'detector') || !files.some((f) => f.role === 'landmarks')) return;
    this.queue = this.queue.then(async () => {
      try {
        const counts = await this.trainingData.reembed(model);
        if (counts.reembedded > 0 || counts.unreadable > 0) {
          this.logger.log(`re-embedded ${counts.reembedded} crops for ${model.name}@${model.version} (${counts.unreadable} unreadable)`);
        }
      } catch (err) {
        this.logger.error(`re-embedding for ${model.name}@${model.version} failed: ${(err as Error).message}`);
      }
    });
  }
}
