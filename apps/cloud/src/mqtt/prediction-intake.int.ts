import { topicFilters, topics } from '@edgeloop/contracts';
import { freePort, startDatabase, type DatabaseHandle } from '@edgeloop/harness';
import mqtt from 'mqtt';
import { startCloud, type RunningCloud } from '../app/bootstrap';
import { CloudConfig } from '../config/cloud.config';
import { adminApi, startCloudDependencies, type CloudDependencies } from '../testing/cloud-fixture';
import { makeBatch, STABLE } from '../testing/prediction-batches';
import { DeviceChannel } from './device-channel';

const SHARE_GROUP = 'edgeloop-cloud';
const BATCHES = 20;
const FRAMES_PER_BATCH = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The production shape of docs/scaling.md: an API replica (`EDGELOOP_WORKERS=false`, `EDGELOOP_PREDICTION_INTAKE=false`)
 * and a worker replica on one PostgreSQL, one Redis and Mosquitto with dynamic security and a share group. The API
 * replica subscribes to the devices' `reported` and `status` only: every batch a device publishes is taken, counted
 * and aggregated by the worker replica, and none reaches the API replica's event loop.
 */
describe('an API replica without prediction intake', () => {
  let db: DatabaseHandle;
  let deps: CloudDependencies;
  const clouds: RunningCloud[] = [];

  beforeAll(async () => {
    db = await startDatabase({ engine: 'postgres' });
    deps = await startCloudDependencies({ broker: 'mosquitto', sql: 'pglite', env: { MQTT_SHARE_GROUP: SHARE_GROUP, EDGELOOP_AGGREGATE_BUCKET_SECONDS: '1' } });
    // both replicas on the one PostgreSQL database instead of the dependencies' in-memory PGlite
    const { EDGELOOP_SQL_DIR: _memory, ...env } = deps.env;
    const shared = { ...env, DATABASE_URL: db.url };
    // the API replica first: it migrates SQL
    clouds.push(
      await startCloud(CloudConfig.fromEnv({ ...shared, MQTT_CLIENT_ID: 'edgeloop-api', EDGELOOP_WORKERS: 'false', EDGELOOP_PREDICTION_INTAKE: 'false' })),
    );
    clouds.push(await startCloud(CloudConfig.fromEnv({ ...shared, EDGELOOP_HTTP_PORT: String(await freePort()), MQTT_CLIENT_ID: 'edgeloop-worker' })));
  }, 120_000);

  afterAll(async () => {
    for (const cloud of clouds.reverse()) await cloud.close().catch(() => undefined);
    await deps?.stop();
    await db?.stop();
  }, 60_000);

  it("leaves the devices' predictions to the worker replica, which counts every batch once", async () => {
    const [apiReplica, workerReplica] = clouds;
    const apiChannel = apiReplica.app.get(DeviceChannel);
    const workerChannel = workerReplica.app.get(DeviceChannel);
    const shared = (filter: string) => `$share/${SHARE_GROUP}/${filter}`;
    expect([...apiChannel.subscribedFilters].sort()).toEqual([topicFilters.reported, topicFilters.status].sort());
    expect([...workerChannel.subscribedFilters].sort()).toEqual(
      [topicFilters.reported, topicFilters.status, shared(topicFilters.predictions), shared(topicFilters.hardExamples)].sort(),
    );

    const api = adminApi(() => apiReplica.url, deps.adminToken);
    const created = await api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id: 'cam-pi', name: 'cam-pi' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(created.status).toBe(201);
    const { credentials } = (await created.json()) as { credentials: { mqtt: { password: string } } };
    const device = await mqtt.connectAsync(deps.mqttUrl!, { clientId: 'cam-pi', username: 'cam-pi', password: credentials.mqtt.password });
    const apiReceivedBefore = apiChannel.counters.received;
    try {
      for (let seq = 1; seq <= BATCHES; seq++) {
        const batch = makeBatch('cam-pi', seq, { name: 'face-id', version: 1 }, STABLE, { frames: FRAMES_PER_BATCH });
        await device.publishAsync(topics.predictions('cam-pi'), JSON.stringify(batch), { qos: 1 });
      }
      const expected = BATCHES * FRAMES_PER_BATCH;
      const deadline = Date.now() + 30_000;
      let frames = 0;
      while (Date.now() < deadline) {
        const body = (await (await api('/api/v1/metrics/predictions?device=cam-pi&bucket=day')).json()) as { rows?: Array<{ frames: number }> };
        frames = (body.rows ?? []).reduce((n, r) => n + r.frames, 0);
        if (frames >= expected) break;
        await sleep(200);
      }
      expect(frames).toBe(expected);
      expect(workerChannel.counters.received).toBeGreaterThanOrEqual(BATCHES);
      // this device publishes nothing else, so nothing at all reached the API replica's channel meanwhile
      expect(apiChannel.counters.received - apiReceivedBefore).toBe(0);
    } finally {
      await device.endAsync();
    }
  }, 60_000);
});
