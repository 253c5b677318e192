import { API_PREFIX } from '../protocol';

/** REST paths under `/api/v1`, for clients (CLI, edge, tests); segments are URL-encoded. */
const seg = (value: string | number): string => encodeURIComponent(String(value));

export const apiPaths = {
  health: () => `${API_PREFIX}/health`,
  keys: () => `${API_PREFIX}/keys`,
  models: () => `${API_PREFIX}/models`,
  modelVersions: (name: string) => `${API_PREFIX}/models/${seg(name)}/versions`,
  modelVersion: (name: string, versionOrAlias: number | string) => `${API_PREFIX}/models/${seg(name)}/versions/${seg(versionOrAlias)}`,
  modelAliases: (name: string) => `${API_PREFIX}/models/${seg(name)}/aliases`,
  modelAlias: (name: string, alias: string) => `${API_PREFIX}/models/${seg(name)}/aliases/${seg(alias)}`,
  blob: (sha256: string) => `${API_PREFIX}/blobs/${seg(sha256)}`,
  tokens: () => `${API_PREFIX}/tokens`,
  token: (id: string) => `${API_PREFIX}/tokens/${seg(id)}`,
  devices: () => `${API_PREFIX}/devices`,
  device: (id: string) => `${API_PREFIX}/devices/${seg(id)}`,
  deviceDisabled: (id: string) => `${API_PREFIX}/devices/${seg(id)}/disabled`,
  deviceQuota: (id: string) => `${API_PREFIX}/devices/${seg(id)}/quota`,
  deviceQuarantineLift: (id: string) => `${API_PREFIX}/devices/${seg(id)}/quarantine/lift`,
  deployments: () => `${API_PREFIX}/deployments`,
  deployment: (id: string) => `${API_PREFIX}/deployments/${seg(id)}`,
  deploymentRollback: (id: string) => `${API_PREFIX}/deployments/${seg(id)}/rollback`,
  predictionMetrics: () => `${API_PREFIX}/metrics/predictions`,
  driftEvents: () => `${API_PREFIX}/drift/events`,
  webhooks: () => `${API_PREFIX}/webhooks`,
  webhook: (id: string) => `${API_PREFIX}/webhooks/${seg(id)}`,
  webhookDeliveries: (id: string) => `${API_PREFIX}/webhooks/${seg(id)}/deliveries`,
  webhookRedeliver: (id: string, deliveryId: string) => `${API_PREFIX}/webhooks/${seg(id)}/deliveries/${seg(deliveryId)}/redeliver`,
  retrainingJobs: () => `${API_PREFIX}/retraining/jobs`,
  retrainingJob: (id: string) => `${API_PREFIX}/retraining/jobs/${seg(id)}`,
  hardExamples: () => `${API_PREFIX}/hard-examples`,
  hardExampleLabel: (id: string) => `${API_PREFIX}/hard-examples/${seg(id)}/label`,
} as const;
