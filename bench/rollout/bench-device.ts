import { BlobIntegrityError } from '@edgeloop/client';
import {
  MESSAGE_VERSION,
  parseDeviceMessage,
  statusMessage,
  topics,
  verifyDesiredState,
  type DeployFailureCode,
  type DesiredState,
  type ModelVersionRef,
  type ReportedState,
} from '@edgeloop/contracts';
import mqtt, { type MqttClient } from 'mqtt';
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { BlobCache } from './blob-cache';
import { wallMs } from './report';

export interface BenchDeviceOptions {
  id: string;
  mqttUrl: string;
  password: string;
  publicKey: KeyObject;
  /** Delay between accepting a desired state (and fetching its blobs) and reporting active. */
  applyMs: number;
  /** Makes the device a real downloader: blobs it lacks are fetched, verified and cached before it reports active. */
  blobs?: BlobCache;
  /** Called whenever a desired state arrives and whenever the device reports active or failed. */
  onProgress?: (device: BenchDevice) => void;
}

/** What one device did with the last desired state it received (wall-clock ms). */
export interface DesiredProgress {
  deploymentId: string;
  model: ModelVersionRef;
  receivedAt: number;
  /** Size of the desired-state message (JSON, signed manifest included). */
  desiredBytes: number;
  /** Synchronous work of the simulator on receipt: JSON parse, schema and both signatures. */
  checkMs: number;
  activeSentAt: number | null;
  failure: string | null;
}

/**
 * A lightweight simulated device speaking the real protocol, like the cloud's `SimDevice` test helper
 * (persistent QoS 1 session with its own credentials, retained status with a last will, signed desired
 * states verified with the cloud's key, retained reported states), plus what a benchmark needs: the
 * time of each step, and optionally real blob downloads into a content-addressed cache.
 */
export class BenchDevice {
  client: MqttClient | undefined;
  running: ModelVersionRef | null = null;
  lastKnownGood: ModelVersionRef | null = null;
  state: ReportedState['state'] = 'idle';
  progress: DesiredProgress | null = null;
  /** Desired states refused (bad payload, bad signature, downgrade). */
  readonly refused: string[] = [];
  private failure: ReportedState['failure'] = null;
  private deploymentId: string | null = null;
  private target: ModelVersionRef | null = null;
  /** Desired states are applied one at a time, in arrival order, as the edge worker does. */
  private applying: Promise<void> = Promise.resolve();

  constructor(readonly options: BenchDeviceOptions) {}

  get id(): string {
    return this.options.id;
  }

  async connect(): Promise<void> {
    const { id } = this.options;
    const client = mqtt.connect(this.options.mqttUrl, {
      clientId: id,
      username: id,
      password: this.options.password,
      clean: false,
      reconnectPeriod: 1000,
      connectTimeout: 30_000,
      will: { topic: topics.status(id), payload: Buffer.from(JSON.stringify(statusMessage('offline', Date.now()))), qos: 1, retain: true },
    });
    this.client = client;
    client.on('error', () => undefined);
    client.on('connect', () => {
      client.publish(topics.status(id), JSON.stringify(statusMessage('online', Date.now())), { qos: 1, retain: true });
      client.subscribe(topics.desired(id), { qos: 1 });
      void this.report();
    });
    client.on('message', (_topic, payload) => {
      const receivedAt = wallMs();
      this.applying = this.applying.then(() => this.onDesired(payload, receivedAt));
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }

  private async onDesired(payload: Buffer, receivedAt: number): Promise<void> {
    if (payload.length === 0) return;
    const started = performance.now();
    const parsed = parseDeviceMessage('desired', payload);
    if (!parsed.ok) {
      this.refused.push(parsed.error.code);
      return;
    }
    const desired = parsed.value as DesiredState;
    const received = { receivedAt, desiredBytes: payload.length };
    if (desired.deviceId !== this.id) return this.fail(desired, received, 'wrong_device', 'addressed to another device');
    const check = verifyDesiredState(desired, this.options.publicKey);
    const checkMs = performance.now() - started;
    if (!check.ok) return this.fail(desired, received, 'signature_invalid', check.reason, checkMs);
    if (this.running && desired.model.name === this.running.name && desired.model.version <= this.running.version && !desired.rollback) {
      // a retained desired state seen again after a reconnect: nothing to do
      if (desired.model.version === this.running.version) return;
      return this.fail(desired, received, 'downgrade_refused', `${desired.model.version} is lower than ${this.running.version}`, checkMs);
    }
    const progress: DesiredProgress = { deploymentId: desired.deploymentId, model: desired.model, ...received, checkMs, activeSentAt: null, failure: null };
    this.progress = progress;
    this.options.onProgress?.(this);
    this.deploymentId = desired.deploymentId;
    this.target = desired.model;
    this.state = 'downloading';
    this.failure = null;
    await this.report();
    try {
      await this.options.blobs?.fetchMissing(desired);
    } catch (err) {
      const code = err instanceof BlobIntegrityError ? 'checksum_mismatch' : 'download_failed';
      return this.fail(desired, received, code, (err as Error).message.slice(0, 500), checkMs);
    }
    if (this.options.applyMs > 0) await new Promise((r) => setTimeout(r, this.options.applyMs));
    if (this.running) this.lastKnownGood = this.running;
    this.running = desired.model;
    this.target = null;
    this.state = 'active';
    progress.activeSentAt = wallMs();
    await this.report();
    this.options.onProgress?.(this);
  }

  private async fail(
    desired: DesiredState,
    received: { receivedAt: number; desiredBytes: number },
    code: DeployFailureCode,
    message: string,
    checkMs = 0,
  ): Promise<void> {
    this.refused.push(`${code}: ${message}`);
    this.progress = {
      deploymentId: desired.deploymentId,
      model: desired.model,
      ...received,
      checkMs,
      activeSentAt: null,
      failure: `${code}: ${message}`,
    };
    this.deploymentId = desired.deploymentId;
    this.target = desired.model;
    this.state = 'failed';
    this.failure = { code, message };
    await this.report();
    this.options.onProgress?.(this);
  }

  async report(): Promise<void> {
    const reported: ReportedState = {
      v: MESSAGE_VERSION,
      deviceId: this.id,
      ts: Date.now(),
      agentVersion: 'bench-1',
      state: this.state === 'active' && !this.running ? 'idle' : this.state,
      failure: this.state === 'failed' ? this.failure : null,
      deploymentId: this.deploymentId,
      running: this.running,
      lastKnownGood: this.lastKnownGood,
      target: this.target,
      health: { fps: 10, latencyMs: { p50: 20, p95: 40 }, rssBytes: 100_000_000, outboxDepth: 0, outboxDropped: 0, droppedFrames: 0 },
    };
    // a device being stopped may still be finishing a report: that publish is simply lost
    await this.client?.publishAsync(topics.reported(this.id), JSON.stringify(reported), { qos: 1, retain: true }).catch(() => undefined);
  }
}
