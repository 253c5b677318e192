import { DynamicModule, Inject, Module, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuthGuard } from '../auth/auth.guard';
import { CloudConfig } from '../config/cloud.config';
import { BlobsController } from '../controllers/blobs.controller';
import { HealthController } from '../controllers/health.controller';
import { KeysController } from '../controllers/keys.controller';
import { ModelsController } from '../controllers/models.controller';
import { TokensController } from '../controllers/tokens.controller';
import { SqlDatabase } from '../database/sql-database';
import { ErrorFilter } from '../errors/error.filter';
import { OnnxInspector } from '../onnx/onnx-inspector';
import { AuditRepository } from '../repositories/audit.repository';
import { BlobRepository } from '../repositories/blob.repository';
import { BlobVerificationRepository } from '../repositories/blob-verification.repository';
import { ManifestSigner } from '../repositories/manifest-signer';
import { ModelRepository } from '../repositories/model.repository';
import { SettingsRepository } from '../repositories/settings.repository';
import { TokenRepository } from '../repositories/token.repository';
import { HealthService } from '../services/health.service';
import { ModelUploadService } from '../services/model-upload.service';
import { RegistryService } from '../services/registry.service';
import { TokenService } from '../services/token.service';
import { sqlDatabaseProvider } from './infrastructure';
import { RolloutsBoot } from './rollouts.boot';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { bullRootModule } from '../queues/bull';
import { CoreModule } from '../modules/core.module';
import { DeviceMessagesController } from '../modules/device-messages.controller';
import { IngestMessagesController } from '../modules/ingest-messages.controller';
import { DriftProcessor } from '../queues/drift.processor';
import { PredictionsProcessor } from '../queues/predictions.processor';
import { RolloutsProcessor } from '../queues/rollouts.processor';
import { WebhookDeliveryProcessor } from '../webhooks/webhook-delivery.processor';
import { PrometheusController } from '../controllers/prometheus.controller';
import { PrometheusService } from '../services/prometheus.service';
import { DriftController } from '../controllers/drift.controller';
import { HardExamplesController } from '../controllers/hard-examples.controller';
import { MetricsController } from '../controllers/metrics.controller';
import { DriftQueue } from '../queues/drift.queue';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DriftRepository } from '../repositories/drift.repository';
import { HardExampleRepository } from '../repositories/hard-example.repository';
import { PredictionRepository } from '../repositories/prediction.repository';
import { DriftService } from '../services/drift.service';
import { HardExampleService } from '../services/hard-example.service';
import { IngestService } from '../services/ingest.service';
import { MetricsService } from '../services/metrics.service';
import { DevicesController } from '../controllers/devices.controller';
import { DeploymentsController } from '../controllers/deployments.controller';
import { DeviceChannel } from '../mqtt/device-channel';
import { MqttEndpoint } from '../mqtt/mqtt-endpoint';
import { RolloutQueue } from '../queues/rollout.queue';
import { DeadLetterRepository } from '../repositories/dead-letter.repository';
import { DeploymentRepository } from '../repositories/deployment.repository';
import { DeviceRepository } from '../repositories/device.repository';
import { DeviceService } from '../services/device.service';
import { RolloutService } from '../services/rollout.service';
import { WebhooksFeature } from '../webhooks/webhooks.module';
import { EventsModule } from '../events/events.module';
import { RetrainingFeature } from '../retraining/retraining.module';
import { dashboardFeature } from '../dashboard/dashboard.feature';
import { IdentitiesFeature } from '../identities/identities.module';
import { EnrolmentFeature } from '../enrolment/enrolment.module';
import { QuotasFeature } from '../quotas/quotas.module';

@Module({})
export class AppModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    @Inject(CloudConfig) private readonly config: CloudConfig,
    private readonly db: SqlDatabase,
    private readonly blobs: BlobRepository,
    private readonly health: HealthService,
  ) {}

  static forRoot(config: CloudConfig): DynamicModule {
    const dashboard = dashboardFeature(config);
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config),
        EventsModule.forRoot(config),
        ...dashboard.imports,
        ...(config.redisUrl ? [bullRootModule()] : []),
        ...(config.webhooksEnabled ? [BullModule.registerQueue({ name: QUEUES.webhooks }), ...RetrainingFeature.imports(config)] : []),
        ...(config.rolloutsEnabled ? [BullModule.registerQueue({ name: QUEUES.predictions }, { name: QUEUES.drift }, { name: QUEUES.rollouts })] : []),
      ],
      controllers: [
        HealthController,
        KeysController,
        ModelsController,
        BlobsController,
        TokensController,
        PrometheusController,
        ...(config.rolloutsEnabled
          ? [
              DeviceMessagesController,
              IngestMessagesController,
              DevicesController,
              DeploymentsController,
              MetricsController,
              DriftController,
              HardExamplesController,
            ]
          : []),
        ...(config.webhooksEnabled ? WebhooksFeature.controllers : []),
        ...(config.webhooksEnabled ? RetrainingFeature.controllers : []),
        ...dashboard.controllers,
        ...IdentitiesFeature.controllers,
        ...(config.rolloutsEnabled ? EnrolmentFeature.controllers : []),
        ...(config.rolloutsEnabled ? QuotasFeature.controllers : []),
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_GUARD, useClass: AuthGuard },
        sqlDatabaseProvider,
        HealthService,
        AuditRepository,
        BlobRepository,
        BlobVerificationRepository,
        ManifestSigner,
        ModelRepository,
        SettingsRepository,
        TokenRepository,
        OnnxInspector,
        ModelUploadService,
        RegistryService,
        TokenService,
        DeviceRepository,
        PrometheusService,
        ...(config.rolloutsEnabled
          ? [
              MqttEndpoint,
              DeviceChannel,
              DeadLetterRepository,
              DeploymentRepository,
              RolloutQueue,
              DeviceService,
              RolloutService,
              PredictionsQueue,
              PredictionRepository,
              HardExampleRepository,
              HardExampleService,
              IngestService,
              MetricsService,
              DriftRepository,
              DriftService,
              DriftQueue,
              RolloutsBoot,
              ...(config.workers ? [PredictionsProcessor, DriftProcessor, RolloutsProcessor] : []),
            ]
          : []),
        ...(config.webhooksEnabled ? WebhooksFeature.providers : []),
        ...(config.webhooksEnabled && config.workers ? [WebhookDeliveryProcessor] : []),
        ...(config.webhooksEnabled ? RetrainingFeature.providers(config) : []),
        ...dashboard.providers,
        ...IdentitiesFeature.providers,
        ...(config.rolloutsEnabled ? EnrolmentFeature.providers : []),
        ...(config.rolloutsEnabled ? QuotasFeature.providers : []),
      ],
    };
  }

  async onModuleInit(): Promise<void> {
    await this.blobs.ensureBucket(this.config.s3?.region ?? 'us-east-1');
    this.health.register('sql', async () => void (await this.db.query('select 1')));
    this.health.register('s3', () => this.blobs.ping());
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
