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

export interface SimDeviceOptions {
  id: string;
  mqttUrl: string;
  password: string;
  publicKeyPem: string;
  /** Versions whose "model" fails to load on this device. */
  failOn?: (model: ModelVersionRef) => boolean;
  /** Frames per second it reports. */
  fps?: number;
  /** Delay between receiving a desired state and reporting active. */
  applyMs?: number;
  /** Given, the device subscribes to its `acks` topic and hands each message here. */
  onAck?: (payload: Buffer) => void;
}

/**
 * A lightweight simulated device speaking the real protocol: persistent MQTT session with its
 * credentials, retained status with a last will, signed desired states verified with the cloud's key,
 * reported states as a real worker sends them — without downloading or running models.
 */
export class SimDevice {
  client: MqttClient | undefined;
  running: ModelVersionRef | null = null;
  lastKnownGood: ModelVersionRef | null = null;
  state: ReportedState['state'] = 'idle';
  readonly received: DesiredState[] = [];
  readonly refused: string[] = [];
  private failure: ReportedState['failure'] = null;
  private deploymentId: string | null = null;
  private target: ModelVersionRef | null = null;

  constructor(readonly options: SimDeviceOptions) {}

  async connect(): Promise<void> {
    const { id } = this.options;
    const client = mqtt.connect(this.options.mqttUrl, {
      clientId: id,
      username: id,
      password: this.options.password,
      clean: false,
      reconnectPeriod: 200,
      will: { topic: topics.status(id), payload: Buffer.from(JSON.stringify(statusMessage('offline', Date.now()))), qos: 1, retain: true },
    });
    this.client = client;
    client.on('error', () => undefined);
    client.on('connect', () => {
      client.publish(topics.status(id), JSON.stringify(statusMessage('online', Date.now())), { qos: 1, retain: true });
      client.subscribe(this.options.onAck ? [topics.desired(id), topics.acks(id)] : topics.desired(id), { qos: 1 });
      void this.report();
    });
    client.on('message', (topic, payload) => {
      if (topic === topics.acks(id)) this.options.onAck?.(payload);
      else void this.onDesired(payload);
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => undefined);
  }

  private async onDesired(payload: Buffer): Promise<void> {
    if (payload.length === 0) return;
    const parsed = parseDeviceMessage('desired', payload);
    if (!parsed.ok) {
      this.refused.push(parsed.error.code);
      return;
    }
    const desired = parsed.value as DesiredState;
    this.received.push(desired);
    if (desired.deviceId !== this.options.id) return this.fail(desired, 'wrong_device', 'addressed to another device');
    const check = verifyDesiredState(desired, this.options.publicKeyPem);
    if (!check.ok) return this.fail(desired, 'signature_invalid', check.reason);
    if (this.running && desired.model.name === this.running.name && desired.model.version < this.running.version && !desired.rollback) {
      return this.fail(desired, 'downgrade_refused', `${desired.model.version} is lower than ${this.running.version}`);
    }
    this.deploymentId = desired.deploymentId;
    this.target = desired.model;
    this.state = 'downloading';
    this.failure = null;
    await this.report();
    await new Promise((r) => setTimeout(r, this.options.applyMs ?? 50));
    if (this.options.failOn?.(desired.model)) return this.fail(desired, 'load_failed', 'the model does not load on this device');
    if (this.running) this.lastKnownGood = this.running;
    this.running = desired.model;
    this.target = null;
    this.state = 'active';
    await this.report();
  }

  private async fail(desired: DesiredState, code: DeployFailureCode, message: string): Promise<void> {
    this.deploymentId = desired.deploymentId;
    this.target = desired.model;
    this.state = 'failed';
    this.failure = { code, message };
    await this.report();
  }

  async report(): Promise<void> {
    const reported: ReportedState = {
      v: MESSAGE_VERSION,
      deviceId: this.options.id,
      ts: Date.now(),
      agentVersion: 'sim-1',
      state: this.state === 'active' && !this.running ? 'idle' : this.state,
      failure: this.state === 'failed' ? this.failure : null,
      deploymentId: this.deploymentId,
      running: this.running,
      lastKnownGood: this.lastKnownGood,
      target: this.target,
      health: { fps: this.options.fps ?? 10, latencyMs: { p50: 20, p95: 40 }, rssBytes: 100_000_000, outboxDepth: 0, outboxDropped: 0, droppedFrames: 0 },
    };
    // a simulator being stopped may still be finishing a report: that publish is simply lost
    await this.client?.publishAsync(topics.reported(this.options.id), JSON.stringify(reported), { qos: 1, retain: true }).catch(() => undefined);
  }
}
