import { Injectable } from '@nestjs/common';
import type { HardExampleVerdict, ModelReference } from '@edgeloop/contracts';
import { clusterUnknowns, dot } from '@edgeloop/training';
import { DomainError } from '../errors/domain.errors';
import { DomainEvents } from '../events/domain-events';
import { AuditRepository } from '../repositories/audit.repository';
import { FaceModelFiles } from './face-model-files';
import { HardExampleTrainingRepository } from './hard-example-training.repository';
import { IdentityNotFoundError } from './identity.service';
import { IdentityRepository } from './identity.repository';
import { TrainingDataService } from './training-data.service';

export interface SuggestedCluster {
  ids: string[];
  cohesion: number;
  representativeId: string;
  representativeHasCrop: boolean;
}

export interface ClusterOptions {
  threshold?: number;
  minSize?: number;
  /** Most recent unknown examples considered. */
  limit?: number;
}

/** Similarity at which two unknown faces are suggested as one person; chosen above the base model's different-people maximum (≈ 0.32). */
export const NEW_PERSON_THRESHOLD = 0.5;
export const NEW_PERSON_MIN_SIZE = 3;
/** Crops one clusters request embeds at most (a few seconds in the face worker); the rest wait for the next request. */
export const MAX_CLUSTER_REEMBED = 128;

/** Labelling hard examples in bulk, and clusters of unknowns suggested as new people. */
@Injectable()
export class HardExampleLabelsService {
  constructor(
    private readonly examples: HardExampleTrainingRepository,
    private readonly identities: IdentityRepository,
    private readonly trainingData: TrainingDataService,
    private readonly files: FaceModelFiles,
    private readonly audit: AuditRepository,
    private readonly events: DomainEvents,
  ) {}

  /** All or nothing: an unknown identity or a missing example refuses the whole request. */
  async label(ids: string[], verdict: HardExampleVerdict, actor: string | null): Promise<number> {
    const labelled = await this.identities.db.transaction(async (tx) => {
      if (verdict.verdict === 'identity' && !(await this.identities.getByName(verdict.identity, tx))) {
        throw new IdentityNotFoundError(verdict.identity);
      }
      const missing = await this.examples.missing(ids, tx);
      if (missing.length > 0) {
        const named = missing
          .slice(0, 5)
          .map((id) => `"${id}"`)
          .join(', ');
        throw new DomainError(
          404,
          'hard_example_not_found',
          `hard example${missing.length > 1 ? 's' : ''} ${named}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} not found; nothing was labelled`,
          missing.map((id) => ({ id })),
        );
      }
      const count = await this.examples.label(tx, ids, verdict, actor);
      await this.audit.record(
        { actor, action: 'hard-example.label', subject: ids.length === 1 ? ids[0] : `${ids.length} hard examples`, details: { ids, ...verdict } },
        tx,
      );
      return count;
    });
    await this.events.emit('hard-example.labelled', { ids, label: verdict.verdict === 'identity' ? verdict.identity : verdict.verdict });
    return labelled;
  }

  /**
   * Unknown, unlabelled hard examples of the model, embedded with its embedder (the device's embedding when
   * it used the same one, else re-embedded from the crop), clustered by cosine similarity (agglomerative,
   * average linkage). Each cluster names the member nearest its centre as the crop to show.
   */
  async clusters(ref: ModelReference | undefined, options: ClusterOptions = {}) {
    const models = await this.files.resolve(ref);
    const lazy = await this.trainingData.embedderModels(models.version);
    const samples = await this.examples.unlabelledUnknowns(models.version.name, options.limit ?? 2000);
    const counts = { reembedded: 0, skippedPrivate: 0, unreadable: 0 };
    const vectors = await this.trainingData.sampleEmbeddings(samples, lazy, counts, { maxReembed: MAX_CLUSTER_REEMBED });
    const items = samples.filter((s) => vectors.has(s.id)).map((s) => ({ id: s.id, embedding: vectors.get(s.id)! }));
    const crops = new Map(samples.map((s) => [s.id, s.cropKey !== null]));
    const clusters = clusterUnknowns(items, { threshold: options.threshold ?? NEW_PERSON_THRESHOLD, minSize: options.minSize ?? NEW_PERSON_MIN_SIZE });
    const suggested: SuggestedCluster[] = clusters.map((cluster) => {
      let best = cluster.ids[0];
      let bestScore = -Infinity;
      for (const id of cluster.ids) {
        // prefer a member with a crop to show, then the one nearest the centre
        const score = dot(vectors.get(id)!, cluster.centroid) + (crops.get(id) ? 2 : 0);
        if (score > bestScore) {
          bestScore = score;
          best = id;
        }
      }
      return { ids: cluster.ids, cohesion: cluster.cohesion, representativeId: best, representativeHasCrop: crops.get(best) ?? false };
    });
    return { models, considered: items.length, clusters: suggested };
  }
}
