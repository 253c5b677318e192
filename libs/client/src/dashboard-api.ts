import {
  apiPaths,
  identityPaths,
  sessionPaths,
  type CreateDeploymentRequest,
  type CreateWebhookRequest,
  type DeploymentResponse,
  type DeviceSummary,
  type DriftEventResponse,
  type EnrolmentPhoto,
  type EnrolmentResponse,
  type HardExampleClustersResponse,
  type HardExampleLabel,
  type HardExampleReason,
  type HardExampleResponse,
  type HardExampleVerdict,
  type Identity,
  type LabelHardExamplesResponse,
  type ModelSummary,
  type ModelVersionResponse,
  type OpenSessionRequest,
  type PredictionMetricsQuery,
  type PredictionMetricsResponse,
  type RetrainingRun,
  type SessionResponse,
  type SignInLinkResponse,
  type StartRetrainingRequest,
  type WebhookDelivery,
  type WebhookSubscription,
} from '@edgeloop/contracts';
import type { ApiClient } from './api-client';

export interface HardExampleQuery {
  model?: string;
  version?: number;
  device?: string;
  reason?: HardExampleReason;
  labelled?: boolean;
  limit?: number;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined && entry[1] !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}

/**
 * The REST API with its answers typed from `@edgeloop/contracts`: one method per route the dashboard (and
 * scripts) use. Runs in the browser (session cookie) and in Node (bearer token) alike.
 */
export class EdgeloopApi {
  constructor(readonly client: ApiClient) {}

  // sessions
  openSession(body: OpenSessionRequest): Promise<SessionResponse> {
    return this.client.post(sessionPaths.sessions(), body);
  }
  me(): Promise<SessionResponse> {
    return this.client.get(sessionPaths.me());
  }
  closeSession(): Promise<void> {
    return this.client.delete(sessionPaths.current());
  }
  createSignInLink(): Promise<SignInLinkResponse> {
    return this.client.post(sessionPaths.links());
  }

  // devices and rollouts
  async devices(group?: string): Promise<DeviceSummary[]> {
    return (await this.client.get<{ devices: DeviceSummary[] }>(`${apiPaths.devices()}${query({ group })}`)).devices;
  }
  device(id: string): Promise<DeviceSummary> {
    return this.client.get(apiPaths.device(id));
  }
  async deployments(): Promise<DeploymentResponse[]> {
    return (await this.client.get<{ deployments: DeploymentResponse[] }>(apiPaths.deployments())).deployments;
  }
  deployment(id: string): Promise<DeploymentResponse> {
    return this.client.get(apiPaths.deployment(id));
  }
  createDeployment(body: CreateDeploymentRequest): Promise<DeploymentResponse> {
    return this.client.post(apiPaths.deployments(), body);
  }
  rollback(id: string, reason?: string): Promise<DeploymentResponse> {
    return this.client.post(apiPaths.deploymentRollback(id), reason ? { reason } : {});
  }

  // registry
  async models(): Promise<ModelSummary[]> {
    return (await this.client.get<{ models: ModelSummary[] }>(apiPaths.models())).models;
  }
  /** Every version with its aliases (the list route answers without them, so they come from the aliases route). */
  async versions(name: string): Promise<ModelVersionResponse[]> {
    const [{ versions }, { aliases }] = await Promise.all([
      this.client.get<{ versions: Omit<ModelVersionResponse, 'aliases'>[] }>(apiPaths.modelVersions(name)),
      this.client.get<{ aliases: Record<string, number> }>(`${apiPaths.models()}/${encodeURIComponent(name)}/aliases`),
    ]);
    return versions.map((v) => ({ ...v, aliases: Object.keys(aliases).filter((alias) => aliases[alias] === v.version) }));
  }
  setAlias(name: string, alias: string, version: number): Promise<{ name: string; alias: string; version: number }> {
    return this.client.put(apiPaths.modelAlias(name, alias), { version });
  }
  deleteAlias(name: string, alias: string): Promise<void> {
    return this.client.delete(apiPaths.modelAlias(name, alias));
  }

  // metrics and drift
  predictionMetrics(params: PredictionMetricsQuery): Promise<PredictionMetricsResponse> {
    return this.client.get(`${apiPaths.predictionMetrics()}${query({ ...params })}`);
  }
  async driftEvents(params: { model?: string; version?: number; since?: string; limit?: number } = {}): Promise<DriftEventResponse[]> {
    return (await this.client.get<{ events: DriftEventResponse[] }>(`${apiPaths.driftEvents()}${query(params)}`)).events;
  }

  // labelling
  async hardExamples(params: HardExampleQuery = {}): Promise<HardExampleResponse[]> {
    return (await this.client.get<{ hardExamples: HardExampleResponse[] }>(`${apiPaths.hardExamples()}${query({ ...params })}`)).hardExamples;
  }
  labelHardExample(id: string, label: HardExampleLabel): Promise<HardExampleResponse> {
    return this.client.post(apiPaths.hardExampleLabel(id), label);
  }
  labelHardExamples(ids: string[], label: HardExampleVerdict): Promise<LabelHardExamplesResponse> {
    return this.client.post(identityPaths.hardExampleLabels(), { ids, label });
  }
  hardExampleClusters(params: { model?: string; minSize?: number } = {}): Promise<HardExampleClustersResponse> {
    return this.client.get(`${identityPaths.hardExampleClusters()}${query(params)}`);
  }

  // identities
  async identities(): Promise<Identity[]> {
    return (await this.client.get<{ identities: Identity[] }>(identityPaths.identities())).identities;
  }
  identity(id: string): Promise<Identity & { enrolmentPhotos: EnrolmentPhoto[] }> {
    return this.client.get(identityPaths.identity(id));
  }
  createIdentity(name: string, displayName?: string): Promise<Identity> {
    return this.client.post(identityPaths.identities(), displayName ? { name, displayName } : { name });
  }
  /** Multipart: one `photos` part per file. */
  enrolPhotos(id: string, photos: FormData): Promise<EnrolmentResponse> {
    return this.client.request('POST', identityPaths.photos(id), photos);
  }

  // retraining
  async retrainingRuns(model?: string): Promise<RetrainingRun[]> {
    return (await this.client.get<{ runs: RetrainingRun[] }>(`${apiPaths.retrainingJobs()}${query({ model })}`)).runs;
  }
  retrainingRun(id: string): Promise<RetrainingRun> {
    return this.client.get(apiPaths.retrainingJob(id));
  }
  startRetraining(body: StartRetrainingRequest): Promise<RetrainingRun> {
    return this.client.post(apiPaths.retrainingJobs(), body);
  }

  // webhooks
  async webhooks(): Promise<WebhookSubscription[]> {
    return (await this.client.get<{ webhooks: WebhookSubscription[] }>(apiPaths.webhooks())).webhooks;
  }
  createWebhook(body: CreateWebhookRequest): Promise<WebhookSubscription> {
    return this.client.post(apiPaths.webhooks(), body);
  }
  async deliveries(webhookId: string, limit = 50): Promise<WebhookDelivery[]> {
    return (await this.client.get<{ deliveries: WebhookDelivery[] }>(`${apiPaths.webhookDeliveries(webhookId)}${query({ limit })}`)).deliveries;
  }
  redeliver(webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.client.post(apiPaths.webhookRedeliver(webhookId, deliveryId));
  }
}
