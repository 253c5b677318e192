import { freePort } from '@edgeloop/harness';
import type { ProvisionDeviceResponse } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { startCloudFixture, type CloudFixture } from '../testing/cloud-fixture';
import { WebhookReceiver } from '../webhooks/testing/webhook-receiver';
import { WebhookPublisher } from '../webhooks/webhook-publisher';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jsonBody = (body: unknown, token?: string | null): RequestInit & { token?: string | null } => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
  ...(token !== undefined ? { token } : {}),
});

/**
 * Tokens and secrets never reach the logs: the cloud runs at its most verbose level (`verbose`) while it is
 * given and hands out every kind of secret — the bootstrap admin token, issued API tokens, a device's MQTT
 * password and HTTP token, a webhook secret (with deliveries that succeed and deliveries that fail and are
 * retried), an enrolment token and the credentials it yields, a dashboard session and a sign-in code — and
 * wrong ones (a bad bearer token, a bad MQTT password). Everything written to stdout and stderr is grepped
 * for each of them.
 */
describe('secrets in the cloud log', () => {
  let fx: CloudFixture;
  let receiver: WebhookReceiver;
  const captured: string[] = [];
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    const tap =
      (write: typeof process.stdout.write) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
        return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = tap(writes.out) as typeof process.stdout.write;
    process.stderr.write = tap(writes.err) as typeof process.stderr.write;
    process.env.EDGELOOP_TEST_LOGS = '1';
    receiver = await new WebhookReceiver().start();
    receiver.on('/flaky', (n) => ({ status: n === 0 ? 500 : 204 }));
    fx = await startCloudFixture({
      broker: 'embedded',
      env: {
        EDGELOOP_LOG_LEVEL: 'verbose',
        EDGELOOP_WEBHOOK_ALLOW: '127.0.0.0/8',
        EDGELOOP_WEBHOOK_BACKOFF_MS: '50',
        EDGELOOP_WEBHOOK_TIMEOUT_MS: '800',
        EDGELOOP_WEBHOOK_MAX_ATTEMPTS: '3',
      },
    });
  }, 90_000);
  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    delete process.env.EDGELOOP_TEST_LOGS;
    await fx?.stop();
    await receiver?.stop();
  });

  it('writes none of the tokens, passwords and secrets it was given or handed out', async () => {
    secrets['bootstrap admin token'] = fx.adminToken;

    for (const role of ['viewer', 'operator'] as const) {
      const res = await fx.api('/api/v1/tokens', jsonBody({ name: `log-${role}`, role }));
      expect(res.status).toBe(201);
      const { token, id } = (await res.json()) as { token: string; id: string };
      secrets[`${role} token`] = token;
      expect((await fx.api('/api/v1/devices', { token })).status).toBe(200);
      if (role === 'viewer') expect((await fx.api(`/api/v1/tokens/${id}`, { method: 'DELETE' })).status).toBe(204);
      if (role === 'viewer') expect((await fx.api('/api/v1/devices', { token })).status).toBe(401);
    }
    secrets['a wrong bearer token'] = `elt_${randomBytes(24).toString('base64url')}`;
    expect((await fx.api('/api/v1/devices', { token: secrets['a wrong bearer token'] })).status).toBe(401);

    const provisioned = await fx.api('/api/v1/devices', jsonBody({ id: 'cam-secrets', name: 'cam-secrets' }));
    expect(provisioned.status).toBe(201);
    const device = (await provisioned.json()) as ProvisionDeviceResponse;
    secrets['device MQTT password'] = device.credentials.mqtt.password;
    secrets['device HTTP token'] = device.credentials.http.token;
    expect((await fx.api(`/api/v1/blobs/${'0'.repeat(64)}`, { token: device.credentials.http.token })).status).toBe(404);
    const client = await mqtt.connectAsync(fx.mqttUrl!, {
      clientId: 'cam-secrets',
      username: 'cam-secrets',
      password: device.credentials.mqtt.password,
      reconnectPeriod: 0,
    });
    await client.publishAsync('edgeloop/v1/devices/cam-secrets/status', 'not json', { qos: 1 });
    await client.endAsync();
    secrets['a wrong MQTT password'] = randomBytes(18).toString('base64url');
    await expect(
      mqtt.connectAsync(fx.mqttUrl!, { clientId: 'cam-secrets', username: 'cam-secrets', password: secrets['a wrong MQTT password'], reconnectPeriod: 0 }),
    ).rejects.toThrow();

    secrets['webhook secret'] = `whsec-${randomBytes(18).toString('base64url')}`;
    const deadPort = await freePort();
    for (const url of [receiver.url('/flaky'), `http://127.0.0.1:${deadPort}/gone`]) {
      const res = await fx.api('/api/v1/webhooks', jsonBody({ url, events: ['model.version.created'], secret: secrets['webhook secret'] }));
      expect(res.status).toBe(201);
    }
    await fx.cloud.app.get(WebhookPublisher).emit('model.version.created', {
      model: { name: 'face-id', version: 1 },
      parent: null,
      files: [{ role: 'head', sha256: 'a'.repeat(64), size: 1 }],
      createdBy: 'upload',
    });
    const deadline = Date.now() + 15_000;
    while (receiver.at('/flaky').length < 2 && Date.now() < deadline) await sleep(50);
    expect(receiver.at('/flaky')).toHaveLength(2);

    const enrolment = await fx.api('/api/v1/enrolment-tokens', jsonBody({ group: 'lab' }));
    expect(enrolment.status).toBe(201);
    secrets['enrolment token'] = ((await enrolment.json()) as { token: string }).token;
    const enrolled = await fx.api('/api/v1/devices/enrol', jsonBody({ token: secrets['enrolment token'], nonce: randomBytes(12).toString('hex') }, null));
    expect(enrolled.status).toBe(201);
    const credentials = ((await enrolled.json()) as ProvisionDeviceResponse).credentials;
    secrets['enrolled device MQTT password'] = credentials.mqtt.password;
    secrets['enrolled device HTTP token'] = credentials.http.token;

    const session = await fx.api('/api/v1/sessions', jsonBody({ token: secrets['operator token'] }, null));
    expect(session.status).toBe(201);
    secrets['dashboard session cookie'] = /=([^;]+)/.exec(session.headers.get('set-cookie') ?? '')![1]!;
    const link = await fx.api('/api/v1/sessions/links', { method: 'POST' });
    expect(link.status).toBe(201);
    secrets['sign-in code'] = ((await link.json()) as { code: string }).code;

    await sleep(1500); // failed webhook attempts and their retries are logged after the fact
    const log = captured.join('');
    expect(log).toMatch(/Mapped \{\/api\/v1\/tokens, POST\} route/); // the capture holds the cloud's own log
    expect(Object.values(secrets).filter((secret) => secret.length < 12)).toEqual([]);
    const leaked = Object.entries(secrets)
      .filter(([, secret]) => log.includes(secret) || log.includes(secret.slice(0, 16)))
      .map(([name]) => name);
    expect(Object.keys(secrets)).toHaveLength(13);
    expect(leaked).toEqual([]);
  }, 120_000);
});
