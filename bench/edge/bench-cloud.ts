import { apiPaths, type DeploymentResponse, type ModelVersionResponse, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { buildIdentityHead, EMBEDDING_SIZE, l2Normalise } from '@edgeloop/vision';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startCloudFixture, type CloudFixture } from '../../apps/cloud/src/testing/cloud-fixture';

export const MODEL_NAME = 'face-id';
const DEVICE_GROUP = 'bench-edge';
const LABELS = ['ann', 'ben', 'cem'];

/**
 * The cloud side of the hot-switch run: the cloud fixture (s3rver, PGlite, Redis and a broker with the
 * cloud's device ACLs) in this process, driven only through its REST API as an operator would.
 */
export class BenchCloud {
  private constructor(readonly fixture: CloudFixture) {}

  static async start(broker: 'mosquitto' | 'embedded'): Promise<BenchCloud> {
    return new BenchCloud(await startCloudFixture({ broker }));
  }

  get mqttUrl(): string {
    if (!this.fixture.mqttUrl) throw new Error('the cloud fixture has no broker');
    return this.fixture.mqttUrl;
  }

  get url(): string {
    return this.fixture.url;
  }

  /** Registers one version of the base bundle with its own identity head (so versions differ by the head only). */
  async uploadVersion(root: string, seed: number): Promise<ModelVersionResponse> {
    const base = path.join(root, 'models', 'base');
    const form = new FormData();
    form.append('manifest', JSON.stringify({ labels: LABELS }));
    const parts: Record<string, Uint8Array> = {
      detector: readFileSync(path.join(base, 'fr_detect.onnx')),
      landmarks: readFileSync(path.join(base, 'fr_landmark.onnx')),
      embedder: readFileSync(path.join(base, 'fr_feature.onnx')),
      head: identityHead(LABELS, seed),
    };
    for (const [role, bytes] of Object.entries(parts)) form.append(role, new Blob([new Uint8Array(bytes)]), `${role}.onnx`);
    return this.json<ModelVersionResponse>(apiPaths.modelVersions(MODEL_NAME), { method: 'POST', body: form }, 201);
  }

  async provisionDevice(name: string): Promise<ProvisionDeviceResponse> {
    return this.json<ProvisionDeviceResponse>(apiPaths.devices(), jsonBody('POST', { name, group: DEVICE_GROUP }), 201);
  }

  /** `POST /api/v1/deployments`: strategy `all` to the bench's device group. */
  async deploy(version: number): Promise<DeploymentResponse> {
    return this.json<DeploymentResponse>(apiPaths.deployments(), jsonBody('POST', { model: `${MODEL_NAME}@${version}`, target: { group: DEVICE_GROUP } }), 201);
  }

  /** `POST /api/v1/deployments/{id}/rollback`: the device goes back to the version it ran before. */
  async rollback(id: string): Promise<DeploymentResponse> {
    return this.json<DeploymentResponse>(apiPaths.deploymentRollback(id), jsonBody('POST', { reason: 'bench: alternate versions' }), [200, 201]);
  }

  async deployment(id: string): Promise<DeploymentResponse> {
    return this.json<DeploymentResponse>(apiPaths.deployment(id), {}, 200);
  }

  async device(id: string): Promise<{ presence: string; reported: { state: string; running: { name: string; version: number } | null } | null }> {
    return this.json(apiPaths.device(id), {}, 200);
  }

  stop(): Promise<void> {
    return this.fixture.stop();
  }

  private async json<T>(route: string, init: RequestInit, expected: number | number[]): Promise<T> {
    const res = await this.fixture.api(route, init);
    const ok = Array.isArray(expected) ? expected.includes(res.status) : res.status === expected;
    if (!ok) throw new Error(`${init.method ?? 'GET'} ${route} answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
    return (await res.json()) as T;
  }
}

function jsonBody(method: string, body: unknown): RequestInit {
  return { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
}

/** A real identity head (MatMul against unit prototypes), seeded so each version's head differs. */
function identityHead(labels: string[], seed: number): Uint8Array {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return buildIdentityHead({ labels, prototypes: labels.map(() => l2Normalise(Float32Array.from({ length: EMBEDDING_SIZE }, random))) });
}
