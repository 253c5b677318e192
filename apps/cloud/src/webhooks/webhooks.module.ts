import type { Provider, Type } from '@nestjs/common';
import { HostResolver } from './host-resolver';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookDeliveryService } from './webhook-delivery.service';
import { WebhookPublisher } from './webhook-publisher';
import { WebhookEventsListener } from './webhook-events.listener';
import { WebhookSender } from './webhook-sender';
import { WebhookTargetPolicy } from './webhook-target.policy';
import { WebhooksController } from './webhook.controller';
import { WebhookRepository } from './webhook.repository';
import { WebhookQueue } from './webhook.queue';
import { WebhookService } from './webhook.service';

/**
 * The webhooks feature: subscriptions API, `WebhookPublisher`, the `webhooks` queue and its worker.
 * Registered in AppModule's own scope (not as an imported Nest module) because it runs on the app's
 * SqlDatabase, HealthService and AuditRepository, which AppModule provides but does not export; for
 * the same reason the app's services can inject `WebhookPublisher` directly. Needs Redis
 * (`config.webhooksEnabled`).
 */
export const WebhooksFeature: { controllers: Type[]; providers: Provider[] } = {
  controllers: [WebhooksController],
  providers: [
    HostResolver,
    WebhookSender,
    WebhookTargetPolicy,
    WebhookRepository,
    WebhookDeliveryRepository,
    WebhookQueue,
    WebhookDeliveryService,
    WebhookPublisher,
    WebhookEventsListener,
    WebhookService,
  ],
};
