import { Injectable, Logger } from '@nestjs/common';
import { webhookRequestHeaders } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import { webhookBackoffMs } from './webhook-backoff';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { type WebhookAnswer, WebhookSender } from './webhook-sender';
import { WebhookTargetPolicy } from './webhook-target.policy';
import type { AttemptOutcome } from './webhook.queue';

/**
 * One attempt of a delivery: check the URL again (DNS may have changed since the subscription),
 * sign the stored body with a fresh timestamp, POST it to the checked address, log the attempt, and
 * say whether to retry. A 2xx answer delivers; anything else (another status, no answer, a refused
 * address) is a failed attempt.
 */
@Injectable()
export class WebhookDeliveryService {
  private readonly logger = new Logger(WebhookDeliveryService.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly deliveries: WebhookDeliveryRepository,
    private readonly policy: WebhookTargetPolicy,
    private readonly sender: WebhookSender,
  ) {}

  async attempt(deliveryId: string, attempt: { number: number; last: boolean }, random: () => number = Math.random): Promise<AttemptOutcome> {
    const delivery = await this.deliveries.context(deliveryId);
    if (!delivery) return { kind: 'skipped', reason: 'the delivery or its webhook no longer exists' };
    if (delivery.status !== 'pending') return { kind: 'skipped', reason: `the delivery is already ${delivery.status}` };
    const at = new Date();
    const answer = await this.send(delivery.url, delivery.secret, delivery.eventType, delivery.headerId, delivery.body);
    const delivered = answer.statusCode !== null && answer.statusCode >= 200 && answer.statusCode < 300;
    const reason = answer.error ?? `HTTP ${answer.statusCode}`;
    const logged = { attempt: attempt.number, at, ...answer };
    if (delivered) {
      await this.deliveries.recordAttempt(deliveryId, { ...logged, nextRetryAt: null }, 'succeeded');
      return { kind: 'delivered' };
    }
    if (attempt.last) {
      await this.deliveries.recordAttempt(deliveryId, { ...logged, nextRetryAt: null }, 'failed');
      return { kind: 'failed', reason };
    }
    const delayMs = webhookBackoffMs(attempt.number, this.config.webhooks.backoffMs, random);
    await this.deliveries.recordAttempt(deliveryId, { ...logged, nextRetryAt: new Date(Date.now() + delayMs) }, 'pending');
    return { kind: 'retry', delayMs, reason };
  }

  /** The queue ran out of attempts without this service logging a final one (a job that stalled too often). */
  async exhausted(deliveryId: string, reason: string): Promise<void> {
    if (await this.deliveries.failIfPending(deliveryId)) this.logger.warn(`delivery ${deliveryId} marked failed: ${reason}`);
  }

  private async send(url: string, secret: string, event: string, deliveryId: string, body: string): Promise<WebhookAnswer> {
    let target;
    try {
      target = await this.policy.check(url);
    } catch (err) {
      return { statusCode: null, latencyMs: 0, responseExcerpt: null, error: `refused before sending: ${(err as Error).message}`.slice(0, 1000) };
    }
    const headers = webhookRequestHeaders({ secret, event, deliveryId, body });
    return this.sender.post({ url: target.url, pinned: target.pinned, headers: { ...headers }, body, timeoutMs: this.config.webhooks.timeoutMs });
  }
}
