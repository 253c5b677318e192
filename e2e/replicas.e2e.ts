import { freePort, stopAllStarted } from '@edgeloop/harness';
import { DARK_BLURRED_STRANGERS, STABLE } from '../apps/cloud/src/testing/prediction-batches';
import { startBackends, backendsUnavailable, type Backends } from './support/backends';
import { CloudApi, eventually, FINISHED, sleep } from './support/cloud-api';
import { buildCloud, type CloudBuild } from './support/cloud-build';
import { CloudProcess } from './support/cloud-process';
import { DeviceFleet } from './support/device-fleet';
import { settlePredictions } from './support/prediction-ledger';
import { WebhookReceiver } from './support/webhook-receiver';

const DEVICES = ['rp-1', 'rp-2', 'rp-3', 'rp-4', 'rp-5', 'rp-6'];
const DRIFTING = new Set(['rp-5', 'rp-6']);

/**
 * Several cloud replicas as separate processes: two API replicas (EDGELOOP_WORKERS=false, EDGELOOP_PREDICTION_INTAKE=false:
 * the worker replicas take every batch off the broker; one the broker hands a killed replica's session waits there) and two worker
 * replicas on one PostgreSQL, one Redis and one Mosquitto (dynamic security, shared subscription group,
 * a persistent session per replica), six simulated devices streaming batches. One worker replica is
 * SIGKILLed during ingest and the other during a rollout; both come back. Afterwards: every batch counted
 * once (by device and sequence, read from SQL), the rollout completed, drift raised one event, and the
 * local webhook receiver got each event once.
 */
