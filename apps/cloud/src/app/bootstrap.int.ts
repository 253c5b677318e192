import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

describe('cloud bootstrap', () => {
  let fx: CloudFixture;
  beforeAll(async () => {
    fx = await startCloudFixture();
  });
  afterAll(() => fx?.stop());

  it('answers health on a free port with every component up', async () => {
    expect(fx.cloud.port).toBeGreaterThan(0);
    const res = await fetch(`${fx.url}/api/v1/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', components: { sql: { status: 'up' }, s3: { status: 'up' } } });
  });

  it('serves the OpenAPI document with every registry route', async () => {
    const res = await fetch(`${fx.url}/api/docs-json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/health',
        '/api/v1/models',
        '/api/v1/models/{name}/versions',
        '/api/v1/models/{name}/versions/{ref}',
        '/api/v1/models/{name}/aliases/{alias}',
        '/api/v1/blobs/{sha256}',
        '/api/v1/tokens',
        '/api/v1/keys',
      ]),
    );
    expect((await fetch(`${fx.url}/api/docs`)).status).toBe(200);
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const res = await fetch(`${fx.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found', details: [] });
  });

  it('answers malformed JSON bodies with a 400 invalid_json', async () => {
    const res = await fx.api('/api/v1/tokens', { method: 'POST', body: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_json' });
  });
});
