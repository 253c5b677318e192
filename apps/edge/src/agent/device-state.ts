import {
  MESSAGE_VERSION,
  type DeployFailureCode,
  type DeviceHealth,
  type DeviceState,
  type ModelVersionRef,
  type ReportedState,
} from '@edgeloop/contracts';
import { packageVersion } from '@edgeloop/config';
import type { ModelRuntime } from '../runtime/model-runtime';

/** The agent's name and version, as status and reported state carry it; the version is package.json's. */
export const AGENT_VERSION = `edgeloop-edge/${packageVersion()}`;

export interface DeploymentStatus {
  state: DeviceState;
  failure: { code: DeployFailureCode; message: string } | null;
  deploymentId: string | null;
  target: ModelVersionRef | null;
}

/**
 * The device's state as the cloud sees it: where the last desired state got to (state, failure, target,
 * deployment), what runs now, what it falls back to, and its health. Every change notifies the listeners,
 * which publish `reported`.
 */
export class DeviceStateTracker {
  private status: DeploymentStatus = { state: 'idle', failure: null, deploymentId: null, target: null };
  private lastKnownGood: ModelVersionRef | null = null;
  private readonly listeners: Array<(status: DeploymentStatus) => void> = [];

  constructor(
    private readonly deviceId: string,
    private readonly runtime: ModelRuntime,
    private readonly health: () => DeviceHealth,
  ) {}

  get current(): DeploymentStatus {
    return this.status;
  }

  get fallback(): ModelVersionRef | null {
    return this.lastKnownGood;
  }

  onChange(listener: (status: DeploymentStatus) => void): void {
    this.listeners.push(listener);
  }

  /** Moves to a new state; `failure` is cleared unless the new state is `failed`. */
  set(update: Partial<DeploymentStatus> & { state: DeviceState }): void {
    this.status = { ...this.status, failure: null, ...update };
    if (this.status.state !== 'failed') this.status.failure = null;
    for (const listener of this.listeners) listener(this.status);
  }

  setLastKnownGood(ref: ModelVersionRef | null): void {
    this.lastKnownGood = ref;
  }

  reported(now = Date.now()): ReportedState {
    return {
      v: MESSAGE_VERSION,
      deviceId: this.deviceId,
      ts: now,
      agentVersion: AGENT_VERSION,
      state: this.status.state,
      failure: this.status.failure,
      deploymentId: this.status.deploymentId,
      running: this.runtime.running,
      lastKnownGood: this.lastKnownGood,
      target: this.status.target,
      health: this.health(),
    };
  }
}
