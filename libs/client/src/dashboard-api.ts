import {
  apiPaths,
  DeploymentListResponseSchema,
  DeploymentResponseSchema,
  DeviceListResponseSchema,
  DeviceQuotaResponseSchema,
  DeviceSummarySchema,
  DriftEventListResponseSchema,
  EnrolmentResponseSchema,
  HardExampleClustersResponseSchema,
  HardExampleListResponseSchema,
  HardExampleResponseSchema,
  IdentityDetailResponseSchema,
  IdentityListResponseSchema,
  IdentitySchema,
  identityPaths,
  LabelHardExamplesResponseSchema,
  LiftQuarantineResponseSchema,
  ModelAliasesResponseSchema,
  ModelListResponseSchema,
  ModelVersionListResponseSchema,
  ModelVersionResponseSchema,
  PredictionMetricsResponseSchema,
  ProvisionDeviceResponseSchema,
  PublicKeysResponseSchema,
  RetrainingRunListSchema,
  RetrainingRunSchema,
  SessionResponseSchema,
  sessionPaths,
  SetAliasResponseSchema,
  SignInLinkResponseSchema,
  WebhookDeliveryListResponseSchema,
  WebhookDeliverySchema,
  WebhookListResponseSchema,
  WebhookSubscriptionSchema,
  type CreateDeploymentRequest,
  type CreateWebhookRequest,
  type DeploymentResponse,
  type DeviceQuotaResponse,
  type DeviceSummary,
  type DriftEventResponse,
  type EnrolmentResponse,
  type HardExampleClustersResponse,
  type HardExampleLabel,
  type HardExampleReason,
  type HardExampleResponse,
  type HardExampleVerdict,
  type Identity,
  type IdentityDetail,
  type LabelHardExamplesResponse,
  type LiftQuarantineResponse,
  type ModelSummary,
  type ModelVersionResponse,
  type OpenSessionRequest,
  type PredictionMetricsQuery,
  type PredictionMetricsResponse,
  type ProvisionDeviceRequest,
  type ProvisionDeviceResponse,
  type PublicKeysResponse,
  type RetrainingRun,
  type SessionResponse,
  type SetAliasResponse,
  type SignInLinkResponse,
  type StartRetrainingRequest,
  type UpdateIdentityRequest,
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

export interface DriftEventQuery {
  model?: string;
  version?: number;
  since?: string;
  limit?: number;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const entries = Object.entries(params).filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined && entry[1] !== '');
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
}

/**
 * The REST API, one method per route, every answer read with its response schema from `@edgeloop/contracts`
 * (an answer that does not match is an `ApiResponseError` naming the route). Runs in the browser (session
 * cookie) and in Node (bearer token) alike; the CLI and the dashboard use it.
 */
export class EdgeloopApi {
  constructor(readonly client: ApiClient) {}

  // sessions
  openSession(body: OpenSessionRequest): Promise<SessionResponse> {
    return this.client.call('POST', sessionPaths.sessions(), SessionResponseSchema, body);
  }
  me(): Promise<SessionResponse> {
    return this.client.call('GET', sessionPaths.me(), SessionResponseSchema);
  }
  closeSession(): Promise<void> {
    return this.client.callNoContent('DELETE', sessionPaths.current());
  }
  createSignInLink(): Promise<SignInLinkResponse> {
    return this.client.call('POST', sessionPaths.links(), SignInLinkResponseSchema, {});
  }

  // devices and rollouts
  async devices(group?: string): Promise<DeviceSummary[]> {
    return (await this.client.call('GET', `${apiPaths.devices()}${query({ group })}`, DeviceListResponseSchema)).devices;
  }
  device(id: string): Promise<DeviceSummary> {
    return this.client.call('GET', apiPaths.device(id), DeviceSummarySchema);
  }
  /** The device's credentials are in this answer only. */
  provisionDevice(body: ProvisionDeviceRequest): Promise<ProvisionDeviceResponse> {
    return this.client.call('POST', apiPaths.devices(), ProvisionDeviceResponseSchema, body);
  }
  setDeviceDisabled(id: string, disabled: boolean): Promise<DeviceSummary> {
    return this.client.call('POST', apiPaths.deviceDisabled(id), DeviceSummarySchema, { disabled });
  }
  deviceQuota(id: string): Promise<DeviceQuotaResponse> {
    return this.client.call('GET', apiPaths.deviceQuota(id), DeviceQuotaResponseSchema);
  }
  liftQuarantine(id: string): Promise<LiftQuarantineResponse> {
    return this.client.call('POST', apiPaths.deviceQuarantineLift(id), LiftQuarantineResponseSchema, {});
  }
  async deployments(): Promise<DeploymentResponse[]> {
    return (await this.client.call('GET', apiPaths.deployments(), DeploymentListResponseSchema)).deployments;
  }
  deployment(id: string): Promise<DeploymentResponse> {
    return this.client.call('GET', apiPaths.deployment(id), DeploymentResponseSchema);
  }
  createDeployment(body: CreateDeploymentRequest): Promise<DeploymentResponse> {
    return this.client.call('POST', apiPaths.deployments(), DeploymentResponseSchema, body);
  }
  rollback(id: string, reason?: string): Promise<DeploymentResponse> {
    return this.client.call('POST', apiPaths.deploymentRollback(id), DeploymentResponseSchema, reason ? { reason } : {});
  }