const unavailable = backendsUnavailable();
if (unavailable) process.stdout.write(`replicas.e2e: skipped: ${unavailable}\n`);
(unavailable ? describe.skip : describe)('two API and two worker replicas', () => {
  let build: CloudBuild;
  let backends: Backends;
  const receiver = new WebhookReceiver();
  const replicas: CloudProcess[] = [];
  let fleet: DeviceFleet | undefined;

  beforeAll(async () => {
    build = buildCloud();
    backends = await startBackends();
    await receiver.start();
    const common = {
      ...backends.cloudEnv,
      EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1',
      EDGELOOP_DRIFT_WINDOW_SECONDS: '3',
      EDGELOOP_DRIFT_CHECK_SECONDS: '1',
      EDGELOOP_DRIFT_CONFIRM_WINDOWS: '2',
      EDGELOOP_ROLLOUT_TICK_MS: '200',
      EDGELOOP_WEBHOOK_BACKOFF_MS: '200',
      EDGELOOP_LOG_LEVEL: process.env.EDGELOOP_TEST_LOG_LEVEL ?? 'warn',
    };
    for (const [name, workers] of [
      ['api-1', 'false'],
      ['api-2', 'false'],
      ['worker-1', 'true'],
      ['worker-2', 'true'],
    ] as const) {
      // the production shape: API replicas leave the devices' batches to the worker replicas' share group
      const env = { ...common, EDGELOOP_WORKERS: workers, EDGELOOP_PREDICTION_INTAKE: workers, MQTT_CLIENT_ID: `edgeloop-${name}` };
      replicas.push(new CloudProcess(name, build.main, await freePort(), env));
    }
    // the first one migrates SQL; the others start together
    await replicas[0].start();
    await Promise.all(replicas.slice(1).map((r) => r.start()));
  }, 240_000);

  afterAll(async () => {
    await fleet?.stop();
    await Promise.allSettled(replicas.map((r) => r.stop()));
    await receiver.stop();
    await backends?.stop();
    await stopAllStarted();
    build?.remove();
  }, 60_000);

  it('counts every batch once, completes the rollout, raises drift once and delivers each webhook once across two worker kills', async () => {
    const [api1, api2, worker1, worker2] = replicas;
    const api = new CloudApi(() => [api1.url, api2.url], backends.adminToken);
    const hook = await api.json('/api/v1/webhooks', {
      method: 'POST',
      body: JSON.stringify({
        url: receiver.url,
        events: ['drift.detected', 'model.version.created', 'deployment.completed'],
        secret: 'a-webhook-secret-of-some-length',
      }),
    });
    expect(hook.id).toBeTruthy();
    for (const seed of [1, 2]) {
      const res = await api.upload(seed);
      expect(`${res.status} ${res.status === 201 ? '' : await res.text()}`).toBe('201 ');
    }

    fleet = new DeviceFleet({
      cloudUrl: api2.url,
      adminToken: backends.adminToken,
      mqttUrl: backends.mosquitto.url,
      ids: DEVICES,
      group: 'replicas',
      intervalMs: 400,
      // 20 frames a batch: each device's own 3 s window holds enough frames to say whether it drifted
      framesPerBatch: 20,
    });
    await fleet.start();
    fleet.stream();

    // ingest: worker-1 dies with batches in flight, and comes back
    await sleep(4000);
    await worker1.kill();
    await sleep(3000);
    await worker1.start();

    // rollout of face-id@2 in canary waves: worker-2 dies in the middle of it
    const deploymentId = await api.deploy('face-id@2', 'replicas', { type: 'canary', percent: 34, batchSize: 2, observeSeconds: 2 });
    await sleep(1500);
    await worker2.kill();
    await sleep(2500);
    await worker2.start();
    const deployment = await eventually(() => api.deployment(deploymentId), FINISHED, 90_000, 'deployment finished');
    const seenByDevices = fleet.devices.map((d) => ({
      id: d.options.id,
      state: d.state,
      running: d.running?.version,
      failure: (d as unknown as { failure: unknown }).failure,
    }));
    expect({ status: deployment.status, reason: (deployment as { reason?: unknown }).reason ?? null, devices: deployment.devices, seenByDevices }).toEqual({
      status: 'completed',
      reason: null,
      devices: DEVICES.map(() => expect.objectContaining({ phase: 'active' })),
      seenByDevices: DEVICES.map((id) => ({ id, state: 'active', running: 2, failure: null })),
    });

    // face-id@2's reference window on stable traffic, then two devices' light goes down and strangers appear
    await sleep(6000);
    fleet.profile = (id) => (DRIFTING.has(id) ? DARK_BLURRED_STRANGERS : STABLE);
    const events = await eventually(
      () => api.json<{ events: any[] }>('/api/v1/drift/events?model=face-id&version=2').then((b) => b.events),
      (list) => list.length >= 1,
      90_000,
      'a drift event for face-id@2',
    ).catch((err: Error) => {
      // what the worker replicas' drift checks said (EDGELOOP_TEST_LOG_LEVEL=log adds the reference windows)
      const driftLines = [worker1, worker2].map((w) =>
        w
          .tail(60_000)
          .split('\n')
          .filter((line) => /drift/i.test(line))
          .slice(-15)
          .join('\n'),
      );
      throw new Error(`${err.message}\n${driftLines.join('\n')}`);
    });
    await sleep(4000);
    await fleet.drain();

    const counts = await settlePredictions(backends.postgres.url, fleet.ledger(), 60_000);
    const sent = fleet.totalSent();
    const lost = counts.reduce((n, c) => n + c.lost.length, 0);
    const twice = counts.reduce((n, c) => n + Math.max(0, c.extraFrames), 0) / fleet.framesPerBatch;
    process.stdout.write(
      `replicas.e2e: ${sent} batches from ${DEVICES.length} devices, lost ${lost}, counted twice ${twice}; worker-1 started ${worker1.starts}×, worker-2 ${worker2.starts}×; ` +
        `deployment ${deployment.status}; webhooks received ${receiver.received.length}\n`,
    );
    expect(sent).toBeGreaterThan(DEVICES.length * 30);
    expect(counts.map((c) => ({ device: c.deviceId, lost: c.lost, extraFrames: c.extraFrames }))).toEqual(
      DEVICES.map((device) => ({ device, lost: [], extraFrames: 0 })),
    );

    const allDrift = (await api.json<{ events: any[] }>('/api/v1/drift/events?model=face-id')).events;
    expect(allDrift.map((e) => e.driftEventId)).toContain(events[0].driftEventId);
    // one event, for the version that drifted, naming the two devices whose traffic drifted
    expect(allDrift.map((e) => ({ version: e.model.version, devices: [...e.devices].sort() }))).toEqual([{ version: 2, devices: [...DRIFTING].sort() }]);

    // every event the cloud raised reached the receiver, each once
    await eventually(
      async () => receiver.countsByEvent('drift.detected').size,
      (n) => n >= 1,
      30_000,
      'drift.detected delivered',
    );
    await eventually(
      async () => receiver.countsByEvent('deployment.completed').size,
      (n) => n >= 1,
      30_000,
      'deployment.completed delivered',
    );
    await sleep(3000);
    // each drift event the cloud raised is delivered once
    await eventually(
      async () => receiver.countsByEvent('drift.detected').size,
      (n) => n >= allDrift.length,
      30_000,
      'a drift.detected delivery for every drift event',
    );
    expect([...receiver.countsByEvent('drift.detected').values()]).toEqual(allDrift.map(() => 1));
    expect([...receiver.countsByEvent('deployment.completed').values()]).toEqual([1]);
    expect([...receiver.countsByEvent('model.version.created').values()]).toEqual([1, 1]);
    expect(receiver.duplicates()).toEqual([]);
  }, 300_000);
});
