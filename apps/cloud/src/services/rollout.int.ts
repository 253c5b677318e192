import { topics, type DomainEvent } from '@edgeloop/contracts';
import { SqlDatabase } from '../database/sql-database';
import { EventRelay } from '../events/event-relay';
import { DeviceChannel } from '../mqtt/device-channel';
import { RolloutService } from './rollout.service';
import mqtt from 'mqtt';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { SimDevice } from '../testing/sim-device';
import { baseFiles, makeHead, uploadForm } from '../testing/upload-form';

const json = async (res: Response | Promise<Response>): Promise<any> => (await (await res).json()) as any;

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last).slice(0, 1500)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}

/** Rollouts against simulated devices that speak the real protocol, on both brokers. */
describe.each(['embedded', 'mosquitto'] as const)('rollouts and device access on the %s broker', (broker) => {
  let fx: CloudFixture;
  let publicKey: string;
  const sims: SimDevice[] = [];
  const credentials = new Map<string, { password: string; token: string }>();

  async function provision(id: string, group = 'lab', labels: Record<string, string> = {}) {
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id, name: `camera ${id}`, group, labels }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as any;
    credentials.set(id, { password: body.credentials.mqtt.password, token: body.credentials.http.token });
    expect(body.mqttUrl).toBe(fx.mqttUrl);
    return body;
  }

  async function deploy(model: string, strategy: unknown, target: unknown = { group: 'lab' }) {
    const res = await fx.api('/api/v1/deployments', {
      method: 'POST',
      body: JSON.stringify({ model, target, strategy }),
      headers: { 'content-type': 'application/json' },
    });
    const body = (await res.json()) as any;
    expect(res.status).toBe(201);
    return body.id as string;
  }

  const deployment = (id: string) => json(fx.api(`/api/v1/deployments/${id}`));
  const finished = (d: any) => !['pending', 'in_progress', 'rolling_back'].includes(d.status);

  beforeAll(async () => {
    fx = await startCloudFixture({ broker });
    publicKey = (await json(fetch(`${fx.url}/api/v1/keys`))).keys[0].publicKey;
    const labels = ['ann', 'ben'];
    for (const [i, head] of [makeHead(labels, 1), makeHead(labels, 2), makeHead(labels, 3)].entries()) {
      const res = await fx.api('/api/v1/models/face-id/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head }, { labels }) });
      expect(res.status).toBe(201);
      expect(((await res.json()) as any).version).toBe(i + 1);
    }
    for (const id of ['cam-a', 'cam-b', 'cam-c']) {
      await provision(id);
      const sim = new SimDevice({
        id,
        mqttUrl: fx.mqttUrl!,
        password: credentials.get(id)!.password,
        publicKeyPem: publicKey,
        failOn: (m) => m.version === 3 && id === 'cam-a',
      });
      await sim.connect();
      sims.push(sim);
    }
    await eventually(() => json(fx.api('/api/v1/devices')), (b) => b.devices.every((d: any) => d.presence === 'online'));
  }, 60_000);

  afterAll(async () => {
    for (const sim of sims) await sim.stop();
    await fx?.stop();
  });

  it('deploys to three devices with `all`', async () => {
    const id = await deploy('face-id@1', { type: 'all' });
    const done = await eventually(() => deployment(id), finished);
    expect(done.status).toBe('completed');
    expect(done.devices.map((d: any) => d.phase)).toEqual(['active', 'active', 'active']);
    expect(sims.map((s) => s.running?.version)).toEqual([1, 1, 1]);
    const listed = await json(fx.api('/api/v1/devices'));
    expect(listed.devices.map((d: any) => d.reported.running)).toEqual(Array(3).fill({ name: 'face-id', version: 1 }));
  });

  it('announces a finished deployment once, however many ticks arrive after it finished', async () => {
    const announced: DomainEvent[] = [];
    const subscription = fx.cloud.app.get(EventRelay).events$.subscribe((e) => {
      if (e.type === 'deployment.completed') announced.push(e);
    });
    try {
      // the version the devices already run, so the tests after this one start where they expect
      const id = await deploy('face-id@1', { type: 'all' });
      await eventually(() => deployment(id), finished);
      // late ticks: a queued one, another replica's
      await fx.cloud.app.get(RolloutService).advance(id);
      await fx.cloud.app.get(RolloutService).advance(id);
      await new Promise((r) => setTimeout(r, 1500));
      expect(announced.filter((e) => (e.data as { deploymentId: string }).deploymentId === id)).toHaveLength(1);
    } finally {
      subscription.unsubscribe();
    }
  });

  it('runs a canary at 34% that passes its gate, then completes in batches', async () => {
    const id = await deploy('face-id@2', { type: 'canary', percent: 34, batchSize: 1, observeSeconds: 1 });
    const first = await deployment(id);
    expect(first.devices.map((d: any) => d.batch)).toEqual([0, 1, 2]);
    // answered once recorded: a device is `sent` only after a tick published its desired state, and only the canary's
    const canaryTold = await eventually(
      () => deployment(id),
      (d) => d.devices[0].phase === 'active',
    );
    expect(canaryTold.devices.slice(1).map((d: any) => d.phase)).toEqual(['pending', 'pending']);
    expect(sims[0].received.at(-1)?.model.version).toBe(2);
    expect(sims[1].received.filter((d) => d.model.version === 2)).toHaveLength(0);
    const done = await eventually(() => deployment(id), finished);
    expect(done.status).toBe('completed');
    expect(sims.map((s) => s.running?.version)).toEqual([2, 2, 2]);
    expect(done.devices.every((d: any) => d.previous?.version === 1)).toBe(true);
  });

  it('rolls every device back automatically when the canary fails to load the model', async () => {
    const id = await deploy('face-id@3', { type: 'canary', percent: 34, batchSize: 1, observeSeconds: 1, autoRollback: true });
    const done = await eventually(() => deployment(id), finished);
    expect(done.status).toBe('failed');
    expect(done.reason).toMatch(/load_failed.*rolled back/);
    await eventually(async () => sims.map((s) => s.running?.version), (v) => v.every((x) => x === 2));
    const canary = sims[0];
    // the deployment reads `failed` once its transaction commits; the rollback desired state is published right after
    const rollback = await eventually(async () => canary.received.at(-1)!, (d) => d.rollback === true);
    expect(rollback).toMatchObject({ rollback: true, model: { name: 'face-id', version: 2 } });
    expect(done.devices.find((d: any) => d.deviceId === 'cam-a').phase).toBe('rolled_back');
    // the other devices were never touched: they kept version 2 throughout
    expect(sims[1].received.filter((d) => d.model.version === 3)).toHaveLength(0);
  });

  it('refuses bad deployment requests with clear errors', async () => {
    const bad = async (body: unknown) => {
      const res = await fx.api('/api/v1/deployments', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      return { status: res.status, body: await res.json() };
    };
    expect(await bad({ model: 'face-id', target: { group: 'lab' } })).toMatchObject({ status: 400, body: { error: 'invalid_body' } });
    expect(await bad({ model: 'face-id@1', target: { group: 'lab', devices: ['cam-a'] } })).toMatchObject({ status: 400 });
    expect(await bad({ model: 'face-id@99', target: { group: 'lab' } })).toMatchObject({ status: 404 });
    expect(await bad({ model: 'face-id@1', target: { group: 'nobody' } })).toMatchObject({ status: 400, body: { error: 'no_target_devices' } });
  });

  it("keeps device A away from device B's topics", async () => {
    const a = credentials.get('cam-a')!;
    // the device's own simulator steps aside so the probe can use cam-a's identity
    await sims[0].stop();
    const wrongId = await mqtt
      .connectAsync(fx.mqttUrl!, { clientId: 'someone-else', username: 'cam-a', password: a.password, reconnectPeriod: 0, connectTimeout: 3000 })
      .then(async (c) => (await c.endAsync(), 'connected'))
      .catch(() => 'refused');
    if (broker === 'embedded') expect(wrongId).toBe('refused');
    const own = await mqtt.connectAsync(fx.mqttUrl!, { clientId: 'cam-a', username: 'cam-a', password: a.password, reconnectPeriod: 0, clean: true });
    const seen: string[] = [];
    own.on('message', (topic) => seen.push(topic));
    // aedes refuses the subscription in its SUBACK; Mosquitto grants it but delivers nothing
    await own.subscribeAsync(topics.desired('cam-b'), { qos: 1 }).catch(() => undefined);
    const before = (await json(fx.api('/api/v1/devices/cam-b'))).reported;
    const forged = { ...before, ts: Date.now(), running: { name: 'face-id', version: 1 }, agentVersion: 'forged' };
    // aedes drops the connection of a client that publishes where it may not; Mosquitto drops the message
    const forging = own.publishAsync(topics.reported('cam-b'), JSON.stringify(forged), { qos: 1 }).catch(() => undefined);
    await Promise.race([forging, new Promise((r) => setTimeout(r, 1000))]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(seen).toEqual([]);
    const after = (await json(fx.api('/api/v1/devices/cam-b'))).reported;
    expect(after.agentVersion).not.toBe('forged');
    await own.endAsync(true);
    await sims[0].connect();
    await eventually(() => json(fx.api('/api/v1/devices/cam-a')), (d) => d.presence === 'online');
  });

  it('a disabled device cannot connect, and its blob token stops working', async () => {
    const c = credentials.get('cam-c')!;
    const blob = (await json(fx.api('/api/v1/models/face-id/versions/1'))).manifest.files[0].sha256;
    expect((await fx.api(`/api/v1/blobs/${blob}`, { token: c.token, headers: { range: 'bytes=0-9' } })).status).toBe(206);
    expect((await fx.api('/api/v1/models', { token: c.token })).status).toBe(403);
    const res = await fx.api('/api/v1/devices/cam-c/disabled', {
      method: 'POST',
      body: JSON.stringify({ disabled: true }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    await sims[2].stop();
    const attempt = await mqtt
      .connectAsync(fx.mqttUrl!, { clientId: 'cam-c', username: 'cam-c', password: c.password, reconnectPeriod: 0, connectTimeout: 3000 })
      .then(async (client) => {
        await client.endAsync();
        return 'connected';
      })
      .catch((err: Error) => err.message);
    expect(attempt).not.toBe('connected');
    expect((await fx.api(`/api/v1/blobs/${blob}`, { token: c.token })).status).toBe(401);
  });
});

describe('a rollout in progress survives a cloud restart', () => {
  let fx: CloudFixture;
  const sims: SimDevice[] = [];

  beforeAll(async () => {
    fx = await startCloudFixture({ broker: 'embedded', persistentSql: true, env: { EDGELOOP_ROLLOUT_WAVE_TIMEOUT_SECONDS: '4' } });
  }, 30_000);
  afterAll(async () => {
    for (const sim of sims) await sim.stop();
    await fx?.stop();
  });

  it('carries on after the cloud restarts mid-rollout, and late devices get their desired state', async () => {
    const labels = ['ann', 'ben'];
    for (const seed of [1, 2]) {
      const res = await fx.api('/api/v1/models/m/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(labels, seed) }, { labels }) });
      expect(res.status).toBe(201);
    }
    const publicKey = (await json(fetch(`${fx.url}/api/v1/keys`))).keys[0].publicKey;
    const ids = ['r1', 'r2', 'r3'];
    const passwords = new Map<string, string>();
    for (const id of ids) {
      const body = await json(fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, name: id, group: 'g' }), headers: { 'content-type': 'application/json' } }));
      passwords.set(id, body.credentials.mqtt.password);
    }
    // r3 stays offline for now
    for (const id of ids.slice(0, 2)) {
      const sim = new SimDevice({ id, mqttUrl: fx.mqttUrl!, password: passwords.get(id)!, publicKeyPem: publicKey });
      await sim.connect();
      sims.push(sim);
    }
    const created = await json(
      fx.api('/api/v1/deployments', {
        method: 'POST',
        body: JSON.stringify({ model: 'm@2', target: { group: 'g' }, strategy: { type: 'canary', percent: 34, batchSize: 1, observeSeconds: 2 } }),
        headers: { 'content-type': 'application/json' },
      }),
    );
    await eventually(() => json(fx.api(`/api/v1/deployments/${created.id}`)), (d) => d.devices[0].phase === 'active');
    await fx.restart();
    const late = new SimDevice({ id: 'r3', mqttUrl: fx.mqttUrl!, password: passwords.get('r3')!, publicKeyPem: publicKey });
    await late.connect();
    sims.push(late);
    const done = await eventually(() => json(fx.api(`/api/v1/deployments/${created.id}`)), (d) => d.status !== 'in_progress', 30_000);
    expect(done.status).toBe('completed');
    expect(sims.map((s) => s.running?.version)).toEqual([2, 2, 2]);
  }, 60_000);

  it('shows a device sent only once the broker took its desired state; one a publisher took and never told is told by a later tick', async () => {
    const labels = ['ann', 'ben'];
    expect((await fx.api('/api/v1/models/m/versions', { method: 'POST', body: uploadForm({ ...baseFiles, head: makeHead(labels, 3) }, { labels }) })).status).toBe(201);
    const channel = fx.cloud.app.get(DeviceChannel);
    // the broker takes nothing: every device stays pending, none is shown as sent
    const refused = jest.spyOn(channel, 'publishDesired').mockRejectedValue(new Error('broker gone'));
    let id: string;
    try {
      id = (await json(fx.api('/api/v1/deployments', { method: 'POST', body: JSON.stringify({ model: 'm@3', target: { group: 'g' } }), headers: { 'content-type': 'application/json' } }))).id;
      await eventually(async () => refused.mock.calls.length, (n) => n >= 3);
      await new Promise((r) => setTimeout(r, 1000));
      expect((await json(fx.api(`/api/v1/deployments/${id}`))).devices.map((d: any) => d.phase)).toEqual(['pending', 'pending', 'pending']);
      expect(sims.map((s) => s.received.filter((d) => d.model.version === 3).length)).toEqual([0, 0, 0]);
    } finally {
      refused.mockRestore();
    }
    // the publisher that took them is gone (its lease ran out): the next tick takes them again and tells them
    await fx.cloud.app.get(SqlDatabase).query(`update deployment_devices set desired_at = now() - interval '1 hour' where deployment_id = $1 and state = 'pending'`, [id]);
    const done = await eventually(() => json(fx.api(`/api/v1/deployments/${id}`)), (d) => d.status !== 'in_progress', 20_000);
    expect(done.status).toBe('completed');
    expect(sims.map((s) => s.running?.version)).toEqual([3, 3, 3]);
  }, 40_000);

  it('fails a wave whose device never reports, after the wave timeout', async () => {
    const body = await json(fx.api('/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'silent', name: 'silent', group: 'quiet' }), headers: { 'content-type': 'application/json' } }));
    expect(body.device.id).toBe('silent');
    const created = await json(
      fx.api('/api/v1/deployments', { method: 'POST', body: JSON.stringify({ model: 'm@1', target: { group: 'quiet' } }), headers: { 'content-type': 'application/json' } }),
    );
    const done = await eventually(() => json(fx.api(`/api/v1/deployments/${created.id}`)), (d) => d.status !== 'in_progress', 20_000);
    expect(done.status).toBe('failed');
    expect(done.reason).toMatch(/timeout: the device never reported within 4 s/);
  }, 30_000);
});
