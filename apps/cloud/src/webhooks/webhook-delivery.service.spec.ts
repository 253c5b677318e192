import { verifyWebhook, WEBHOOK_HEADERS } from '@edgeloop/contracts';
import { CloudConfig } from '../config/cloud.config';
import type { SqlDatabase } from '../database/sql-database';
import { HostResolver, type ResolvedAddress } from './host-resolver';
import { type AttemptRecord, type DeliveryContext, type DeliveryStatus, WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookDeliveryService } from './webhook-delivery.service';
import { type WebhookAnswer, type WebhookPost, WebhookSender } from './webhook-sender';
import { WebhookTargetPolicy } from './webhook-target.policy';

class MutableResolver extends HostResolver {
  constructor(readonly table: Record<string, string>) {
    super();
  }
  override async resolve(host: string): Promise<ResolvedAddress[]> {
    const address = this.table[host];
    if (!address) throw new Error(`ENOTFOUND ${host}`);
    return [{ address, family: 4 }];
  }
}

class MemoryDeliveries extends WebhookDeliveryRepository {
  readonly attempts: Array<AttemptRecord & { status: DeliveryStatus }> = [];
  constructor(readonly delivery: DeliveryContext) {
    super(undefined as unknown as SqlDatabase);
  }
  override async context(id: string): Promise<DeliveryContext | undefined> {
    return id === this.delivery.id ? this.delivery : undefined;
  }
  override async recordAttempt(_id: string, attempt: AttemptRecord, status: DeliveryStatus): Promise<void> {
    this.attempts.push({ ...attempt, status });
    if (this.delivery.status === 'pending') this.delivery.status = status;
  }
}

class ScriptedSender extends WebhookSender {
  readonly posts: WebhookPost[] = [];
  constructor(private readonly answers: Array<Partial<WebhookAnswer>>) {
    super();
  }
  override async post(post: WebhookPost): Promise<WebhookAnswer> {
    this.posts.push(post);
    return { statusCode: 200, latencyMs: 3, responseExcerpt: null, error: null, ...this.answers.shift() };
  }
}

const body = '{"id":"evt_1","type":"deployment.failed"}';

function setup(answers: Array<Partial<WebhookAnswer>>) {
  const config = CloudConfig.fromEnv({ EDGELOOP_WEBHOOK_BACKOFF_MS: '1000' });
  const resolver = new MutableResolver({ 'hooks.example.com': '93.184.216.34' });
  const deliveries = new MemoryDeliveries({
    id: 'dlv_1',
    headerId: 'dlv_1',
    status: 'pending',
    webhookId: 'wh_1',
    url: 'https://hooks.example.com/in',
    secret: 'a-secret-of-sixteen-plus',
    eventId: 'evt_1',
    eventType: 'deployment.failed',
    body,
  });
  const sender = new ScriptedSender(answers);
  const service = new WebhookDeliveryService(config, deliveries, new WebhookTargetPolicy(config, resolver), sender);
  return { resolver, deliveries, sender, service };
}

describe('WebhookDeliveryService', () => {
  it('signs the stored body and connects to the address it checked', async () => {
    const { sender, deliveries, service } = setup([{ statusCode: 202 }]);
    expect(await service.attempt('dlv_1', { number: 1, last: false })).toEqual({ kind: 'delivered' });
    const [post] = sender.posts;
    expect(post!.pinned).toEqual({ address: '93.184.216.34', family: 4 });
    expect(post!.body).toBe(body);
    expect(post!.headers[WEBHOOK_HEADERS.event]).toBe('deployment.failed');
    expect(post!.headers[WEBHOOK_HEADERS.delivery]).toBe('dlv_1');
    const check = verifyWebhook({
      secret: 'a-secret-of-sixteen-plus',
      timestamp: post!.headers[WEBHOOK_HEADERS.timestamp],
      signature: post!.headers[WEBHOOK_HEADERS.signature],
      body,
    });
    expect(check).toEqual({ ok: true });
    expect(deliveries.attempts).toEqual([expect.objectContaining({ attempt: 1, statusCode: 202, status: 'succeeded', nextRetryAt: null })]);
  });

  it('checks DNS again before each attempt: a host rebound to a private address is not called', async () => {
    const { resolver, sender, deliveries, service } = setup([{ statusCode: 500 }]);
    expect(await service.attempt('dlv_1', { number: 1, last: false }, () => 0)).toMatchObject({ kind: 'retry', delayMs: 500 });
    resolver.table['hooks.example.com'] = '169.254.169.254';
    const outcome = await service.attempt('dlv_1', { number: 2, last: false }, () => 0);
    expect(outcome).toMatchObject({ kind: 'retry', delayMs: 1000 });
    expect(sender.posts).toHaveLength(1);
    expect(deliveries.attempts[1]).toMatchObject({ attempt: 2, statusCode: null, status: 'pending' });
    expect(deliveries.attempts[1]!.error).toMatch(/refused before sending: .*169\.254\.169\.254 \(link-local\)/);
  });

  it('logs when the next attempt is due, and fails the delivery on the last attempt', async () => {
    const { deliveries, service } = setup([{ statusCode: 500 }, { statusCode: null, error: 'no answer within 10000 ms' }]);
    const before = Date.now();
    const first = await service.attempt('dlv_1', { number: 1, last: false }, () => 0.5);
    expect(first).toEqual({ kind: 'retry', delayMs: 750, reason: 'HTTP 500' });
    const due = deliveries.attempts[0]!.nextRetryAt!.getTime();
    expect(due - before).toBeGreaterThanOrEqual(750);
    expect(due - Date.now()).toBeLessThanOrEqual(750);
    expect(await service.attempt('dlv_1', { number: 2, last: true })).toEqual({ kind: 'failed', reason: 'no answer within 10000 ms' });
    expect(deliveries.attempts.map((a) => [a.status, a.nextRetryAt])).toEqual([
      ['pending', expect.any(Date)],
      ['failed', null],
    ]);
  });

  it('treats a redirect as a failed attempt', async () => {
    const { sender, service } = setup([{ statusCode: 302 }]);
    expect(await service.attempt('dlv_1', { number: 1, last: false })).toMatchObject({ kind: 'retry', reason: 'HTTP 302' });
    expect(sender.posts).toHaveLength(1);
  });

  it('skips a delivery that is gone or already finished', async () => {
    const { sender, deliveries, service } = setup([]);
    expect(await service.attempt('dlv_gone', { number: 1, last: false })).toMatchObject({ kind: 'skipped' });
    deliveries.delivery.status = 'succeeded';
    expect(await service.attempt('dlv_1', { number: 1, last: false })).toMatchObject({ kind: 'skipped' });
    expect(sender.posts).toHaveLength(0);
  });
});
