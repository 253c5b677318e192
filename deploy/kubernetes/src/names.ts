import type { Container, EnvVar, Probe } from 'kubernetes-types/core/v1';

/**
 * Names shared by the objects: one place, so a Service selector and its pods, or an `envFrom` and its
 * ConfigMap, cannot drift apart.
 */
export const APP = 'edgeloop';
export const NAMESPACE = 'edgeloop';

export const images = {
  /** Built from apps/cloud/Dockerfile; overlays and operators set the registry with `kustomize edit set image`. */
  cloud: 'edgeloop/cloud:0.1.0',
  /** Built from apps/edge/Dockerfile (Node 24 slim, runs as `node`, uid 1000). */
  edge: 'edgeloop/edge:0.1.0',
  /** Prepares the hostPath state folder for the non-root edge user. */
  busybox: 'busybox:1.36.1',
};

export const names = {
  cloudConfig: 'edgeloop-cloud-config',
  cloudCredentials: 'edgeloop-cloud-credentials',
  cloudServiceAccount: 'edgeloop-cloud',
  api: 'edgeloop-api',
  worker: 'edgeloop-worker',
  edgeConfig: 'edgeloop-edge-config',
  edgeEnrolment: 'edgeloop-edge-enrolment',
  edge: 'edgeloop-edge',
  depsCredentials: 'edgeloop-deps-credentials',
  redis: 'edgeloop-redis',
  mqtt: 'edgeloop-mqtt',
  minio: 'edgeloop-minio',
  postgres: 'edgeloop-postgres',
};

export const CLOUD_PORT = 8080;
export const EDGE_HEALTH_PORT = 9464;
/** Where the edge keeps its model store, outbox and enrolment credentials, on the node (hostPath) and in the container. */
export const EDGE_STATE_DIR = '/var/lib/edgeloop';

/** `app.kubernetes.io/*` labels of one component. */
export function labels(component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': APP, 'app.kubernetes.io/component': component, 'app.kubernetes.io/part-of': APP };
}

/** The subset a selector uses (selectors are immutable, so they never carry a version). */
export function selector(component: string): { matchLabels: Record<string, string> } {
  return { matchLabels: { 'app.kubernetes.io/name': APP, 'app.kubernetes.io/component': component } };
}

export function httpProbe(path: string, port: number, periodSeconds: number, failureThreshold: number): Probe {
  return { httpGet: { path, port }, periodSeconds, timeoutSeconds: 3, failureThreshold };
}

export function literalEnv(values: Record<string, string>): EnvVar[] {
  return Object.entries(values).map(([name, value]) => ({ name, value }));
}

/** Non-root, no privilege escalation, no capabilities, read-only root file system. */
export const restrictedContainer: Pick<Container, 'securityContext'> = {
  securityContext: {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  },
};
