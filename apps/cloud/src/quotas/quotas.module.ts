import { Module, type DynamicModule, type Provider, type Type } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { runsProcessors, type CloudRole } from '../modules/roles';
import { MaintenanceProcessor } from './maintenance.processor';
import { MaintenanceQueue } from './maintenance.queue';
import { QuarantineService } from './quarantine.service';
import { QuotaBucketsRepository } from './quota-buckets.repository';
import { QuotaRepository } from './quota.repository';
import { QuotaService } from './quota.service';
import { QuotasController } from './quotas.controller';
import { RetentionRepository } from './retention.repository';
import { RetentionService } from './retention.service';

/**
 * Per-device quotas, quarantine and dead-letter reads (docs/quotas.md). Registered inside DevicesModule,
 * like EnrolmentFeature: the device channel asks its QuotaService before decoding, and quarantine cuts broker
 * access through the module's MqttEndpoint.
 */
export const QuotasFeature: { controllers: Type[]; providers: Provider[] } = {
  controllers: [QuotasController],
  providers: [QuotaBucketsRepository, QuotaRepository, QuotaService, QuarantineService],
};

/**
 * Retention of what devices send (dead letters, unlabelled hard examples with their crops, raw payloads):
 * the `maintenance` queue with its job scheduler on every replica, and on worker replicas its processor.
 * Runs on the core module's SQL and S3; composed with the devices module (Redis and a broker).
 */
@Module({})
export class QuotasMaintenanceModule {
  static register(role: CloudRole): DynamicModule {
    return {
      module: QuotasMaintenanceModule,
      imports: [BullModule.registerQueue({ name: QUEUES.maintenance })],
      providers: [RetentionRepository, RetentionService, MaintenanceQueue, ...(runsProcessors(role) ? [MaintenanceProcessor] : [])],
      exports: [RetentionService],
    };
  }
}
