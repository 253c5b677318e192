import { Injectable } from '@nestjs/common';
import { WEBHOOK_EVENT_TYPES, type DomainEvent, type WebhookEventData, type WebhookEventType } from '@edgeloop/contracts';
import { OnDomainEvent } from '../events/domain-events';
import { WebhookPublisher } from './webhook-publisher';

/** The webhooks feature's subscription to domain events: every webhook event type becomes stored deliveries. */
@Injectable()
export class WebhookEventsListener {
  constructor(private readonly publisher: WebhookPublisher) {}

  @OnDomainEvent(...WEBHOOK_EVENT_TYPES)
  async forward(event: DomainEvent<WebhookEventType>): Promise<void> {
    await this.publisher.emit(event.type, event.data as WebhookEventData<WebhookEventType>);
  }
}
