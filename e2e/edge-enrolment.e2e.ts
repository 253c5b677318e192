/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import type { CreateEnrolmentTokenResponse, DeviceSummary, EnrolmentTokenSummary } from '@edgeloop/contracts';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { edgeTestEnv, franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { buildEdge, EdgeProcess } from '../apps/edge/src/testing/edge-process';

/**
 * Zero-touch enrolment with the worker as a real process: started with nothing but the cloud URL and an
 * enrolment token, it enrols, connects with its own credentials, and after a restart uses the credentials
 * it stored — with the token revoked in between.
 */
describe('edge worker enrolment (worker process, cloud with embedded broker)', () => {
  let build: ReturnType<typeof buildEdge>;
  let fx: CloudFixture;
  const state = tempStateDir('edge-enrol-');
  const fresh = tempStateDir('edge-enrol-fresh-');
  const aux = tempStateDir('edge-enrol-aux-');
  const children: EdgeProcess[] = [];
  let framesDir: string;

  const start = (env: Record<string, string>) => {
    const child = new EdgeProcess(build.main, edgeTestEnv({ EDGE_SOURCE: `folder:${framesDir}`, EDGE_FPS: '2', EDGE_LOG_LEVEL: 'info', ...env }));
    children.push(child);
    return child;
  };
  const device = async (id: string) => (await (await fx.api(`/api/v1/devices/${id}`)).json()) as DeviceSummary;
  const token = async (id: string) =>
    ((await (await fx.api('/api/v1/enrolment-tokens')).json()) as { tokens: EnrolmentTokenSummary[] }).tokens.find((t) => t.id === id)!;

  beforeAll(async () => {
    build = buildEdge();
    fx = await startCloudFixture({ broker: 'embedded' });
    framesDir = join(aux.dir, 'frames');
    mkdirSync(framesDir);
    franckFrames()
      .slice(0, 2)
      .forEach((jpeg, i) => writeFileSync(join(framesDir, `frame-${i}.jpg`), jpeg));
  });

  afterEach(async () => {
    for (const child of children) if (child.alive) await child.kill();
  });

  afterAll(async () => {
    for (const child of children) await child.kill();
    await fx?.stop();
    build?.remove();
    state.remove();
    fresh.remove();
    aux.remove();
  });

  it('enrols once with only the cloud URL and a token, connects, and after a restart reuses its stored credentials with the token revoked', async () => {
    const res = await fx.api('/api/v1/enrolment-tokens', {
      method: 'POST',
      body: JSON.stringify({ group: 'doors', labels: { site: 'north' }, maxUses: 5 }),
      headers: { 'content-type': 'application/json' },
    });
    const created = (await res.json()) as CreateEnrolmentTokenResponse;
    const env = { EDGE_CLOUD_URL: fx.url, EDGE_ENROLMENT_TOKEN: created.token, EDGE_STATE_DIR: state.dir };

    const first = start(env);
    const [, deviceId] = await first.waitForOutput(/enrolled as (dev-[0-9a-f]{12}) \(group doors\)/);
    await until(async () => (await device(deviceId)).presence === 'online', 30_000);
    expect(await device(deviceId)).toMatchObject({ group: 'doors', labels: { site: 'north' } });
    expect(await token(created.id)).toMatchObject({ uses: 1, devices: [deviceId] });

    // the credentials are the device's own, kept for its user only; the enrolment token is not among them
    const file = join(state.dir, 'enrolment', 'credentials.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(state.dir, 'enrolment')).mode & 0o777).toBe(0o700);
    const stored = readFileSync(file, 'utf8');
    expect(JSON.parse(stored)).toMatchObject({ deviceId, credentials: { mqtt: { username: deviceId, clientId: deviceId } } });
    expect(stored).not.toContain(created.token);

    expect(await first.kill('SIGTERM')).toBe(0);
    await until(async () => (await device(deviceId)).presence === 'offline', 15_000);
    expect((await fx.api(`/api/v1/enrolment-tokens/${created.id}/revoke`, { method: 'POST' })).status).toBe(200);

    const second = start(env);
    await second.waitForOutput(new RegExp(`enrolled as ${deviceId} on .*: using the stored credentials`));
    await until(async () => (await device(deviceId)).presence === 'online', 30_000);
    expect(readFileSync(file, 'utf8')).toBe(stored);
    expect(await token(created.id)).toMatchObject({ uses: 1, devices: [deviceId], state: 'revoked' });
    expect(second.output).not.toMatch(/enrolment refused/);

    // a new device with the revoked token stops with one clear line, and stores nothing
    const late = start({ ...env, EDGE_STATE_DIR: fresh.dir });
    expect(await late.exited).toBe(1);
    expect(late.output).toContain('edgeloop edge: enrolment refused (enrolment_token_revoked): the enrolment token was revoked');
    expect(() => statSync(join(fresh.dir, 'enrolment', 'credentials.json'))).toThrow(/ENOENT/);
  });
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
