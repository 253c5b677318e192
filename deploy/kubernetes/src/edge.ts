import type { DaemonSet } from 'kubernetes-types/apps/v1';
import type { ConfigMap, Secret } from 'kubernetes-types/core/v1';
import { EDGE_HEALTH_PORT, EDGE_STATE_DIR, httpProbe, images, labels, names, restrictedContainer, selector } from './names.ts';

/**
 * The edge worker on KubeEdge or OpenYurt edge nodes: one pod per edge node (a DaemonSet), enrolled by
 * itself with the group token from a Secret (docs/enrolment.md), its state on the node so that a new pod
 * on the same node keeps the device's id, credentials, models and outbox.
 */

/** Resource the camera device plugin advertises (generic-device-plugin configured for /dev/video*). */
export const VIDEO_DEVICE_RESOURCE = 'squat.ai/video';

/**
 * Memory: docs/benchmarks.md measured the worker at 152 MB RSS steady and 162 MB at peak with the base
 * models loaded. The request is the steady figure; the limit leaves ≈ 1.5× the peak for a model switch
 * (two versions briefly loaded) before the kernel kills it.
 */
export const EDGE_MEMORY = { request: '160Mi', limit: '256Mi' };

export const edgeConfig: ConfigMap = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: names.edgeConfig, labels: labels('edge') },
  data: {
    // the address edge nodes reach the cloud's API at (an Ingress or LoadBalancer in front of edgeloop-api)
    EDGE_CLOUD_URL: 'https://edgeloop.example.com',
    EDGE_SOURCE: 'v4l2:/dev/video0',
    EDGE_FPS: '5',
    EDGE_STATE_DIR,
    EDGE_HTTP_HOST: '0.0.0.0',
    EDGE_HTTP_PORT: String(EDGE_HEALTH_PORT),
    EDGE_SEND_CROPS: 'false',
  },
};

/** The group's enrolment token (`edgeloop enrolment-tokens create --group … --uses <nodes>`); a placeholder here. */
export const edgeEnrolment: Secret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: names.edgeEnrolment, labels: labels('edge') },
  type: 'Opaque',
  stringData: { EDGE_ENROLMENT_TOKEN: 'change-me' },
};

export const edge: DaemonSet = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: names.edge, labels: labels('edge') },
  spec: {
    selector: selector('edge'),
    updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
    template: {
      metadata: { labels: labels('edge') },
      spec: {
        // edge nodes only: KubeEdge labels them node-role.kubernetes.io/edge, OpenYurt openyurt.io/is-edge-worker=true
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'node-role.kubernetes.io/edge', operator: 'Exists' }] },
                { matchExpressions: [{ key: 'openyurt.io/is-edge-worker', operator: 'In', values: ['true'] }] },
              ],
            },
          },
        },
        // KubeEdge taints edge nodes so that cloud workloads stay off them; this one belongs there
        tolerations: [
          { key: 'node-role.kubernetes.io/edge', operator: 'Exists', effect: 'NoSchedule' },
          // an edge node that loses the cloud link is "unreachable" to the control plane: keep running
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        ],
        automountServiceAccountToken: false,
        // uid 1000 is the image's `node` user; group 44 is `video` on Debian, the owner of /dev/video*
        securityContext: { runAsUser: 1000, runAsGroup: 1000, supplementalGroups: [44], seccompProfile: { type: 'RuntimeDefault' } },
        terminationGracePeriodSeconds: 20,
        initContainers: [
          {
            // a hostPath folder is created root-owned: hand it to the worker's user, readable by it alone
            name: 'state-owner',
            image: images.busybox,
            command: ['sh', '-c', `chown 1000:1000 ${EDGE_STATE_DIR} && chmod 0700 ${EDGE_STATE_DIR}`],
            securityContext: { runAsUser: 0, runAsNonRoot: false, capabilities: { drop: ['ALL'], add: ['CHOWN', 'FOWNER'] } },
            volumeMounts: [{ name: 'state', mountPath: EDGE_STATE_DIR }],
            resources: { requests: { cpu: '10m', memory: '8Mi' }, limits: { memory: '16Mi' } },
          },
        ],
        containers: [
          {
            name: 'edge',
            image: images.edge,
            ports: [{ name: 'health', containerPort: EDGE_HEALTH_PORT }],
            envFrom: [{ configMapRef: { name: names.edgeConfig } }],
            env: [
              { name: 'NODE_ENV', value: 'production' },
              { name: 'EDGE_ENROLMENT_TOKEN', valueFrom: { secretKeyRef: { name: names.edgeEnrolment, key: 'EDGE_ENROLMENT_TOKEN' } } },
              // the device's name in the cloud is its node's; its id is the cloud's pick, kept in the state folder
              { name: 'EDGE_DEVICE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            ],
            readinessProbe: httpProbe('/healthz', EDGE_HEALTH_PORT, 10, 3),
            livenessProbe: httpProbe('/healthz', EDGE_HEALTH_PORT, 15, 4),
            startupProbe: httpProbe('/healthz', EDGE_HEALTH_PORT, 5, 60),
            resources: {
              requests: { cpu: '250m', memory: EDGE_MEMORY.request },
              limits: { cpu: '1', memory: EDGE_MEMORY.limit, [VIDEO_DEVICE_RESOURCE]: '1' },
            },
            volumeMounts: [
              { name: 'state', mountPath: EDGE_STATE_DIR },
              { name: 'tmp', mountPath: '/tmp' },
            ],
            ...restrictedContainer,
          },
        ],
        volumes: [
          { name: 'state', hostPath: { path: EDGE_STATE_DIR, type: 'DirectoryOrCreate' } },
          { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
        ],
      },
    },
  },
};
