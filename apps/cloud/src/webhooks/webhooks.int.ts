import { freePort, isListening, startRedis, type RedisServer } from '@edgeloop/harness';
import { apiPaths, verifyWebhook, WEBHOOK_HEADERS, WebhookEventSchema, webhookRequestHeaders, type WebhookEventData } from '@edgeloop/contracts';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { WebhookReceiver } from './testing/webhook-receiver';
import { WebhookDeliveryRepository } from './webhook-delivery.repository';
import { WebhookPublisher } from './webhook-publisher';

const header = (name: string) => name.toLowerCase();
const jsonBody = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 50));
    last = await probe();
  }
  return last;
}

const modelVersionCreated = (version: number): WebhookEventData<'model.version.created'> => ({
  model: { name: 'face-id', version },
  parent: version > 1 ? version - 1 : null,
  files: [{ role: 'head', sha256: 'a'.repeat(64), size: 20544 }],
  createdBy: 'upload',
});

const deploymentFailed: WebhookEventData<'deployment.failed'> = {
  deploymentId: 'dep_1',
  model: { name: 'face-id', version: 3 },
  devices: { total: 3, succeeded: 2, failed: 1 },
  reason: 'cam-a: load_failed',
};

describe('webhooks against a real queue and a receiver on 127.0.0.1', () => {
  let fx: CloudFixture;
  let receiver: WebhookReceiver;
  let publisher: WebhookPublisher;

  const subscribe = async (body: Record<string, unknown>) => {
    const res = await fx.api(apiPaths.webhooks(), jsonBody(body));
    return { status: res.status, body: (await res.json()) as any };
  };
  const deliveries = async (webhookId: string): Promise<any[]> => ((await (await fx.api(apiPaths.webhookDeliveries(webhookId))).json()) as any).deliveries;
  const deliveryOf = async (webhookId: string, deliveryId: string) => (await deliveries(webhookId)).find((d) => d.id === deliveryId);
  const finished = (d: any) => d !== undefined && d.status !== 'pending';

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    fx = await startCloudFixture({
      broker: 'embedded',
      env: {
        EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
        EDGELOOP_WEBHOOK_BACKOFF_MS: '50',
        EDGELOOP_WEBHOOK_TIMEOUT_MS: '800',
        EDGELOOP_WEBHOOK_MAX_ATTEMPTS: '4',
      },
    });
    publisher = fx.cloud.app.get(WebhookPublisher);
  }, 60_000);

  afterAll(async () => {
    await fx?.stop();
    await receiver?.stop();
  });

  it('delivers a signed event with every header; the signature fails on a tampered body', async () => {
    const secret = 'a-receiver-secret-of-32-characters';
    const created = await subscribe({ url: receiver.url('/signed'), events: ['model.version.created'], secret, description: 'registry feed' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: receiver.url('/signed'), events: ['model.version.created'], description: 'registry feed', secret });

    const emitted = await publisher.emit('model.version.created', modelVersionCreated(7));
    expect(emitted?.deliveryIds).toHaveLength(1);
    const [request] = await eventually(async () => receiver.at('/signed'), (r) => r.length === 1);
    const deliveryId = emitted!.deliveryIds[0]!;

    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers[header(WEBHOOK_HEADERS.event)]).toBe('model.version.created');
    expect(request!.headers[header(WEBHOOK_HEADERS.delivery)]).toBe(deliveryId);
    const timestamp = request!.headers[header(WEBHOOK_HEADERS.timestamp)] as string;
    const signature = request!.headers[header(WEBHOOK_HEADERS.signature)] as string;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(30);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);

    expect(verifyWebhook({ secret, timestamp, signature, body: request!.body })).toEqual({ ok: true });
    const tampered = request!.body.replace('"version":7', '"version":8');
    expect(tampered).not.toBe(request!.body);
    expect(verifyWebhook({ secret, timestamp, signature, body: tampered })).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(verifyWebhook({ secret: 'another-secret-entirely', timestamp, signature, body: request!.body })).toMatchObject({ ok: false });

    const event = WebhookEventSchema.parse(JSON.parse(request!.body));
    expect(event).toMatchObject({ id: emitted!.eventId, type: 'model.version.created', data: { model: { name: 'face-id', version: 7 } } });

    const delivery = await eventually(() => deliveryOf(created.body.id, deliveryId), finished);
    expect(delivery).toMatchObject({ status: 'succeeded', event: 'model.version.created', eventId: emitted!.eventId, redeliveryOf: null });
    expect(delivery.attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 204, error: null, nextRetryAt: null }),
    ]);
    expect(delivery.attempts[0].latencyMs).toBeGreaterThan(0);

    // the secret never comes back after creation
    const listed = ((await (await fx.api(apiPaths.webhooks())).json()) as any).webhooks;
    expect(listed.find((w: any) => w.id === created.body.id)).toEqual({
      id: created.body.id,
      url: receiver.url('/signed'),
      events: ['model.version.created'],
      description: 'registry feed',
      createdAt: expect.any(String),
    });
    const one = (await (await fx.api(apiPaths.webhook(created.body.id))).json()) as any;
    expect(one.secret).toBeUndefined();
    expect(JSON.stringify(listed)).not.toContain(secret);
  });

  it('generates a secret when none is given and returns it once', async () => {
    const created = await subscribe({ url: receiver.url('/generated'), events: ['*'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const emitted = await publisher.emit('deployment.failed', deploymentFailed);
    const delivered = emitted!.deliveryIds;
    const request = (await eventually(async () => receiver.at('/generated'), (r) => r.length === 1))[0]!;
    expect(delivered).toContain(request.headers[header(WEBHOOK_HEADERS.delivery)]);
    const check = verifyWebhook({
      secret: created.body.secret,
      timestamp: request.headers[header(WEBHOOK_HEADERS.timestamp)] as string,
      signature: request.headers[header(WEBHOOK_HEADERS.signature)] as string,
      body: request.body,
    });
    expect(check).toEqual({ ok: true });
    expect((await fx.api(apiPaths.webhook(created.body.id), { method: 'DELETE' })).status).toBe(204);
  });

  it('retries a receiver that answers 500 twice, and logs all three attempts', async () => {
    receiver.on('/flaky', (n) => (n < 2 ? { status: 500, body: `boom ${n}` } : { status: 200, body: 'ok' }));
    const created = await subscribe({ url: receiver.url('/flaky'), events: ['deployment.failed'], secret: 'flaky-receiver-secret-0001' });
    const emitted = await publisher.emit('deployment.failed', deploymentFailed);
    const deliveryId = emitted!.deliveryIds.find(Boolean)!;
    const flakyDelivery = await eventually(async () => (await deliveries(created.body.id))[0], finished);
    expect(flakyDelivery.id).toBe(deliveryId);
    expect(flakyDelivery.status).toBe('succeeded');
    expect(flakyDelivery.attempts.map((a: any) => a.statusCode)).toEqual([500, 500, 200]);
    expect(flakyDelivery.attempts.map((a: any) => a.attempt)).toEqual([1, 2, 3]);
    expect(flakyDelivery.attempts.map((a: any) => a.responseExcerpt)).toEqual(['boom 0', 'boom 1', 'ok']);
    // each failed attempt says when the next one is due; the back-off grows
    const [first, second, third] = flakyDelivery.attempts;
    expect(first.nextRetryAt).not.toBeNull();
    expect(second.nextRetryAt).not.toBeNull();
    expect(third.nextRetryAt).toBeNull();
    const requests = receiver.at('/flaky');
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((r) => r.headers[header(WEBHOOK_HEADERS.delivery)]))).toEqual(new Set([deliveryId]));
    expect(new Set(requests.map((r) => r.body)).size).toBe(1);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(25);
    expect(requests[2]!.at - requests[1]!.at).toBeGreaterThanOrEqual(50);
  });

  it('gives up after the maximum number of attempts and marks the delivery failed', async () => {
    receiver.on('/down', () => ({ status: 503, body: 'x'.repeat(5000) }));
    const created = await subscribe({ url: receiver.url('/down'), events: ['model.version.created'] });
    await publisher.emit('model.version.created', modelVersionCreated(8));
    const failed = await eventually(async () => (await deliveries(created.body.id))[0], finished);
    expect(failed.status).toBe('failed');
    expect(failed.attempts.map((a: any) => a.statusCode)).toEqual([503, 503, 503, 503]);
    expect(failed.attempts.at(-1).nextRetryAt).toBeNull();
    expect(failed.nextRetryAt).toBeNull();
    // only an excerpt of a long answer is kept
    expect(failed.attempts[0].responseExcerpt).toHaveLength(1024);
  });

  it('redelivers a delivery as a new, successful delivery of the same event', async () => {
    let down = true;
    receiver.on('/redeliver', () => (down ? { status: 502 } : { status: 200, body: 'thanks' }));
    const created = await subscribe({ url: receiver.url('/redeliver'), events: ['deployment.failed'] });
    const emitted = await publisher.emit('deployment.failed', deploymentFailed);
    const original = await eventually(async () => (await deliveries(created.body.id))[0], finished);
    expect(original.status).toBe('failed');
    down = false;
    const res = await fx.api(apiPaths.webhookRedeliver(created.body.id, original.id), { method: 'POST' });
    expect(res.status).toBe(201);
    const redelivery = (await res.json()) as any;
    expect(redelivery).toMatchObject({ status: 'pending', redeliveryOf: original.id, eventId: emitted!.eventId, attempts: [] });
    expect(redelivery.id).not.toBe(original.id);
    const done = await eventually(() => deliveryOf(created.body.id, redelivery.id), finished);
    expect(done.status).toBe('succeeded');
    expect(done.attempts.map((a: any) => a.statusCode)).toEqual([200]);
    const requests = receiver.at('/redeliver');
    const last = requests.at(-1)!;
    // the same event, and the same X-Edgeloop-Delivery as the delivery it repeats (receivers dedupe on it)
    expect(last.headers[header(WEBHOOK_HEADERS.delivery)]).toBe(original.id);
    expect(last.body).toBe(requests[0]!.body);
    expect(JSON.parse(last.body).id).toBe(emitted!.eventId);
    // a redelivery of the redelivery still points at the first delivery
    const again = (await (await fx.api(apiPaths.webhookRedeliver(created.body.id, redelivery.id), { method: 'POST' })).json()) as any;
    expect(again.redeliveryOf).toBe(original.id);
    await eventually(() => deliveryOf(created.body.id, again.id), finished);
    // the original keeps its own log
    expect((await deliveryOf(created.body.id, original.id)).status).toBe('failed');
    expect((await fx.api(apiPaths.webhookRedeliver(created.body.id, 'dlv_nope'), { method: 'POST' })).status).toBe(404);
  });

  it('does not deliver events of types a subscription did not ask for', async () => {
    const narrow = await subscribe({ url: receiver.url('/narrow'), events: ['deployment.rolled_back'] });
    const wide = await subscribe({ url: receiver.url('/wide'), events: ['*'] });
    const emitted = await publisher.emit('model.version.created', modelVersionCreated(9));
    expect(emitted!.deliveryIds.length).toBeGreaterThanOrEqual(1);
    await eventually(async () => receiver.at('/wide'), (r) => r.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.at('/narrow')).toHaveLength(0);
    expect(await deliveries(narrow.body.id)).toEqual([]);
    await publisher.emit('deployment.rolled_back', { ...deploymentFailed, automatic: true });
    await eventually(async () => receiver.at('/narrow'), (r) => r.length === 1);
    expect(receiver.at('/narrow')[0]!.headers[header(WEBHOOK_HEADERS.event)]).toBe('deployment.rolled_back');
    await fx.api(apiPaths.webhook(wide.body.id), { method: 'DELETE' });
  });

  it('counts a receiver that does not answer in time as a failed attempt', async () => {
    receiver.on('/hang', () => 'hang');
    const created = await subscribe({ url: receiver.url('/hang'), events: ['deployment.failed'] });
    await publisher.emit('deployment.failed', deploymentFailed);
    const delivery = await eventually(async () => (await deliveries(created.body.id))[0], (d) => d?.attempts.length >= 1);
    expect(delivery.attempts[0]).toMatchObject({ attempt: 1, statusCode: null, error: 'no answer within 800 ms', responseExcerpt: null });
    expect(delivery.attempts[0].latencyMs).toBeGreaterThanOrEqual(790);
    // deleting the subscription stops its retries and removes its log
    expect((await fx.api(apiPaths.webhook(created.body.id), { method: 'DELETE' })).status).toBe(204);
    expect((await fx.api(apiPaths.webhook(created.body.id))).status).toBe(404);
    expect((await fx.api(apiPaths.webhookDeliveries(created.body.id))).status).toBe(404);
    expect((await fx.api(apiPaths.webhook(created.body.id), { method: 'DELETE' })).status).toBe(404);
  });

  it('the receiver shown in docs/webhooks.md accepts a real delivery and refuses tampered and stale ones', async () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'webhooks.md'), 'utf8');
    const code = /## A receiver[\s\S]*?```ts\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(code).toContain('timingSafeEqual');
    const dir = mkdtempSync(join(tmpdir(), 'edgeloop-doc-receiver-'));
    writeFileSync(join(dir, 'receiver.ts'), code!);
    const secret = 'the-doc-receiver-secret-000';
    const port = await freePort();
    // Node runs the TypeScript file as it is (type stripping)
    const child = spawn(process.execPath, [join(dir, 'receiver.ts')], {
      env: { PATH: process.env.PATH, EDGELOOP_WEBHOOK_SECRET: secret, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      await eventually(() => isListening(port), (up) => up);
      const created = await subscribe({ url: `http://127.0.0.1:${port}/edgeloop`, events: ['deployment.completed'], secret });
      const emitted = await publisher.emit('deployment.completed', { deploymentId: 'dep_doc', model: { name: 'face-id', version: 2 }, devices: { total: 1, succeeded: 1, failed: 0 } });
      const delivery = await eventually(() => deliveryOf(created.body.id, emitted!.deliveryIds[0]!), finished);
      expect(delivery.attempts.map((a: any) => a.statusCode)).toEqual([202]);
      expect(output).toContain(`deployment.completed ${emitted!.eventId} ${delivery.id}`);

      const post = (body: string, headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/edgeloop`, { method: 'POST', body, headers });
      const body = '{"id":"evt_doc","type":"deployment.completed"}';
      const signed = webhookRequestHeaders({ secret, event: 'deployment.completed', deliveryId: 'dlv_doc', body });
      const tampered = await post(body.replace('evt_doc', 'evt_forged'), { ...signed });
      expect([tampered.status, await tampered.text()]).toEqual([401, 'signature mismatch']);
      const stale = webhookRequestHeaders({ secret, event: 'deployment.completed', deliveryId: 'dlv_old', body, nowMs: Date.now() - 10 * 60_000 });
      const replayed = await post(body, { ...stale });
      expect([replayed.status, await replayed.text()]).toEqual([401, 'stale timestamp']);
      expect((await post(body, { ...signed })).status).toBe(202);
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never throws into the caller: an invalid event is logged and stored, not delivered', async () => {
    const result = await publisher.emit('deployment.failed', { deploymentId: 'dep 1' } as unknown as WebhookEventData<'deployment.failed'>);
    expect(result).toBeNull();
    const failures = await fx.cloud.app.get(WebhookDeliveryRepository).emitFailures();
    expect(failures.at(-1)).toMatchObject({ type: 'deployment.failed', message: expect.stringContaining('deploymentId') });
  });

  it('refuses private, loopback-v6, link-local and metadata addresses that are not allow-listed, with a 422', async () => {
    for (const url of [
      'http://10.0.0.1/hook',
      'http://192.168.1.1/hook',
      'http://172.16.5.4/hook',
      'http://[::1]:8080/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
      'http://0x0a000001/',
      'http://0.0.0.0/',
      'http://224.0.0.1/',
    ]) {
      const refused = await subscribe({ url, events: ['*'] });
      expect({ url, status: refused.status, error: refused.body.error }).toEqual({ url, status: 422, error: 'webhook_url_refused' });
      expect(refused.body.message).toMatch(/not public/);
      expect(refused.body.details[0]).toEqual({ address: expect.any(String), range: expect.any(String) });
    }
    // loopback is allow-listed in this cloud, in its IPv4 and IPv4-mapped forms
    expect((await subscribe({ url: 'http://127.0.0.2:9/', events: ['*'] })).status).toBe(201);
    expect((await subscribe({ url: 'http://[::ffff:127.0.0.1]:9/', events: ['*'] })).status).toBe(201);
  });

  it('validates subscriptions and their ids, and needs the operator role to change them', async () => {
    const bad = async (body: unknown) => (await subscribe(body as Record<string, unknown>)).body;
    expect(await bad({ url: 'ftp://127.0.0.1/x', events: ['*'] })).toMatchObject({ error: 'invalid_body' });
    expect(await bad({ url: receiver.url('/x'), events: [] })).toMatchObject({ error: 'invalid_body' });
    expect(await bad({ url: receiver.url('/x'), events: ['model.deleted'] })).toMatchObject({ error: 'invalid_body' });
    expect(await bad({ url: receiver.url('/x'), events: ['*'], secret: 'too-short' })).toMatchObject({ error: 'invalid_body' });
    expect(await bad({ url: receiver.url('/x'), events: ['*'], extra: 1 })).toMatchObject({ error: 'invalid_body' });
    expect(await bad({ url: 'http://user:pw@127.0.0.1/x', events: ['*'] })).toMatchObject({ error: 'webhook_url_refused' });
    expect((await fx.api(apiPaths.webhook('no such id'))).status).toBe(400);
    expect((await fx.api(apiPaths.webhook('wh_missing'))).status).toBe(404);
    expect((await fx.api(`${apiPaths.webhookDeliveries('wh_missing')}?limit=0`)).status).toBe(400);

    const token = ((await (await fx.api(apiPaths.tokens(), jsonBody({ name: 'watcher', role: 'viewer' }))).json()) as any).token;
    expect((await fx.api(apiPaths.webhooks(), { token })).status).toBe(200);
    expect((await fx.api(apiPaths.webhooks(), { ...jsonBody({ url: receiver.url('/x'), events: ['*'] }), token })).status).toBe(403);
    expect((await fx.api(apiPaths.webhooks(), { token: null })).status).toBe(401);
  });

  it('describes every route in the OpenAPI document, with its errors', async () => {
    const doc = (await (await fetch(`${fx.url}/api/docs-json`)).json()) as any;
    const op = (path: string, method: string) => doc.paths[path]?.[method];
    expect(Object.keys(op('/api/v1/webhooks', 'post').responses).sort()).toEqual(['201', '400', '401', '403', '422']);
    expect(op('/api/v1/webhooks', 'get')).toBeDefined();
    expect(Object.keys(op('/api/v1/webhooks/{id}', 'delete').responses)).toEqual(expect.arrayContaining(['204', '404']));
    expect(op('/api/v1/webhooks/{id}/deliveries', 'get').parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['id', 'limit']));
    expect(Object.keys(op('/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver', 'post').responses)).toEqual(expect.arrayContaining(['201', '404']));
  });
});

describe('webhooks without an allow-list', () => {
  let fx: CloudFixture;
  let redis: RedisServer;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    redis = await startRedis();
    fx = await startCloudFixture({ env: { REDIS_URL: redis.url } });
  }, 60_000);

  afterAll(async () => {
    await fx?.stop();
    await redis?.stop();
    await receiver?.stop();
  });

  it('refuses loopback, by address and by a name that resolves to it', async () => {
    for (const url of [receiver.url('/hook'), `http://localhost:${receiver.port}/hook`, 'http://127.1/', `http://[::1]:${receiver.port}/`]) {
      const res = await fx.api(apiPaths.webhooks(), jsonBody({ url, events: ['*'] }));
      const body = (await res.json()) as any;
      expect({ url, status: res.status, error: body.error }).toEqual({ url, status: 422, error: 'webhook_url_refused' });
      expect(body.details.map((d: any) => d.range)).toContain('loopback');
    }
    expect(receiver.received).toHaveLength(0);
  });
});
