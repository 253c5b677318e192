import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { AuthGuard } from '../auth/auth.guard';
import { CloudConfig } from '../config/cloud.config';
import { PrometheusController } from '../controllers/prometheus.controller';
import { DashboardModule } from '../dashboard/dashboard.module';
import { ErrorFilter } from '../errors/error.filter';
import { EventsModule } from '../events/events.module';
import { IdentitiesFeature } from '../identities/identities.module';
import { CoreModule } from '../modules/core.module';
import { DevicesModule } from '../modules/devices.module';
import { IngestModule } from '../modules/ingest.module';
import { RegistryModule } from '../modules/registry.module';
import { cloudRole, type CloudRole } from '../modules/roles';
import { bullRootModule } from '../queues/bull';
import { QuotasMaintenanceModule } from '../quotas/quotas.module';
import { RetrainingFeature } from '../retraining/retraining.module';
import { PrometheusService } from '../services/prometheus.service';
import { WebhooksModule } from '../webhooks/webhooks.module';

/**
 * The feature modules this configuration can run, each told the process's role (an API replica runs no
 * queue processors): the registry always (SQL and S3 only); with Redis, the one BullMQ setup and webhooks;
 * with Redis and a broker, devices and rollouts, ingest and drift, and the quotas' retention maintenance.
 */
function featureModules(config: CloudConfig, role: CloudRole): DynamicModule[] {
  const redis = config.redisUrl !== undefined;
  const devices = config.rolloutsEnabled;
  return [
    ...(redis ? [bullRootModule(), WebhooksModule.register(role)] : []),
    ...(devices ? [DevicesModule.register(role), IngestModule.register(role), QuotasMaintenanceModule.register(role)] : []),
  ];
}

/**
 * The cloud, composed from its configuration (`AppModule.forRoot`): the global core module (config, SQL,
 * S3, signing, health, audit, tokens) and the domain-events bus, the feature modules for this role, the
 * dashboard (its SessionService is the auth guard's), and in this module's own scope the cross-cutting parts —
 * the error filter, the auth guard, Prometheus — and the features still registered as provider lists
 * (identities, retraining), which see the exports of the feature modules imported here.
 */
@Module({})
export class AppModule {
  static forRoot(config: CloudConfig): DynamicModule {
    const role = cloudRole(config);
    const retraining = config.webhooksEnabled;
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config),
        EventsModule.forRoot(config),
        RegistryModule,
        ...featureModules(config, role),
        DashboardModule.register(config),
        ...(retraining ? RetrainingFeature.imports(config) : []),
      ],
      controllers: [PrometheusController, ...IdentitiesFeature.controllers, ...(retraining ? RetrainingFeature.controllers : [])],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_GUARD, useClass: AuthGuard },
        PrometheusService,
        ...IdentitiesFeature.providers,
        ...(retraining ? RetrainingFeature.providers(config) : []),
      ],
    };
  }
}
