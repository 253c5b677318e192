import type { StatefulSet } from 'kubernetes-types/apps/v1';
import type { ConfigMap, Container, PersistentVolumeClaim, Secret, Service } from 'kubernetes-types/core/v1';
import { labels, names, selector } from './names.ts';

/**
 * The `embedded-deps` overlay: Redis, Mosquitto, MinIO and PostgreSQL inside the cluster, one pod each
 * with a volume — what `npm start` runs as child processes or inside the cloud process, made durable.
 * Single replicas: for failover use managed services (the `external-deps` overlay).
 */

export const depsImages = {
  redis: 'redis:7.4-alpine',
  mosquitto: 'eclipse-mosquitto:2.0',
  minio: 'minio/minio:RELEASE.2025-09-07T16-13-09Z',
  postgres: 'postgres:16-alpine',
};

export const depsCredentials: Secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: names.depsCredentials, labels: labels('deps') },
  type: 'Opaque',
  // placeholders, as in the base: the same values go into edgeloop-cloud-credentials (docs/scaling.md)
  stringData: { MINIO_ROOT_USER: 'edgeloop', MINIO_ROOT_PASSWORD: 'change-me', POSTGRES_PASSWORD: 'change-me', MQTT_ADMIN_PASSWORD: 'change-me' },
};

function volumeClaim(size: string): PersistentVolumeClaim {
  return { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } } } };
}

function secretEnv(...keys: string[]): Container['env'] {
  return keys.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: names.depsCredentials, key } } }));
}

function statefulSet(name: string, component: string, container: Container, size: string, extra: { configMap?: string } = {}): StatefulSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels: labels(component) },
    spec: {
      serviceName: name,
      replicas: 1,
      selector: selector(component),
      template: {
        metadata: { labels: labels(component) },
        spec: {
          automountServiceAccountToken: false,
          containers: [container],
          ...(extra.configMap ? { volumes: [{ name: 'config', configMap: { name: extra.configMap } }] } : {}),
        },
      },
      volumeClaimTemplates: [volumeClaim(size)],
    },
  };
}

function service(name: string, component: string, port: number): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels: labels(component) },
    spec: { selector: selector(component).matchLabels, ports: [{ name: 'main', port, targetPort: port }] },
  };
}

export const redis = statefulSet(
  names.redis,
  'redis',
  {
    name: 'redis',
    image: depsImages.redis,
    // BullMQ needs keys never evicted; the append-only file keeps jobs over a restart (docs/scaling.md, Redis)
    args: ['redis-server', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction', '--dir', '/data'],
    ports: [{ containerPort: 6379 }],
    readinessProbe: { exec: { command: ['redis-cli', 'ping'] }, periodSeconds: 10 },
    volumeMounts: [{ name: 'data', mountPath: '/data' }],
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
  '5Gi',
);

/** deploy/mosquitto/mosquitto.conf, the broker configuration docker-compose.yml uses too. */
export function mosquittoConfig(conf: string): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${names.mqtt}-config`, labels: labels('mqtt') }, data: { 'mosquitto.conf': conf } };
}

export const mosquitto = statefulSet(
  names.mqtt,
  'mqtt',
  {
    name: 'mosquitto',
    image: depsImages.mosquitto,
    env: secretEnv('MQTT_ADMIN_PASSWORD'),
    // the dynamic-security admin (the cloud's MQTT_USERNAME) is created on the first start, as in docker-compose.yml
    command: ['/bin/sh', '-c'],
    args: [
      '[ -f /mosquitto/data/dynamic-security.json ] || mosquitto_ctrl dynsec init /mosquitto/data/dynamic-security.json edgeloop-admin "$MQTT_ADMIN_PASSWORD"; exec mosquitto -c /mosquitto/config/mosquitto.conf',
    ],
    ports: [{ containerPort: 1883 }],
    readinessProbe: { tcpSocket: { port: 1883 }, periodSeconds: 10 },
    volumeMounts: [
      { name: 'data', mountPath: '/mosquitto/data' },
      { name: 'config', mountPath: '/mosquitto/config' },
    ],
    resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '512Mi' } },
  },
  '1Gi',
  { configMap: `${names.mqtt}-config` },
);

export const minio = statefulSet(
  names.minio,
  'minio',
  {
    name: 'minio',
    image: depsImages.minio,
    args: ['server', '/data'],
    env: secretEnv('MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD'),
    ports: [{ containerPort: 9000 }],
    readinessProbe: { httpGet: { path: '/minio/health/ready', port: 9000 }, periodSeconds: 10 },
    volumeMounts: [{ name: 'data', mountPath: '/data' }],
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  },
  '50Gi',
);

export const postgres = statefulSet(
  names.postgres,
  'postgres',
  {
    name: 'postgres',
    image: depsImages.postgres,
    env: [
      { name: 'POSTGRES_USER', value: 'edgeloop' },
      { name: 'POSTGRES_DB', value: 'edgeloop' },
      { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
      ...(secretEnv('POSTGRES_PASSWORD') ?? []),
    ],
    ports: [{ containerPort: 5432 }],
    readinessProbe: { exec: { command: ['pg_isready', '-U', 'edgeloop'] }, periodSeconds: 10 },
    volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '2Gi' } },
  },
  '20Gi',
);

export const depsServices: Service[] = [
  service(names.redis, 'redis', 6379),
  service(names.mqtt, 'mqtt', 1883),
  service(names.minio, 'minio', 9000),
  service(names.postgres, 'postgres', 5432),
];
