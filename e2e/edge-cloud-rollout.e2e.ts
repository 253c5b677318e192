/**
 * @jest-environment ./libs/vision/test/onnx-environment.js
 */
import type { DeploymentResponse, ProvisionDeviceResponse } from '@edgeloop/contracts';
import { startCloudFixture, type CloudFixture } from '../apps/cloud/src/testing/cloud-fixture';
import { baseFiles, makeHead, uploadForm } from '../apps/cloud/src/testing/upload-form';
import { EdgeConfig } from '../apps/edge/src/config/edge.config';
import { edgeTestEnv, franckFrames, tempStateDir } from '../apps/edge/src/testing/edge-env';
import { LockstepSource } from '../apps/edge/src/testing/lockstep-source';
import { EdgeWorker } from '../apps/edge/src/worker';

const plain = async <T>(res: Response): Promise<T> => JSON.parse(JSON.stringify(await res.json())) as T;

/**
 * The worker with credentials from the cloud's own provisioning, behind the broker ACLs the cloud sets
 * (Mosquitto dynamic security, aedes hooks), following rollouts made through the REST API.
 */
describe.each(['mosquitto', 'embedded'] as const)('a provisioned worker follows rollouts from the cloud (%s broker)', (broker) => {
  let fx: CloudFixture;
  let worker: EdgeWorker;
  let source: LockstepSource;
  let running: Promise<unknown>;
  const state = tempStateDir();

  beforeAll(async () => {
    fx = await startCloudFixture({ broker });
    const labels = ['ann', 'ben'];
    for (const seed of [1, 2]) {
      const res = await fx.api('/api/v1/models/face-id/versions', {
        method: 'POST',
        body: uploadForm({ ...baseFiles, head: makeHead(labels, seed) }, { labels }),
      });
      expect(res.status).toBe(201);
    }
    const res = await fx.api('/api/v1/devices', {
      method: 'POST',
      body: JSON.stringify({ name: 'lab camera', group: 'lab' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const provisioned = await plain<ProvisionDeviceResponse>(res);
    const config = EdgeConfig.fromEnv(
      edgeTestEnv({
        EDGE_DEVICE_ID: provisioned.device.id,
        EDGE_STATE_DIR: state.dir,
        EDGE_MQTT_URL: fx.mqttUrl,
        EDGE_MQTT_PASSWORD: provisioned.credentials.mqtt.password,
        EDGE_CLOUD_URL: fx.url,
        EDGE_HTTP_TOKEN: provisioned.credentials.http.token,
        EDGE_SIGNING_PUBLIC_KEY: provisioned.signingKey.publicKey,
      }),
    );
    source = new LockstepSource(franckFrames(), Number.POSITIVE_INFINITY, 50);
    worker = new EdgeWorker(config, { source });
    await worker.start();
    running = worker.run();
  });

  afterAll(async () => {
    source?.stop();
    await worker?.stop();
    await running?.catch(() => undefined);
    await fx?.stop();
    state.remove();
  });

  it.each([1, 2])('deploys face-id@%i with strategy all: the deployment completes and the worker serves it', async (version) => {
    const res = await fx.api('/api/v1/deployments', {
      method: 'POST',
      body: JSON.stringify({ model: `face-id@${version}`, target: { group: 'lab' } }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    const { id } = await plain<DeploymentResponse>(res);
    let deployment: DeploymentResponse;
    const deadline = Date.now() + 30_000;
    do {
      await new Promise((resolve) => setTimeout(resolve, 200));
      deployment = await plain<DeploymentResponse>(await fx.api(`/api/v1/deployments/${id}`));
    } while (['pending', 'in_progress', 'rolling_back'].includes(deployment.status) && Date.now() < deadline);
    expect(deployment.status).toBe('completed');
    expect(worker.runtime.running).toEqual({ name: 'face-id', version });
    const device = await plain<{ presence: string; reported: { state: string; running: unknown; deploymentId: string } }>(
      await fx.api(`/api/v1/devices/${worker.tracker.reported().deviceId}`),
    );
    expect(device).toMatchObject({ presence: 'online', reported: { state: 'active', running: { name: 'face-id', version }, deploymentId: id } });
  });
});
