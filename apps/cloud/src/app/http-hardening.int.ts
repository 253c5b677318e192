import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

/** `a 'b' c; d e` → { a: ["'b'", 'c'], d: ['e'] } */
function parseCsp(header: string | null): Record<string, string[]> {
  const directives: Record<string, string[]> = {};
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives[name] = values;
  }
  return directives;
}

describe('HTTP hardening', () => {
  describe('with the defaults', () => {
    let fx: CloudFixture;
    beforeAll(async () => {
      fx = await startCloudFixture();
    });
    afterAll(() => fx?.stop());

    it.each(['/api/v1/health', '/api/v1/nope', '/metrics'])('sends security headers and no X-Powered-By on %s', async (path) => {
      const res = await fetch(`${fx.url}${path}`);
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d{7,}/);
      const csp = parseCsp(res.headers.get('content-security-policy'));
      // what a single-page dashboard from this origin needs, and nothing from elsewhere
      expect(csp).toMatchObject({
        'default-src': ["'self'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'connect-src': ["'self'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'object-src': ["'none'"],
        'frame-ancestors': ["'none'"],
      });
      expect(csp['upgrade-insecure-requests']).toBeUndefined();
      expect(csp['script-src-attr']).toEqual(["'none'"]);
    });

    it.each(['/api/docs', '/api/v1/admin/queues'])('lets the third-party UI at %s keep its inline styles, but not inline scripts', async (path) => {
      const res = await fetch(`${fx.url}${path}`, { redirect: 'manual' });
      if (path === '/api/docs') expect(res.status).toBe(200);
      const csp = parseCsp(res.headers.get('content-security-policy'));
      expect(csp['style-src']).toEqual(["'self'", "'unsafe-inline'"]);
      expect(csp['script-src']).toEqual(["'self'"]);
    });

    it('serves /metrics and /api/docs without a token by default (aggregate counters and the API description only)', async () => {
      expect((await fetch(`${fx.url}/metrics`)).status).toBe(200);
      expect((await fetch(`${fx.url}/api/docs-json`)).status).toBe(200);
    });
  });

  describe('with EDGELOOP_METRICS_PUBLIC=false and EDGELOOP_DOCS_PUBLIC=false', () => {
    let fx: CloudFixture;
    beforeAll(async () => {
      fx = await startCloudFixture({ env: { EDGELOOP_METRICS_PUBLIC: 'false', EDGELOOP_DOCS_PUBLIC: 'false' } });
    });
    afterAll(() => fx?.stop());

    it.each(['/metrics', '/api/docs', '/api/docs/', '/api/docs-json'])('answers %s 401 without a token, 200 with one', async (path) => {
      const anonymous = await fetch(`${fx.url}${path}`);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toMatchObject({ error: 'unauthorized' });
      expect((await fx.api(path, { token: 'elt_not-a-real-token-000000000000' })).status).toBe(401);
      expect((await fx.api(path)).status).toBe(200);
    });

    it('takes a viewer token (what a Prometheus scraper is given)', async () => {
      const issued = await fx.api('/api/v1/tokens', {
        method: 'POST',
        body: JSON.stringify({ name: 'prometheus', role: 'viewer' }),
        headers: { 'content-type': 'application/json' },
      });
      expect(issued.status).toBe(201);
      const { token } = (await issued.json()) as { token: string };
      const res = await fx.api('/metrics', { token });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^# HELP /m);
    });
  });
});
