import type { DynamicModule, Provider, Type } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { CandidateRegistrar } from './candidate-registrar';
import { HeadDeltaController } from './head-delta.controller';
import { HeadDeltaService } from './head-delta.service';
import { HeadReferenceRepository } from './head-reference.repository';
import { RetrainingArtifacts } from './retraining-artifacts';
import { RetrainingCanary } from './retraining-canary.service';
import { RETRAINING_FLOW_PRODUCER, RetrainingFlow } from './retraining-flow';
import { RetrainingRunRepository } from './retraining-run.repository';
import { RetrainingSteps } from './retraining-steps.service';
import { RetrainingBoot } from './retraining.boot';
import { RetrainingController } from './retraining.controller';
import { RetrainingListener } from './retraining.listener';
import { RetrainingProcessor } from './retraining.processor';
import { RetrainingService } from './retraining.service';
import { TrainingCompute } from './training-compute';

/**
 * The retraining feature: routes, the `retraining` queue and FlowProducer (@nestjs/bullmq), the step
 * processor (worker replicas only), triggers and the canary promotion. Registered in AppModule's own scope,
 * like WebhooksFeature, because its steps run on the app's SqlDatabase, BlobRepository, ModelRepository,
 * ManifestSigner, DeviceRepository and RolloutService, which AppModule provides but does not export; the
 * BullMQ connection modules it needs come in through `imports`. Needs Redis (`config.webhooksEnabled`).
 */
export const RetrainingFeature = {
  imports(config: CloudConfig): DynamicModule[] {
    // the connection and prefix come from the cloud's one BullModule.forRootAsync (queues/bull.ts)
    return [BullModule.registerQueue({ name: QUEUES.retraining }), BullModule.registerFlowProducer({ name: RETRAINING_FLOW_PRODUCER })];
  },
  controllers: [RetrainingController, HeadDeltaController] as Type[],
  providers(config: CloudConfig): Provider[] {
    return [
      RetrainingRunRepository,
      RetrainingArtifacts,
      TrainingCompute,
      HeadReferenceRepository,
      HeadDeltaService,
      CandidateRegistrar,
      RetrainingCanary,
      RetrainingFlow,
      RetrainingSteps,
      RetrainingService,
      RetrainingListener,
      RetrainingBoot,
      ...(config.workers ? [RetrainingProcessor] : []),
    ];
  },
};
