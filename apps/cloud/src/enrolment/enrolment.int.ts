import type { CreateEnrolmentTokenResponse, EnrolDeviceResponse, EnrolmentTokenSummary } from '@edgeloop/contracts';
import mqtt from 'mqtt';
import { randomBytes } from 'node:crypto';
import { SqlDatabase } from '../database/sql-database';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

const json = { 'content-type': 'application/json' };
const nonce = () => randomBytes(16).toString('base64url');

/** Enrolment tokens and `POST /devices/enrol` against a real cloud (embedded broker, Redis, S3, SQL). */
describe('zero-touch enrolment', () => {
  let fx: CloudFixture;
  let viewerToken: string;

  const createToken = (body: unknown, token?: string) =>
    fx.api('/api/v1/enrolment-tokens', { method: 'POST', body: JSON.stringify(body), headers: json, token });
  const enrol = (body: unknown) => fx.api('/api/v1/devices/enrol', { method: 'POST', body: JSON.stringify(body), headers: json, token: null });
  const listTokens = async () => ((await (await fx.api('/api/v1/enrolment-tokens')).json()) as { tokens: EnrolmentTokenSummary[] }).tokens;
  const tokenById = async (id: string) => (await listTokens()).find((t) => t.id === id)!;
  const deviceStatus = async (id: string) => (await fx.api(`/api/v1/devices/${id}`)).status;
  const newToken = async (body: Record<string, unknown> = {}) => {
    const res = await createToken({ group: 'lobby', ...body });
    expect(res.status).toBe(201);
    return (await res.json()) as CreateEnrolmentTokenResponse;
  };
  /** The device's MQTT credentials open a session on the broker (or are refused). */
  const mqttConnects = async (credentials: EnrolDeviceResponse['credentials']['mqtt']) => {
    const client = await mqtt.connectAsync(fx.mqttUrl!, { ...credentials, reconnectPeriod: 0, connectTimeout: 5000 }).catch(() => undefined);
    await client?.endAsync(true);
    return client !== undefined;
  };
  const errorOf = async (res: Response) => ({ status: res.status, error: ((await res.json()) as { error: string }).error });

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
    const res = await fx.api('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'watcher', role: 'viewer' }), headers: json });
    viewerToken = ((await res.json()) as { token: string }).token;
  });
  afterAll(async () => {
    await fx?.stop();
  });

  it('creates a token for a group (shown once, listed without the secret); a viewer may neither create nor list', async () => {
    const created = await newToken({ labels: { site: 'north' }, maxUses: 3, expiresInSeconds: 3600, description: 'north batch' });
    expect(created).toMatchObject({ group: 'lobby', labels: { site: 'north' }, maxUses: 3, uses: 0, state: 'active', revokedAt: null, devices: [] });
    expect(created.token).toMatch(/^ele_[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
    const listed = await tokenById(created.id);
    expect(listed).toEqual({ ...created, token: undefined, expiresAt: listed.expiresAt });
    expect(JSON.stringify(await listTokens())).not.toContain(created.token);

    expect(await errorOf(await createToken({ group: 'lobby' }, viewerToken))).toEqual({ status: 403, error: 'forbidden' });
    expect((await fx.api('/api/v1/enrolment-tokens', { token: viewerToken })).status).toBe(403);
    expect((await fx.api('/api/v1/enrolment-tokens', { token: null })).status).toBe(401);
  });

  it.each([
    ['no group', {}],
    ['a bad group', { group: 'Not A Group!' }],
    ['zero uses', { group: 'lobby', maxUses: 0 }],
    ['a lifetime under a minute', { group: 'lobby', expiresInSeconds: 5 }],
    ['a lifetime over a year', { group: 'lobby', expiresInSeconds: 400 * 86400 }],
    ['an unknown field', { group: 'lobby', role: 'admin' }],
    ['a bad label', { group: 'lobby', labels: { 'BAD KEY': 'x' } }],
  ])('refuses a token with %s (400 invalid_body) and creates nothing', async (_what, body) => {
    const before = (await listTokens()).length;
    expect(await errorOf(await createToken(body))).toEqual({ status: 400, error: 'invalid_body' });
    expect((await listTokens()).length).toBe(before);
  });

  it('enrols a device once: its own id and credentials, in the token’s group with its labels; a replay is refused', async () => {
    const { token, id } = await newToken({ labels: { site: 'north', floor: '2' }, maxUses: 5 });
    const request = { token, nonce: nonce(), deviceId: 'cam-enrol-1', name: 'door camera' };
    const res = await enrol(request);
    expect(res.status).toBe(201);
    const enrolled = (await res.json()) as EnrolDeviceResponse;
    expect(enrolled.device).toMatchObject({ id: 'cam-enrol-1', name: 'door camera', group: 'lobby', labels: { site: 'north', floor: '2' }, disabled: false });
    expect(enrolled.credentials.mqtt).toMatchObject({ username: 'cam-enrol-1', clientId: 'cam-enrol-1' });
    expect(enrolled.credentials.http.token).toMatch(/^eld_/);
    expect(enrolled.mqttUrl).toBe(fx.mqttUrl);
    expect(enrolled.signingKey.publicKey).toContain('BEGIN PUBLIC KEY');
    expect(await mqttConnects(enrolled.credentials.mqtt)).toBe(true);
    expect(await mqttConnects({ ...enrolled.credentials.mqtt, password: 'not-the-password-at-all' })).toBe(false);
    expect(await tokenById(id)).toMatchObject({ uses: 1, devices: ['cam-enrol-1'], state: 'active' });

    // the same request again (a captured or retried request): no second device, no second use
    expect(await errorOf(await enrol(request))).toEqual({ status: 409, error: 'enrolment_replayed' });
    expect(await errorOf(await enrol({ ...request, deviceId: 'cam-enrol-2' }))).toEqual({ status: 409, error: 'enrolment_replayed' });
    expect(await deviceStatus('cam-enrol-2')).toBe(404);
    expect(await tokenById(id)).toMatchObject({ uses: 1, devices: ['cam-enrol-1'] });
  });

  it('picks the device id when the device asks for none', async () => {
    const { token, id } = await newToken();
    const res = await enrol({ token, nonce: nonce() });
    expect(res.status).toBe(201);
    const enrolled = (await res.json()) as EnrolDeviceResponse;
    expect(enrolled.device.id).toMatch(/^dev-[0-9a-f]{12}$/);
    expect(enrolled.device.name).toBe(enrolled.device.id);
    expect(await tokenById(id)).toMatchObject({ uses: 1, state: 'used_up', devices: [enrolled.device.id] });
  });

  it('refuses a device id that is taken or reserved (409, 400) without using the token', async () => {
    const { token, id } = await newToken({ maxUses: 2 });
    const byHand = await fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'cam-by-hand', name: 'x' }), headers: json });
    expect(byHand.status).toBe(201);
    expect(await errorOf(await enrol({ token, nonce: nonce(), deviceId: 'cam-by-hand' }))).toEqual({ status: 409, error: 'conflict' });
    expect(await errorOf(await enrol({ token, nonce: nonce(), deviceId: 'edgeloop-cloud' }))).toEqual({ status: 400, error: 'invalid_body' });
    expect(await deviceStatus('edgeloop-cloud')).toBe(404);
    expect(await tokenById(id)).toMatchObject({ uses: 0, devices: [], state: 'active' });
  });

  it.each([
    ['no nonce', (token: string) => ({ token })],
    ['a short nonce', (token: string) => ({ token, nonce: 'abc' })],
    ['a bad device id', (token: string) => ({ token, nonce: nonce(), deviceId: '-bad id-' })],
    ['an unknown field', (token: string) => ({ token, nonce: nonce(), group: 'admins' })],
    ['no token', () => ({ nonce: nonce() })],
  ])('refuses an enrolment with %s (400 invalid_body) and creates nothing', async (_what, body) => {
    const { token, id } = await newToken();
    expect(await errorOf(await enrol(body(token)))).toEqual({ status: 400, error: 'invalid_body' });
    expect(await tokenById(id)).toMatchObject({ uses: 0, devices: [] });
  });

  it('refuses an unknown token (401), a used-up one and an expired one (403), creating no device', async () => {
    expect(await errorOf(await enrol({ token: 'ele_not-a-real-token-at-all', nonce: nonce(), deviceId: 'cam-x1' }))).toEqual({
      status: 401,
      error: 'enrolment_token_invalid',
    });
    expect(await deviceStatus('cam-x1')).toBe(404);

    const once = await newToken({ maxUses: 1 });
    expect((await enrol({ token: once.token, nonce: nonce(), deviceId: 'cam-x2' })).status).toBe(201);
    expect(await errorOf(await enrol({ token: once.token, nonce: nonce(), deviceId: 'cam-x3' }))).toEqual({ status: 403, error: 'enrolment_token_used_up' });
    expect(await deviceStatus('cam-x3')).toBe(404);

    const soon = await newToken({ expiresInSeconds: 60 });
    // an hour passes: move the expiry into the past rather than wait
    await fx.cloud.app.get(SqlDatabase).query("update enrolment_tokens set expires_at = now() - interval '1 second' where id = $1", [soon.id]);
    expect(await errorOf(await enrol({ token: soon.token, nonce: nonce(), deviceId: 'cam-x4' }))).toEqual({ status: 403, error: 'enrolment_token_expired' });
    expect(await deviceStatus('cam-x4')).toBe(404);
    expect(await tokenById(soon.id)).toMatchObject({ uses: 0, state: 'expired' });
  });

  it('revoking a token stops new enrolments, not the devices it enrolled', async () => {
    const { token, id } = await newToken({ maxUses: 10 });
    const res = await enrol({ token, nonce: nonce(), deviceId: 'cam-before-revoke' });
    const enrolled = (await res.json()) as EnrolDeviceResponse;
    const revoked = await fx.api(`/api/v1/enrolment-tokens/${id}/revoke`, { method: 'POST' });
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ id, state: 'revoked', uses: 1 });
    expect(await errorOf(await enrol({ token, nonce: nonce(), deviceId: 'cam-after-revoke' }))).toEqual({ status: 403, error: 'enrolment_token_revoked' });
    expect(await deviceStatus('cam-after-revoke')).toBe(404);
    expect(await mqttConnects(enrolled.credentials.mqtt)).toBe(true);
    expect(await deviceStatus('cam-before-revoke')).toBe(200);

    expect(await errorOf(await fx.api('/api/v1/enrolment-tokens/enr-000000000000/revoke', { method: 'POST' }))).toEqual({ status: 404, error: 'not_found' });
    expect(await errorOf(await fx.api(`/api/v1/enrolment-tokens/${id}/revoke`, { method: 'POST', token: viewerToken }))).toEqual({
      status: 403,
      error: 'forbidden',
    });
  });

  it('lets no more devices enrol than the token allows when they come at once', async () => {
    const { token, id } = await newToken({ maxUses: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => enrol({ token, nonce: nonce(), deviceId: `cam-rush-${i}` })));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 201, 201, 403, 403, 403, 403, 403]);
    expect(await tokenById(id)).toMatchObject({ uses: 3, state: 'used_up' });
    expect((await tokenById(id)).devices).toHaveLength(3);
  });
});