  // registry
  async models(): Promise<ModelSummary[]> {
    return (await this.client.call('GET', apiPaths.models(), ModelListResponseSchema)).models;
  }
  /** Every version of a model, oldest first, with the aliases that point at it. */
  async versions(name: string): Promise<ModelVersionResponse[]> {
    return (await this.client.call('GET', apiPaths.modelVersions(name), ModelVersionListResponseSchema)).versions;
  }
  /** A version by number, alias or `latest`. */
  version(name: string, versionOrAlias: number | string): Promise<ModelVersionResponse> {
    return this.client.call('GET', apiPaths.modelVersion(name, versionOrAlias), ModelVersionResponseSchema);
  }
  async aliases(name: string): Promise<Record<string, number>> {
    return (await this.client.call('GET', apiPaths.modelAliases(name), ModelAliasesResponseSchema)).aliases;
  }
  setAlias(name: string, alias: string, version: number): Promise<SetAliasResponse> {
    return this.client.call('PUT', apiPaths.modelAlias(name, alias), SetAliasResponseSchema, { version });
  }
  deleteAlias(name: string, alias: string): Promise<void> {
    return this.client.callNoContent('DELETE', apiPaths.modelAlias(name, alias));
  }
  /** The registry's signing keys (SPKI PEM). */
  publicKeys(): Promise<PublicKeysResponse> {
    return this.client.call('GET', apiPaths.keys(), PublicKeysResponseSchema);
  }

  // metrics and drift
  predictionMetrics(params: PredictionMetricsQuery): Promise<PredictionMetricsResponse> {
    return this.client.call('GET', `${apiPaths.predictionMetrics()}${query({ ...params })}`, PredictionMetricsResponseSchema);
  }
  async driftEvents(params: DriftEventQuery = {}): Promise<DriftEventResponse[]> {
    return (await this.client.call('GET', `${apiPaths.driftEvents()}${query({ ...params })}`, DriftEventListResponseSchema)).events;
  }

  // labelling
  async hardExamples(params: HardExampleQuery = {}): Promise<HardExampleResponse[]> {
    return (await this.client.call('GET', `${apiPaths.hardExamples()}${query({ ...params })}`, HardExampleListResponseSchema)).hardExamples;
  }
  labelHardExample(id: string, label: HardExampleLabel): Promise<HardExampleResponse> {
    return this.client.call('POST', apiPaths.hardExampleLabel(id), HardExampleResponseSchema, label);
  }
  labelHardExamples(ids: string[], label: HardExampleVerdict): Promise<LabelHardExamplesResponse> {
    return this.client.call('POST', identityPaths.hardExampleLabels(), LabelHardExamplesResponseSchema, { ids, label });
  }
  hardExampleClusters(params: { model?: string; minSize?: number } = {}): Promise<HardExampleClustersResponse> {
    return this.client.call('GET', `${identityPaths.hardExampleClusters()}${query(params)}`, HardExampleClustersResponseSchema);
  }

  // identities
  async identities(): Promise<Identity[]> {
    return (await this.client.call('GET', identityPaths.identities(), IdentityListResponseSchema)).identities;
  }
  /** By id or name, with its enrolment photos. */
  identity(idOrName: string): Promise<IdentityDetail> {
    return this.client.call('GET', identityPaths.identity(idOrName), IdentityDetailResponseSchema);
  }
  createIdentity(name: string, displayName?: string): Promise<Identity> {
    return this.client.call('POST', identityPaths.identities(), IdentitySchema, displayName ? { name, displayName } : { name });
  }
  updateIdentity(idOrName: string, change: UpdateIdentityRequest): Promise<Identity> {
    return this.client.call('PATCH', identityPaths.identity(idOrName), IdentitySchema, change);
  }
  /** Every photo and label of `from` moves to `into`; `from` is deleted. */
  mergeIdentity(into: string, from: string): Promise<Identity> {
    return this.client.call('POST', identityPaths.merge(into), IdentitySchema, { from });
  }
  deleteIdentity(idOrName: string): Promise<void> {
    return this.client.callNoContent('DELETE', identityPaths.identity(idOrName));
  }
  /** Multipart: one `photos` part per file; `model` picks the embedder (`name@ref`). */
  enrolPhotos(id: string, photos: FormData, model?: string): Promise<EnrolmentResponse> {
    return this.client.call('POST', `${identityPaths.photos(id)}${query({ model })}`, EnrolmentResponseSchema, photos);
  }

  // retraining
  async retrainingRuns(model?: string): Promise<RetrainingRun[]> {
    return (await this.client.call('GET', `${apiPaths.retrainingJobs()}${query({ model })}`, RetrainingRunListSchema)).runs;
  }
  retrainingRun(id: string): Promise<RetrainingRun> {
    return this.client.call('GET', apiPaths.retrainingJob(id), RetrainingRunSchema);
  }
  startRetraining(body: StartRetrainingRequest): Promise<RetrainingRun> {
    return this.client.call('POST', apiPaths.retrainingJobs(), RetrainingRunSchema, body);
  }

  // webhooks
  async webhooks(): Promise<WebhookSubscription[]> {
    return (await this.client.call('GET', apiPaths.webhooks(), WebhookListResponseSchema)).webhooks;
  }
  /** The subscription with its secret (shown in this answer only). */
  createWebhook(body: CreateWebhookRequest): Promise<WebhookSubscription> {
    return this.client.call('POST', apiPaths.webhooks(), WebhookSubscriptionSchema, body);
  }
  deleteWebhook(id: string): Promise<void> {
    return this.client.callNoContent('DELETE', apiPaths.webhook(id));
  }
  async deliveries(webhookId: string, limit = 50): Promise<WebhookDelivery[]> {
    return (await this.client.call('GET', `${apiPaths.webhookDeliveries(webhookId)}${query({ limit })}`, WebhookDeliveryListResponseSchema)).deliveries;
  }
  redeliver(webhookId: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.client.call('POST', apiPaths.webhookRedeliver(webhookId, deliveryId), WebhookDeliverySchema, {});
  }
}
