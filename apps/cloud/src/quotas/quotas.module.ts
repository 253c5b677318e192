import type { Provider, Type } from '@nestjs/common';
import { MaintenanceQueue } from './maintenance.queue';
import { QuarantineService } from './quarantine.service';
import { QuotaBucketsRepository } from './quota-buckets.repository';
import { QuotaRepository } from './quota.repository';
import { QuotaService } from './quota.service';
import { QuotasController } from './quotas.controller';
import { RetentionRepository } from './retention.repository';
import { RetentionService } from './retention.service';

/**
 * Per-device quotas, quarantine, dead-letter reads and retention (docs/quotas.md). Registered in AppModule's
 * scope with the device part (Redis and a broker), like EnrolmentFeature: the device channel asks its
 * QuotaService before decoding, and quarantine cuts broker access through the app's MqttEndpoint.
 */
export const QuotasFeature: { controllers: Type[]; providers: Provider[] } = {
  controllers: [QuotasController],
  providers: [QuotaBucketsRepository, QuotaRepository, QuotaService, QuarantineService, RetentionRepository, RetentionService, MaintenanceQueue],
};
