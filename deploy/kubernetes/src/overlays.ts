import type { ConfigMap, Secret } from 'kubernetes-types/core/v1';
import { NAMESPACE, names } from './names.ts';

/** The fields of a kustomization.yaml this layout uses (kustomize v5; kubernetes-types has no type for it). */
export interface Kustomization {
  apiVersion: 'kustomize.config.k8s.io/v1beta1';
  kind: 'Kustomization';
  namespace?: string;
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean }>;
  resources: string[];
  patches?: Array<{ path: string }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
}

/** Strategic-merge patch of the cloud ConfigMap: the endpoints of one way to run the dependencies. */
function endpointsPatch(data: Record<string, string>): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.cloudConfig }, data };
}

function credentialsPatch(stringData: Record<string, string>): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: names.cloudCredentials }, stringData };
}

/** In-cluster dependencies: the cloud reaches them by Service name. */
export const embeddedEndpoints = endpointsPatch({
  MQTT_URL: `mqtt://${names.mqtt}:1883`,
  // what provisioning and enrolment hand to devices: the broker as edge nodes reach it (a LoadBalancer or TCP ingress)
  EDGELOOP_MQTT_PUBLIC_URL: 'mqtt://mqtt.example.com:1883',
  S3_ENDPOINT: names.minio,
  S3_PORT: '9000',
  S3_USE_SSL: 'false',
});

/** The cloud's side of the in-cluster credentials: the same placeholders as edgeloop-deps-credentials. */
export const embeddedCredentials = credentialsPatch({
  DATABASE_URL: `postgres://edgeloop:change-me@${names.postgres}:5432/edgeloop`,
  REDIS_URL: `redis://${names.redis}:6379`,
  MQTT_PASSWORD: 'change-me',
  S3_ACCESS_KEY: 'edgeloop',
  S3_SECRET_KEY: 'change-me',
});

/** Managed services outside the cluster (TLS everywhere); replace the host names with yours. */
export const externalEndpoints = endpointsPatch({
  MQTT_URL: 'mqtts://mqtt.example.com:8883',
  EDGELOOP_MQTT_PUBLIC_URL: 'mqtts://mqtt.example.com:8883',
  S3_ENDPOINT: 's3.example.com',
  S3_PORT: '443',
  S3_USE_SSL: 'true',
  S3_REGION: 'us-east-1',
});

export const externalCredentials = credentialsPatch({
  DATABASE_URL: 'postgres://edgeloop:change-me@postgres.example.com:5432/edgeloop?sslmode=require',
  REDIS_URL: 'rediss://:change-me@redis.example.com:6380',
});

export const baseKustomization: Kustomization = {
  apiVersion: 'kustomize.config.k8s.io/v1beta1',
  kind: 'Kustomization',
  namespace: NAMESPACE,
  labels: [{ pairs: { 'app.kubernetes.io/managed-by': 'kustomize' } }],
  resources: [
    'namespace.yaml',
    'cloud-config.yaml',
    'cloud-credentials.yaml',
    'cloud-service-account.yaml',
    'api.yaml',
    'worker.yaml',
    'disruption-budgets.yaml',
    'edge-config.yaml',
    'edge-enrolment.yaml',
    'edge.yaml',
  ],
};

export const embeddedKustomization: Kustomization = {
  apiVersion: 'kustomize.config.k8s.io/v1beta1',
  kind: 'Kustomization',
  namespace: NAMESPACE,
  resources: ['../../base', 'deps-credentials.yaml', 'redis.yaml', 'mosquitto.yaml', 'minio.yaml', 'postgres.yaml', 'services.yaml'],
  patches: [{ path: 'cloud-endpoints.yaml' }, { path: 'cloud-credentials.yaml' }],
};

export const externalKustomization: Kustomization = {
  apiVersion: 'kustomize.config.k8s.io/v1beta1',
  kind: 'Kustomization',
  namespace: NAMESPACE,
  resources: ['../../base'],
  patches: [{ path: 'cloud-endpoints.yaml' }, { path: 'cloud-credentials.yaml' }],
};
