import { ApiClient } from '@edgeloop/client';
import { apiPaths, type DeploymentResponse, type DeviceSummary, type ModelVersionRef } from '@edgeloop/contracts';
import type { CloudBreakdown } from './cloud-probe';
import type { DeploymentEvents } from './deployment-events';
import type { Fleet } from './fleet';
import type { ProcessCpu } from './process-cpu';
import { percentiles, wallMs, type Percentiles } from './report';

const CONVERGE_TIMEOUT_MS = 120_000;

/** One deployment with strategy `all` to a group, timed from the `POST /api/v1/deployments` answer. */
export interface ConvergenceRun {
  devices: number;
  model: string;
  deploymentId: string;
  /** Wall clock of the POST answer (ms since the epoch), the origin of every other time. */
  answeredAt: number;
  /** `POST /api/v1/deployments` request → answer (the deployment and its desired states committed; a rollout tick publishes them). */
  postMs: number;
  /** (a) the last device received its desired state; negative when that happened before the answer. */
  allReceivedMs: number;
  /** (b) the last device sent its `active` report. */
  allActiveMs: number;
  /** (c) the deployment reads `completed`: start of the rollout tick that completed it (SQL `now()`) … */
  completedTickMs: number;
  /** … and when the bench heard the cloud announce it finished (its live event stream; no polling). */
  completedSeenMs: number;
  /** Per device, from the answer: desired state received, `active` sent, `active` taken by the cloud's MQTT handler, marked active by a rollout tick. */
  perDevice: {
    receivedMs: Percentiles;
    activeSentMs: Percentiles;
    activeTakenMs: Percentiles;
    markedActiveMs: Percentiles;
  };
  /** Rollout ticks that saw at least one device become active (distinct `updatedAt` of the device rows). */
  ticksMarkingDevices: number;
  /** CPU time the simulators spent on receipt (JSON, schema, two Ed25519 signatures), summed over devices. */
  simulatorCheckMsTotal: number;
  /** Median size of the desired-state message a device received. */
  desiredStateBytes: number;
  failures: string[];
  /** Where the cloud spent the run, from the probe loaded into it (single-process stacks). */
  cloud?: CloudBreakdown;
  /** The machine's load average (1, 5, 15 min) as the run started and ended. */
  loadAverage?: { before: number[]; after: number[] };
  /** CPU of each process during the run (POST to completed), from /proc. */
  processCpu?: ProcessCpu[];
}

export interface ConvergenceContext {
  api: ApiClient;
  fleet: Fleet;
  events: DeploymentEvents;
  group: string;
  ids: string[];
}

/** Deploys `model` with strategy `all` to the group and times (a), (b), (c) from the POST answer. */
export async function measureConvergence(ctx: ConvergenceContext, model: ModelVersionRef): Promise<ConvergenceRun> {
  const { api, fleet, events, group, ids } = ctx;
  await fleet.track(ids, model);
  const requested = wallMs();
  const created = await api.post<DeploymentResponse>(apiPaths.deployments(), {
    model: `${model.name}@${model.version}`,
    target: { group },
    strategy: { type: 'all' },
  });
  const t0 = wallMs();
  if (created.devices.length !== ids.length) throw new Error(`the deployment targets ${created.devices.length} devices, the group has ${ids.length}`);
  const snapshot = await fleet.converged(CONVERGE_TIMEOUT_MS);
  if (!snapshot.converged) {
    throw new Error(`${model.name}@${model.version} did not converge in ${CONVERGE_TIMEOUT_MS} ms: ${snapshot.received.length} received, ${snapshot.active.length} active, ${snapshot.failed.length} failed of ${snapshot.expected}`);
  }
  const completedSeen = await events.finished(created.id, Math.max(1, CONVERGE_TIMEOUT_MS - (wallMs() - t0)));
  const deployment = await api.get<DeploymentResponse>(apiPaths.deployment(created.id));
  const { devices: listed } = await api.get<{ devices: DeviceSummary[] }>(`${apiPaths.devices()}?group=${encodeURIComponent(group)}`);
  const inRun = new Set(ids);
  const taken = listed.filter((d) => inRun.has(d.id) && d.lastSeenAt).map((d) => Date.parse(d.lastSeenAt!) - t0);
  const marked = deployment.devices.filter((d) => d.phase === 'active').map((d) => Date.parse(d.updatedAt));
  const failures = [
    ...snapshot.failed.map(([id, why]) => `${id}: ${why}`),
    ...(deployment.status === 'completed' ? [] : [`deployment ${deployment.status}: ${deployment.reason ?? ''}`]),
  ];
  return {
    devices: ids.length,
    model: `${model.name}@${model.version}`,
    deploymentId: created.id,
    answeredAt: t0,
    postMs: t0 - requested,
    allReceivedMs: Math.max(...snapshot.received) - t0,
    allActiveMs: Math.max(...snapshot.active) - t0,
    completedTickMs: Date.parse(deployment.updatedAt) - t0,
    completedSeenMs: completedSeen - t0,
    perDevice: {
      receivedMs: percentiles(snapshot.received.map((t) => t - t0)),
      activeSentMs: percentiles(snapshot.active.map((t) => t - t0)),
      activeTakenMs: percentiles(taken),
      markedActiveMs: percentiles(marked.map((t) => t - t0)),
    },
    ticksMarkingDevices: new Set(marked).size,
    simulatorCheckMsTotal: snapshot.checkMsTotal,
    desiredStateBytes: snapshot.desiredBytesMedian,
    failures,
  };
}
