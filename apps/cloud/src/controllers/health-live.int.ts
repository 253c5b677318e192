import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';

/**
 * Readiness and liveness: `GET /api/v1/health` (readiness) goes 503 while Redis is away, `GET
 * /api/v1/health/live` (the Kubernetes liveness probe, deploy/kubernetes) stays 200 so the pod is not
 * restarted for a dependency's outage.
 */
/** `work`, or a rejection naming `what` when it takes longer than `ms`: a hang names its step instead of the test's timeout. */
async function within<T>(what: string, work: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('health: readiness vs liveness', () => {
  let fx: CloudFixture;

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded' });
  });
  afterAll(async () => {
    await within('stopping the fixture', fx?.stop() ?? Promise.resolve(), 45_000);
  });

  it('keeps liveness at 200 while Redis is down and readiness says 503, and both are public', async () => {
    const live = await fx.api('/api/v1/health/live', { token: null });
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok', version: expect.any(String), uptimeSeconds: expect.any(Number) });
    expect((await fx.api('/api/v1/health', { token: null })).status).toBe(200);

    await within('halting Redis', fx.redis!.halt());
    try {
      const ready = await within('GET /health with Redis down', fx.api('/api/v1/health', { token: null }));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { components: Record<string, { status: string }> }).components.redis.status).toBe('down');
      const stillLive = await within('GET /health/live with Redis down', fx.api('/api/v1/health/live', { token: null }));
      expect(stillLive.status).toBe(200);
      expect(((await stillLive.json()) as { status: string }).status).toBe('ok');
    } finally {
      await within('resuming Redis', fx.redis!.resume());
    }
    // readiness comes back by itself once Redis answers again
    const deadline = Date.now() + 30_000;
    while ((await within('GET /health after Redis came back', fx.api('/api/v1/health', { token: null }))).status !== 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect((await fx.api('/api/v1/health', { token: null })).status).toBe(200);
    // a clean cloud for the shutdown: connections that lived through the outage are replaced
    await within('restarting the cloud', fx.restart());
  });
});
