import { CloudConfig } from '../config/cloud.config';
import { RunningCloud, startCloud } from './bootstrap';

describe('cloud bootstrap', () => {
  let cloud: RunningCloud;
  beforeAll(async () => {
    cloud = await startCloud(CloudConfig.fromEnv({}), { logger: false });
  });
  afterAll(() => cloud?.close());

  it('answers health on a free port', async () => {
    expect(cloud.port).toBeGreaterThan(0);
    const res = await fetch(`${cloud.url}/api/v1/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('serves the OpenAPI document with the health route', async () => {
    const res = await fetch(`${cloud.url}/api/docs-json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/api/v1/health');
    expect((await fetch(`${cloud.url}/api/docs`)).status).toBe(200);
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await fetch(`${cloud.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found', details: [] });
  });
});
