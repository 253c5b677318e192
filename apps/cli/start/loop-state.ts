import type { ApiClient } from '@edgeloop/client';
import {
  apiPaths,
  type DeploymentResponse,
  type DeviceSummary,
  type DriftEventResponse,
  type PredictionMetricsResponse,
  type RetrainingRun,
} from '@edgeloop/contracts';
import { bar } from './story';

/** One device as the status shows it. */
export interface DeviceStatus {
  id: string;
  presence: string;
  state: string;
  running: string | null;
  fps: number | null;
  recognised: number;
  backlog: number | null;
}

/** The loop as the API sees it now: devices, the latest rollouts, drift events and retraining runs. */
export interface LoopState {
  devices: DeviceStatus[];
  /** `progress`: 0 … 1 over the devices, each counted by how far it got (sent, downloading, verifying, warming, active). */
  deployments: Array<{ id: string; model: string; status: string; done: number; total: number; progress: number; reason: string | null }>;
  drift: Array<{ id: string; model: string; metrics: string[]; at: string }>;
  retraining: Array<{ id: string; model: string; status: string; step: string | null; progress: number; candidate: string | null }>;
}

/** How far one device got in a rollout, 0 … 1. */
function rolloutShare(device: DeploymentResponse['devices'][number]): number {
  if (device.phase === 'active') return 1;
  if (device.phase !== 'sent') return 0;
  const shares: Record<string, number> = { downloading: 0.3, verifying: 0.6, warming: 0.8, active: 0.9 };
  return shares[device.state ?? ''] ?? 0.1;
}

/** Reads the loop's state through the REST API; recognitions are counted from `since` (default: the last hour). */
export async function readLoopState(api: ApiClient, since?: string): Promise<LoopState> {
  const from = since ?? new Date(Date.now() - 3600_000).toISOString();
  const [devices, deployments, drift, runs] = await Promise.all([
    api.get<{ devices: DeviceSummary[] }>(apiPaths.devices()),
    api.get<{ deployments: DeploymentResponse[] }>(apiPaths.deployments()),
    api.get<{ events: DriftEventResponse[] }>(apiPaths.driftEvents()).catch(() => ({ events: [] })),
    api.get<{ runs: RetrainingRun[] }>(apiPaths.retrainingJobs()).catch(() => ({ runs: [] })),
  ]);
  // faces recognised (not unknown) per device since `from`: the aggregates keep per-device rows only when asked for one device
  const recognised = new Map<string, number>();
  await Promise.all(
    devices.devices.map(async (d) => {
      const query = `?device=${encodeURIComponent(d.id)}&from=${encodeURIComponent(from)}`;
      const { rows } = await api.get<PredictionMetricsResponse>(`${apiPaths.predictionMetrics()}${query}`).catch(() => ({ rows: [] }));
      recognised.set(
        d.id,
        rows.reduce((sum, row) => sum + Math.round(row.faces * (1 - row.unknownRate)), 0),
      );
    }),
  );
  return {
    devices: devices.devices.map((d) => ({
      id: d.id,
      presence: d.presence,
      state: d.reported?.state ?? '-',
      running: d.reported?.running ? `${d.reported.running.name}@${d.reported.running.version}` : null,
      fps: d.reported ? d.reported.health.fps : null,
      recognised: recognised.get(d.id) ?? 0,
      backlog: d.reported ? d.reported.health.outboxDepth : null,
    })),
    deployments: deployments.deployments.slice(0, 3).map((d) => ({
      id: d.id,
      model: `${d.model.name}@${d.model.version}`,
      status: d.status,
      done: d.devices.filter((x) => x.phase === 'active').length,
      progress: d.devices.length ? d.devices.reduce((sum, x) => sum + rolloutShare(x), 0) / d.devices.length : 0,
      total: d.devices.length,
      reason: d.reason,
    })),
    drift: drift.events.slice(0, 3).map((e) => ({
      id: e.driftEventId,
      model: `${e.model.name}@${e.model.version}`,
      metrics: e.evidence.map((x) => x.metric),
      at: e.detectedAt,
    })),
    retraining: runs.runs.slice(0, 3).map((r) => ({
      id: r.id,
      model: r.modelName,
      status: r.status,
      step: r.step,
      progress: r.progress,
      candidate: r.candidate ? `${r.candidate.name}@${r.candidate.version}` : null,
    })),
  };
}

/** One line per device: state, version, fps, faces recognised, backlog. */
export function deviceLine(d: DeviceStatus): string {
  const fps = d.fps === null ? '-' : `${d.fps.toFixed(1)} fps`;
  return `${d.id.padEnd(8)} ${d.presence.padEnd(7)} ${d.state.padEnd(11)} ${(d.running ?? '-').padEnd(12)} ${fps.padStart(8)}  ${String(d.recognised).padStart(5)} recognised  backlog ${d.backlog ?? '-'}`;
}

/** Rollouts and retraining runs still moving, with a progress bar each. */
export function progressLines(loop: LoopState): string[] {
  const lines: string[] = [];
  for (const d of loop.deployments) {
    if (d.status === 'pending' || d.status === 'in_progress' || d.status === 'rolling_back') {
      lines.push(`rollout  ${d.id} ${d.model} ${bar(d.progress)} ${d.done}/${d.total} devices`);
    }
  }
  for (const r of loop.retraining) {
    if (r.status === 'queued' || r.status === 'running') lines.push(`retrain  ${r.id} ${r.model} ${bar(r.progress)} ${r.step ?? r.status}`);
  }
  return lines;
}

/** The whole loop in a few lines (`edgeloop status` and the live block of `edgeloop start`). */
export function loopLines(loop: LoopState): string[] {
  const lines = loop.devices.length ? loop.devices.map(deviceLine) : ['no devices yet'];
  lines.push(...progressLines(loop));
  const deployment = loop.deployments[0];
  if (deployment) lines.push(`last rollout   ${deployment.id} ${deployment.model}: ${deployment.status}${deployment.reason ? ` — ${deployment.reason}` : ''}`);
  const drift = loop.drift[0];
  lines.push(drift ? `last drift     ${drift.model}: ${drift.metrics.join(', ')} (${drift.at})` : 'last drift     none yet');
  const run = loop.retraining[0];
  if (run) lines.push(`last retrain   ${run.id} ${run.model}: ${run.status}${run.candidate ? ` → candidate ${run.candidate}` : ''}`);
  return lines;
}
