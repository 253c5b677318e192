import type { Deployment, StatefulSet } from 'kubernetes-types/apps/v1';
import type { ConfigMap, Container, PodSpec, Secret, Service, ServiceAccount } from 'kubernetes-types/core/v1';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1';
import { CLOUD_PORT, httpProbe, images, labels, literalEnv, names, restrictedContainer, selector } from './names.ts';

/**
 * The cloud on Kubernetes: stateless API replicas (a Deployment) in front, BullMQ worker replicas (a
 * StatefulSet, for a stable MQTT client id and persistent session per pod) behind, both from one image
 * and one configuration. Variable names are exactly those of docs/configuration.md
 * (apps/cloud/src/config/cloud.config.ts).
 */

/** Settings that are not credentials. Endpoints (REDIS_URL, MQTT_URL, S3_ENDPOINT…) are set by the overlay. */
export const cloudConfig: ConfigMap = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: names.cloudConfig, labels: labels('cloud') },
  data: {
    EDGELOOP_HTTP_HOST: '0.0.0.0',
    EDGELOOP_HTTP_PORT: String(CLOUD_PORT),
    EDGELOOP_LOG_LEVEL: 'log',
    // reachable from the cluster network: Prometheus and the OpenAPI page need a viewer token
    EDGELOOP_METRICS_PUBLIC: 'false',
    EDGELOOP_DOCS_PUBLIC: 'false',
    // Mosquitto's dynamic-security plugin: one client and role per device, driven by the cloud
    MQTT_ACL: 'dynsec',
    MQTT_USERNAME: 'edgeloop-admin',
    // each prediction batch goes to one replica of the group, not to all of them (docs/scaling.md)
    MQTT_SHARE_GROUP: 'edgeloop-cloud',
    S3_BUCKET: 'edgeloop',
  },
};

/**
 * Every credential, and nothing else. The values committed here are placeholders the cloud refuses at
 * boot (`change-me`, naming each variable): replace the Secret before the pods can start (docs/scaling.md).
 */
export const cloudCredentials: Secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: names.cloudCredentials, labels: labels('cloud') },
  type: 'Opaque',
  stringData: {
    EDGELOOP_BOOTSTRAP_TOKEN: 'change-me',
    // seals the generated manifest-signing key in SQL, where every replica finds it (32 bytes, base64)
    EDGELOOP_SECRETS_KEY: 'change-me',
    DATABASE_URL: 'postgres://edgeloop:change-me@postgres:5432/edgeloop',
    REDIS_URL: 'redis://redis:6379',
    MQTT_PASSWORD: 'change-me',
    S3_ACCESS_KEY: 'edgeloop',
    S3_SECRET_KEY: 'change-me',
  },
};

export const cloudServiceAccount: ServiceAccount = {
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name: names.cloudServiceAccount, labels: labels('cloud') },
  // the cloud never talks to the Kubernetes API
  automountServiceAccountToken: false,
};

function cloudContainer(workers: boolean, extraEnv: Container['env'] = []): Container {
  return {
    name: 'cloud',
    image: images.cloud,
    ports: [{ name: 'http', containerPort: CLOUD_PORT }],
    envFrom: [{ configMapRef: { name: names.cloudConfig } }, { secretRef: { name: names.cloudCredentials } }],
    // API pods leave the devices' predictions and hard examples to the worker pods of the share group, so their
    // event loop serves HTTP however hard the fleet sends (docs/scaling.md)
    env: [...literalEnv({ NODE_ENV: 'production', EDGELOOP_WORKERS: String(workers), EDGELOOP_PREDICTION_INTAKE: String(workers) }), ...extraEnv],
    // readiness: every component (SQL, S3, Redis, MQTT) answers, else no traffic (503 from /api/v1/health)
    readinessProbe: httpProbe('/api/v1/health', CLOUD_PORT, 5, 2),
    // liveness: only that the process answers, so an outage of Redis or S3 does not restart every pod
    livenessProbe: httpProbe('/api/v1/health/live', CLOUD_PORT, 10, 3),
    // migrations and bucket creation run at boot
    startupProbe: httpProbe('/api/v1/health/live', CLOUD_PORT, 2, 60),
    resources: workers
      ? { requests: { cpu: '500m', memory: '384Mi' }, limits: { memory: '1Gi' } }
      : { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '768Mi' } },
    volumeMounts: [
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'data', mountPath: '/app/data' },
    ],
    ...restrictedContainer,
  };
}

function cloudPod(container: Container): PodSpec {
  return {
    serviceAccountName: names.cloudServiceAccount,
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
    // SIGTERM: stop taking requests and messages, finish the jobs in hand
    terminationGracePeriodSeconds: 30,
    containers: [container],
    volumes: [
      { name: 'tmp', emptyDir: {} },
      { name: 'data', emptyDir: {} },
    ],
  };
}

/** Stateless API replicas: REST, dashboard, SSE; they enqueue jobs but run no ingest/drift/webhook worker. */
export const api: Deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: names.api, labels: labels('api') },
  spec: {
    replicas: 2,
    selector: selector('api'),
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
    template: {
      metadata: { labels: labels('api') },
      spec: {
        ...cloudPod(cloudContainer(false)),
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: selector('api') }],
      },
    },
  },
};

export const apiService: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: names.api, labels: labels('api') },
  spec: { selector: selector('api').matchLabels, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
};

/**
 * Worker replicas (`EDGELOOP_WORKERS=true`: ingest, drift, webhook delivery). A StatefulSet gives each pod a
 * stable name, used as its MQTT client id: with `MQTT_CLIENT_ID` set the cloud keeps a persistent session
 * (`clean: false`), so the broker queues this replica's QoS 1 messages while it restarts. Ids differ per
 * pod (two clients with one id take the session from each other).
 */
export const worker: StatefulSet = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: { name: names.worker, labels: labels('worker') },
  spec: {
    serviceName: names.worker,
    replicas: 2,
    podManagementPolicy: 'Parallel',
    selector: selector('worker'),
    template: {
      metadata: { labels: labels('worker') },
      spec: cloudPod(cloudContainer(true, [{ name: 'MQTT_CLIENT_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }])),
    },
  },
};

/** Headless: the StatefulSet's governing Service (stable pod names); workers take no traffic from it. */
export const workerService: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: names.worker, labels: labels('worker') },
  spec: { clusterIP: 'None', selector: selector('worker').matchLabels, ports: [{ name: 'http', port: CLOUD_PORT, targetPort: 'http' }] },
};

export const apiDisruptionBudget: PodDisruptionBudget = {
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: names.api, labels: labels('api') },
  spec: { minAvailable: 1, selector: selector('api') },
};

export const workerDisruptionBudget: PodDisruptionBudget = {
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name: names.worker, labels: labels('worker') },
  spec: { maxUnavailable: 1, selector: selector('worker') },
};

/**
 * Checked by `tsc` (deploy/kubernetes/manifests.int.ts): a field Kubernetes does not know is a compile
 * error, so a typo cannot reach a cluster as a silently ignored key.
 */
export const typoCheck: PodDisruptionBudget['spec'] = {
  // @ts-expect-error -- `minAvailible` is not a field of PodDisruptionBudgetSpec
  minAvailible: 1,
  selector: selector('api'),
};
