import type { Provider, Type } from '@nestjs/common';
import { CropStore } from './crop-store';
import { EmbedderChangeListener } from './embedder-change.listener';
import { EmbeddingRepository } from './embedding.repository';
import { FaceAnalysisPool } from './face-analysis.pool';
import { FaceModelFiles } from './face-model-files';
import { HardExampleLabelsController } from './hard-example-labels.controller';
import { HardExampleLabelsService } from './hard-example-labels.service';
import { HardExampleTrainingRepository } from './hard-example-training.repository';
import { IdentitiesController } from './identities.controller';
import { IdentityRepository } from './identity.repository';
import { IdentityService } from './identity.service';
import { TrainingDataService } from './training-data.service';

/**
 * The identities feature: the gallery API (identities, enrolment photos through the face worker), bulk
 * hard-example labels and new-person clusters, `TrainingDataService` for retraining, and re-embedding on
 * an embedder change. Registered in AppModule's own scope, like WebhooksFeature, because it runs on the
 * app's SqlDatabase, BlobRepository, ModelRepository and AuditRepository, which AppModule provides but does
 * not export; any provider of the app (the retraining flow) can inject `TrainingDataService` directly.
 * Needs only SQL and S3.
 */
export const IdentitiesFeature: { controllers: Type[]; providers: Provider[] } = {
  controllers: [IdentitiesController, HardExampleLabelsController],
  providers: [
    IdentityRepository,
    EmbeddingRepository,
    HardExampleTrainingRepository,
    CropStore,
    FaceModelFiles,
    FaceAnalysisPool,
    IdentityService,
    TrainingDataService,
    HardExampleLabelsService,
    EmbedderChangeListener,
  ],
};
