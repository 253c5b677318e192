import { DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { DriftController } from '../controllers/drift.controller';
import { HardExamplesController } from '../controllers/hard-examples.controller';
import { MetricsController } from '../controllers/metrics.controller';
import { DriftProcessor } from '../queues/drift.processor';
import { DriftQueue } from '../queues/drift.queue';
import { PredictionsProcessor } from '../queues/predictions.processor';
import { PredictionsQueue } from '../queues/predictions.queue';
import { DriftRepository } from '../repositories/drift.repository';
import { HardExampleRepository } from '../repositories/hard-example.repository';
import { PredictionRepository } from '../repositories/prediction.repository';
import { DriftService } from '../services/drift.service';
import { HardExampleService } from '../services/hard-example.service';
import { IngestService } from '../services/ingest.service';
import { MetricsService } from '../services/metrics.service';
import { IngestMessagesController } from './ingest-messages.controller';
import { RegistryModule } from './registry.module';
import { runsProcessors, type CloudRole } from './roles';

/**
 * Ingest and drift: MQTT handlers for prediction batches and hard examples (each a `predictions` job before
 * its PUBACK), the ingest processor (dedupe, per-bucket aggregates, hard examples with their crops), the
 * `drift` schedule and processor, and the prediction-metrics, drift-events and hard-example routes.
 * Processors run on worker replicas only. Needs Redis and a broker.
 */
@Module({})
export class IngestModule {
  static register(role: CloudRole): DynamicModule {
    return {
      module: IngestModule,
      imports: [RegistryModule, BullModule.registerQueue({ name: QUEUES.predictions }, { name: QUEUES.drift })],
      controllers: [IngestMessagesController, MetricsController, DriftController, HardExamplesController],
      providers: [
        PredictionsQueue,
        PredictionRepository,
        HardExampleRepository,
        HardExampleService,
        IngestService,
        MetricsService,
        DriftRepository,
        DriftService,
        DriftQueue,
        ...(runsProcessors(role) ? [PredictionsProcessor, DriftProcessor] : []),
      ],
      exports: [PredictionsQueue, PredictionRepository, HardExampleRepository, DriftService],
    };
  }
}
