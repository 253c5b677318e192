import { DynamicModule, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { runsProcessors, type CloudRole } from '../modules/roles';
import { HostResolver } from './host-resolver';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookDeliveryService } from './webhook-delivery.service';
import { WebhookEventsListener } from './webhook-events.listener';
import { WebhookPublisher } from './webhook-publisher';
import { WebhookSender } from './webhook-sender';
import { WebhookTargetPolicy } from './webhook-target.policy';
import { WebhooksController } from './webhook.controller';
import { WebhookQueue } from './webhook.queue';
import { WebhookRepository } from './webhook.repository';
import { WebhookService } from './webhook.service';

/**
 * The webhooks feature: the subscriptions and deliveries API, `WebhookEventsListener` (every webhook event
 * type on the domain-events bus becomes stored deliveries through `WebhookPublisher`), the `webhooks` queue,
 * and on worker replicas its delivery processor with the sweep of pending deliveries. Runs on the core
 * module's SQL, health and audit; needs Redis.
 */
@Module({})
export class WebhooksModule {
  static register(role: CloudRole): DynamicModule {
    return {
      module: WebhooksModule,
      imports: [BullModule.registerQueue({ name: QUEUES.webhooks })],
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
        ...(runsProcessors(role) ? [WebhookDeliveryProcessor] : []),
      ],
      exports: [WebhookPublisher],
    };
  }
}
