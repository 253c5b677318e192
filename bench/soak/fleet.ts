import { ApiClient } from '@edgeloop/client';
import { apiPaths, encodePredictionColumns, MQTT_QOS, topics, type ProvisionDeviceResponse } from '@edgeloop/contracts';
import { createPublicKey } from 'node:crypto';
import { STABLE } from '../../apps/cloud/src/testing/prediction-batches';
import { wireBatch } from '../ingest/wire-batches';
import { BenchDevice } from '../rollout/bench-device';
import { mapLimit } from '../rollout/fleet-worker';

const PROVISION_CONCURRENCY = 16;
const CONNECT_CONCURRENCY = 50;
export const SOAK_MODEL = { name: 'soak', version: 1 };

export interface FleetRate {
  fps: number;
  framesPerBatch: number;
  heartbeatSeconds: number;
}

/** What the fleet sent, and what the cloud acknowledged on the devices' `acks` topics. */
export interface FleetTally {
  /** Batches (and their frames) the broker acknowledged (PUBACK) by the time the tally is read. */
  batches: number;
  frames: number;
  /**
   * Frames of every batch handed to the client to publish, PUBACK or not: the cloud may aggregate a batch before
   * its PUBACK reaches the device, and a batch in flight when the fleet stops never gets one. What the cloud
   * aggregates lies between `frames` and this; more than this would be a batch counted twice.
   */
  framesPublished: number;
  /** PUBLISH calls that failed (a connection down at that moment); the batch is not counted as sent. */
  publishErrors: number;
  heartbeats: number;
  acks: number;
}

/**
 * The simulated fleet at its normal rate: the rollout bench's `BenchDevice`s (own credentials, persistent
 * session, retained status with a last will, signed desired states, retained reported state), each also
 * sending a prediction batch of `framesPerBatch` frames every `framesPerBatch / fps` seconds (the edge's
 * batch of 25 at 5 fps: one every 5 s) in the columns encoding, made by the ingest bench's `wireBatch` for
 * the real window, and its reported state every `heartbeatSeconds`. Devices start at spread phases so the
 * load is even, as a real fleet's is.
 */
export class SoakFleet {
  readonly tally: FleetTally = { batches: 0, frames: 0, framesPublished: 0, publishErrors: 0, heartbeats: 0, acks: 0 };
  private readonly devices: BenchDevice[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly seqs = new Map<string, number>();

  constructor(
    private readonly api: ApiClient,
    private readonly mqttUrl: string,
    private readonly rate: FleetRate,
  ) {}

  /** Provisions `count` devices through the API and connects them. */
  async join(count: number): Promise<void> {
    const { keys } = await this.api.get<{ keys: Array<{ publicKey: string }> }>(apiPaths.keys());
    const publicKey = createPublicKey(keys[0].publicKey);
    const ids = Array.from({ length: count }, (_, i) => `soak-${String(i).padStart(4, '0')}`);
    const provisioned = await mapLimit(ids, PROVISION_CONCURRENCY, (id) =>
      this.api.post<ProvisionDeviceResponse & { mqttUrl: string }>(apiPaths.devices(), { id, name: `soak camera ${id}`, group: 'soak' }),
    );
    for (const p of provisioned) {
      this.devices.push(new BenchDevice({ id: p.device.id, mqttUrl: this.mqttUrl, password: p.credentials.mqtt.password, publicKey, applyMs: 0 }));
    }
    await mapLimit(this.devices, CONNECT_CONCURRENCY, async (device) => {
      await device.connect();
      device.client!.on('message', (topic) => {
        if (topic === topics.acks(device.id)) this.tally.acks++;
      });
      await device.client!.subscribeAsync(topics.acks(device.id), { qos: MQTT_QOS });
    });
  }

  start(): void {
    const batchMs = (this.rate.framesPerBatch / this.rate.fps) * 1000;
    this.devices.forEach((device, i) => {
      const phase = (i / this.devices.length) * batchMs;
      this.timers.push(
        setTimeout(() => {
          void this.sendBatch(device, batchMs);
          this.timers.push(setInterval(() => void this.sendBatch(device, batchMs), batchMs));
        }, phase),
      );
      const heartbeatMs = this.rate.heartbeatSeconds * 1000;
      this.timers.push(
        setTimeout(
          () =>
            this.timers.push(
              setInterval(() => {
                this.tally.heartbeats++;
                void device.report();
              }, heartbeatMs),
            ),
          (i / this.devices.length) * heartbeatMs,
        ),
      );
    });
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
    await mapLimit(this.devices, CONNECT_CONCURRENCY, (device) => device.stop());
  }

  private async sendBatch(device: BenchDevice, spanMs: number): Promise<void> {
    const seq = (this.seqs.get(device.id) ?? 0) + 1;
    this.seqs.set(device.id, seq);
    const batch = wireBatch(device.id, seq, SOAK_MODEL, STABLE, { frames: this.rate.framesPerBatch, centroid: true, spanMs });
    this.tally.framesPublished += batch.items.length;
    try {
      await device.client!.publishAsync(topics.predictions(device.id), Buffer.from(encodePredictionColumns(batch)), { qos: MQTT_QOS });
      this.tally.batches++;
      this.tally.frames += batch.items.length;
    } catch {
      this.tally.publishErrors++;
    }
  }
}
