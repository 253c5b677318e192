import { Injectable, Logger } from '@nestjs/common';
import type { DomainEvent } from '@edgeloop/contracts';
import { OnDomainEvent } from '../events/domain-events';
import { FaceModelFiles } from './face-model-files';
import { TrainingDataService } from './training-data.service';

/**
 * Identities survive an embedder change: when a new version registers, every enrolment photo and every
 * labelled hard-example crop is embedded with its embedder where that embedding is missing. A version whose
 * embedder is its parent's (a retrained head, a new threshold) returns at once, without reading the gallery:
 * the parent's registration embedded it already, and a training run embeds anything added since. Runs after
 * the upload has answered, one version at a time.
 */
@Injectable()
export class EmbedderChangeListener {
  private readonly logger = new Logger(EmbedderChangeListener.name);
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly trainingData: TrainingDataService,
    private readonly files: FaceModelFiles,
  ) {}

  /** Resolves when every re-embedding started so far has finished. */
  idle(): Promise<void> {
    return this.queue;
  }

  @OnDomainEvent('model.version.created')
  onVersionCreated(event: DomainEvent<'model.version.created'>): void {
    const { model, parent, files } = event.data;
    const embedder = files.find((f) => f.role === 'embedder')?.sha256;
    if (!embedder || !files.some((f) => f.role === 'detector') || !files.some((f) => f.role === 'landmarks')) return;
    this.queue = this.queue.then(async () => {
      try {
        if (parent !== null && (await this.files.embedderOf({ name: model.name, version: parent })) === embedder) return;
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
