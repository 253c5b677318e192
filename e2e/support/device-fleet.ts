import { createHash } from 'node:crypto';
import { parseDeviceMessage, topics } from '@edgeloop/contracts';
import { SimDevice } from '../../apps/cloud/src/testing/sim-device';
import { makeBatch, seededRandom, STABLE, type TrafficProfile } from '../../apps/cloud/src/testing/prediction-batches';

export interface FleetOptions {
  /** A cloud replica's URL for provisioning, and the admin token. */
  cloudUrl: string;
  adminToken: string;
  mqttUrl: string;
  ids: string[];
  group: string;
  framesPerBatch?: number;
  /** Pause between two batches of one device. */
  intervalMs?: number;
  /** A batch the broker acknowledged and the cloud has not after this long is sent again. */
  ackTimeoutMs?: number;
}

/**
 * Simulated devices on the real protocol (SimDevice: persistent session, signed desired states, reported
 * states) that also stream prediction batches like an edge outbox: batch `seq` is published (QoS 1, again
 * while the client is between connections) and, once the broker acknowledged it, awaited on the device's
 * `acks` topic; without the cloud's ack within `ackTimeoutMs` it is published again. Only when the cloud
 * acked it is it "sent" and the next one made — so a broker restart (which may acknowledge and drop a batch)
 * delays batches but loses none on the device side, and what the cloud must count is exactly `sent`.
 */
export class DeviceFleet {
  readonly devices: SimDevice[] = [];
  readonly framesPerBatch: number;
  /** Acknowledged sequence numbers per device. */
  readonly sent = new Map<string, number[]>();
  profile: (deviceId: string) => TrafficProfile = () => STABLE;
  /** Batches sent again because the cloud's ack did not come in time. */
  resent = 0;
  /** Ack messages that failed validation (ignored). */
  invalidAcks = 0;
  private streaming = false;
  private loops: Promise<void>[] = [];
  /** Per device: the seq awaiting its ack, and what to call when it comes. */
  private readonly awaiting = new Map<string, { seq: number; acked: () => void }>();

  constructor(private readonly options: FleetOptions) {
    this.framesPerBatch = options.framesPerBatch ?? 10;
  }

  async start(): Promise<void> {
    const publicKeyPem = ((await (await fetch(`${this.options.cloudUrl}/api/v1/keys`)).json()) as { keys: { publicKey: string }[] }).keys[0].publicKey;
    for (const id of this.options.ids) {
      const res = await fetch(`${this.options.cloudUrl}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, name: id, group: this.options.group }),
      });
      if (res.status !== 201) throw new Error(`provisioning ${id}: HTTP ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { credentials: { mqtt: { password: string } } };
      const device = new SimDevice({
        id,
        mqttUrl: this.options.mqttUrl,
        password: body.credentials.mqtt.password,
        publicKeyPem,
        onAck: (payload) => this.onAck(id, payload),
      });
      await device.connect();
      this.devices.push(device);
      this.sent.set(id, []);
    }
  }

  /** Starts every device's batch stream. */
  stream(): void {
    this.streaming = true;
    this.loops = this.devices.map((device) => this.streamOne(device));
  }

  /** Stops making new batches and waits until every batch made is acknowledged. */
  async drain(): Promise<void> {
    this.streaming = false;
    await Promise.all(this.loops);
  }

  /** The ledger `countPredictions` compares with. */
  ledger(): Map<string, { seqs: number[]; framesPerBatch: number }> {
    return new Map([...this.sent].map(([id, seqs]) => [id, { seqs, framesPerBatch: this.framesPerBatch }]));
  }

  totalSent(): number {
    return [...this.sent.values()].reduce((n, seqs) => n + seqs.length, 0);
  }

  async stop(): Promise<void> {
    this.streaming = false;
    await Promise.all(this.devices.map((d) => d.stop()));
  }

  private onAck(id: string, payload: Buffer): void {
    const parsed = parseDeviceMessage('acks', payload);
    if (!parsed.ok) {
      this.invalidAcks++;
      return;
    }
    const waiting = this.awaiting.get(id);
    if (waiting && parsed.value.acks.some((a) => a.kind === 'predictions' && a.epoch === undefined && a.seq === waiting.seq)) waiting.acked();
  }

  private async streamOne(device: SimDevice): Promise<void> {
    const id = device.options.id;
    const seqs = this.sent.get(id)!;
    const deviceSeed = createHash('sha256').update(id).digest().readUInt32BE(0);
    let seq = seqs.length;
    while (this.streaming) {
      seq++;
      const model = device.running ?? { name: 'face-id', version: 1 };
      // each device its own random stream: with makeBatch's default seed (seq and the id's length) devices with ids of
      // one length send identical batches, and drift statistics see six copies of one camera's frames
      const random = seededRandom(Math.imul(seq, 7919) ^ deviceSeed);
      const batch = JSON.stringify(makeBatch(id, seq, model, this.profile(id), { frames: this.framesPerBatch, random }));
      let acked = false;
      const ack = new Promise<void>((resolve) => this.awaiting.set(id, { seq, acked: () => ((acked = true), resolve()) }));
      for (let attempt = 0; !acked; attempt++) {
        if (attempt > 0) this.resent++;
        for (;;) {
          try {
            await device.client!.publishAsync(topics.predictions(id), batch, { qos: 1 });
            break;
          } catch {
            // not sent (the client was between connections): the outbox keeps it and tries again
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        await Promise.race([ack, new Promise((r) => setTimeout(r, this.options.ackTimeoutMs ?? 3000))]);
      }
      this.awaiting.delete(id);
      seqs.push(seq);
      await new Promise((r) => setTimeout(r, this.options.intervalMs ?? 250));
    }
  }
}
