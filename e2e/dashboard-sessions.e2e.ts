import { DASHBOARD_REQUEST_HEADER, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFixture, startCloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { SimDevice } from '../apps/cloud/src/testing/sim-device';

/**
 * The dashboard's server side against a real cloud: token → HttpOnly session cookie, forged cross-site
 * requests refused, one-time sign-in links, the live event stream, the built app served at `/` with the
 * right caching, and bull-board for admins only.
 */
describe('dashboard sessions, live stream, static files and queue board', () => {
  let fx: CloudFixture;
  let viewerToken: string;
  const dir = mkdtempSync(join(tmpdir(), 'edgeloop-dashboard-static-'));

  beforeAll(async () => {
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>edgeloop</title><script type="module" src="/assets/index-AbCdEf12.js"></script>');
    writeFileSync(join(dir, 'assets', 'index-AbCdEf12.js'), 'console.log(1)');
    fx = await startCloudFixture({ broker: 'embedded', env: { EDGELOOP_DASHBOARD_DIR: dir } });
    const res = await fx.api('/api/v1/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'watcher', role: 'viewer' }),
    });
    expect(res.status).toBe(201);
    viewerToken = ((await res.json()) as { token: string }).token;
  }, 90_000);
  afterAll(async () => {
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${fx.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  async function signIn(token: string): Promise<string> {
    const res = await post('/api/v1/sessions', { token });
    expect(res.status).toBe(201);
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^edgeloop_session=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    return cookie.split(';')[0];
  }

  it('exchanges an API token for a session cookie that authenticates reads', async () => {
    const bad = await post('/api/v1/sessions', { token: 'elt_not-a-real-token-000000000000' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const cookie = await signIn(viewerToken);
    const me = await fetch(`${fx.url}/api/v1/sessions/me`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ name: 'watcher', role: 'viewer' });
    expect((await fetch(`${fx.url}/api/v1/devices`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${fx.url}/api/v1/devices`)).status).toBe(401);
  });

  it('enforces the role of the session, and refuses forged cross-site writes', async () => {
    const viewer = await signIn(viewerToken);
    const labelAsViewer = await post('/api/v1/devices', { name: 'cam' }, { cookie: viewer, [DASHBOARD_REQUEST_HEADER]: 'dashboard' });
    expect(labelAsViewer.status).toBe(403);
    expect(((await labelAsViewer.json()) as { message: string }).message).toMatch(/operator role/);

    const admin = await signIn(fx.adminToken);
    const forgedNoHeader = await post('/api/v1/devices', { name: 'cam' }, { cookie: admin });
    expect(forgedNoHeader.status).toBe(403);
    const forgedCrossSite = await post(
      '/api/v1/devices',
      { name: 'cam' },
      { cookie: admin, [DASHBOARD_REQUEST_HEADER]: 'dashboard', origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    );
    expect(forgedCrossSite.status).toBe(403);
    expect(((await forgedCrossSite.json()) as { message: string }).message).toMatch(/cross-site/);
    const sameOrigin = await post(
      '/api/v1/devices',
      { name: 'cam' },
      { cookie: admin, [DASHBOARD_REQUEST_HEADER]: 'dashboard', origin: fx.url, 'sec-fetch-site': 'same-origin' },
    );
    expect(sameOrigin.status).toBe(201);
  });

  it('signs out: the cookie stops working', async () => {
    const cookie = await signIn(viewerToken);
    const forged = await fetch(`${fx.url}/api/v1/sessions/current`, { method: 'DELETE', headers: { cookie } });
    expect(forged.status).toBe(403);
    const out = await fetch(`${fx.url}/api/v1/sessions/current`, { method: 'DELETE', headers: { cookie, [DASHBOARD_REQUEST_HEADER]: 'dashboard' } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/edgeloop_session=;/);
    const me = await fetch(`${fx.url}/api/v1/sessions/me`, { headers: { cookie } });
    expect(me.status).toBe(401);
    expect(((await me.json()) as { message: string }).message).toMatch(/sign in again/);
  });

  it('redeems a one-time sign-in link once', async () => {
    const notAdmin = await fx.api('/api/v1/sessions/links', { method: 'POST', token: viewerToken });
    expect(notAdmin.status).toBe(403);
    const res = await fx.api('/api/v1/sessions/links', { method: 'POST' });
    expect(res.status).toBe(201);
    const link = (await res.json()) as { code: string; path: string };
    expect(link.path).toBe(`/sign-in?code=${link.code}`);
    const first = await post('/api/v1/sessions', { code: link.code });
    expect(first.status).toBe(201);
    expect(await first.json()).toMatchObject({ role: 'admin' });
    const again = await post('/api/v1/sessions', { code: link.code });
    expect(again.status).toBe(401);
  });

  it('streams domain events as server-sent events to a session', async () => {
    const cookie = await signIn(viewerToken);
    const controller = new AbortController();
    const res = await fetch(`${fx.url}/api/v1/events`, { headers: { cookie, accept: 'text/event-stream' }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil(/retry: \d+/);
    expect(text).toMatch(/retry: 3000/);
    const provision = await fx.api('/api/v1/devices', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'door' }),
    });
    expect(provision.status).toBe(201);
    const { device, credentials, signingKey } = (await provision.json()) as ProvisionDeviceResponse;
    const sim = new SimDevice({ id: device.id, mqttUrl: fx.mqttUrl!, password: credentials.mqtt.password, publicKeyPem: signingKey.publicKey });
    await sim.connect();
    await readUntil(new RegExp(`event: device\\.changed\\n(id: .*\\n)?data: .*${device.id}`));
    controller.abort();
    await sim.stop();
    expect(text).toMatch(new RegExp(`event: device\\.changed\\n(id: .*\\n)?data: .*"deviceId":"${device.id}"`));
    expect((await fetch(`${fx.url}/api/v1/events`)).status).toBe(401);
  });

  it('serves the app at / with index.html revalidated, hashed assets cached for a year, and deep links', async () => {
    const index = await fetch(`${fx.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(await index.text()).toMatch(/<title>edgeloop<\/title>/);
    const asset = await fetch(`${fx.url}/assets/index-AbCdEf12.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const deep = await fetch(`${fx.url}/devices/cam-1?tab=history`);
    expect(deep.status).toBe(200);
    expect(deep.headers.get('cache-control')).toBe('no-cache');
    expect(await deep.text()).toMatch(/<title>edgeloop<\/title>/);
    expect((await fetch(`${fx.url}/assets/missing-00000000.js`)).status).toBe(404);
    const api404 = await fetch(`${fx.url}/api/v1/nothing-here`);
    expect(api404.status).toBe(404);
    expect(api404.headers.get('content-type')).toMatch(/json/);
  });

  it('mounts bull-board for admins only', async () => {
    const anonymous = await fetch(`${fx.url}/api/v1/admin/queues`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toMatch(/^\/sign-in\?next=/);
    const viewer = await signIn(viewerToken);
    expect((await fetch(`${fx.url}/api/v1/admin/queues/api/queues`, { headers: { cookie: viewer } })).status).toBe(403);
    const admin = await signIn(fx.adminToken);
    const queues = await fetch(`${fx.url}/api/v1/admin/queues/api/queues`, { headers: { cookie: admin } });
    expect(queues.status).toBe(200);
    const body = (await queues.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name)).toEqual(expect.arrayContaining(['predictions', 'drift', 'webhooks', 'rollouts']));
    const page = await fetch(`${fx.url}/api/v1/admin/queues`, { headers: { cookie: admin } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
  });
});
