import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { hardExampleJobId, predictionIngestJobFields, predictionsJobId, QUEUES, type HardExample, type PredictionBatch } from '@edgeloop/contracts';
import type { JobsOptions, Queue } from 'bullmq';

/** A batch's job: retried with back-off (the dedupe key makes a retry safe), kept a while after it is done so a redelivery is one job. */
const INGEST_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 600, count: 20_000 },
  removeOnFail: { age: 86_400 },
};

/**
 * The producer side of the `predictions` queue: MQTT batches and hard examples become jobs (id = device +
 * epoch + seq, so a redelivered message is one job). `PredictionsProcessor` — in this process or in
 * separate worker replicas — validates and aggregates them.
 */
@Injectable()
export class PredictionsQueue {
  constructor(@InjectQueue(QUEUES.predictions) private readonly queue: Queue) {}

  /**
   * Resolves once the batch is in Redis (it waits out a Redis restart); the MQTT PUBACK follows. With the
   * MQTT `payload` the job carries it as it came (base64), not the parsed batch: no JSON of the batch to
   * write and read back, and the worker reads the columns encoding in microseconds. Batches added in the
   * same turn of the event loop (several devices' messages are handled at once) go in one `addBulk`: one
   * write to Redis for all of them.
   */
  addBatch(batch: PredictionBatch, receivedAt: number, payload?: Uint8Array | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.adding.push({
        job: {
          name: 'predictions.ingest',
          data:
            payload !== undefined ? { ...predictionIngestJobFields(batch, payload), receivedAt } : { deviceId: batch.deviceId, seq: batch.seq, receivedAt, batch },
          opts: { jobId: predictionsJobId(batch.deviceId, batch.seq, batch.epoch), ...INGEST_JOB_OPTIONS },
        },
        resolve,
        reject,
      });
      if (this.adding.length === 1) setImmediate(() => void this.addPending());
    });
  }

  private readonly adding: Array<{ job: { name: string; data: unknown; opts: JobsOptions }; resolve: () => void; reject: (err: unknown) => void }> = [];

  private async addPending(): Promise<void> {
    const group = this.adding.splice(0);
    try {
      await this.queue.addBulk(group.map((g) => g.job));
      for (const g of group) g.resolve();
    } catch (err) {
      for (const g of group) g.reject(err);
    }
  }

  async addHardExample(hardExample: HardExample, receivedAt: number): Promise<void> {
    await this.queue.add(
      'predictions.hard-example',
      { deviceId: hardExample.deviceId, receivedAt, hardExample },
      { jobId: hardExampleJobId(hardExample.deviceId, hardExample.id), attempts: 10, backoff: { type: 'exponential', delay: 500 }, removeOnComplete: { age: 600 }, removeOnFail: { age: 86_400 } },
    );
  }

  /** For tests and benchmarks: enqueue anything, valid or not. */
  async addRaw(name: string, data: unknown): Promise<void> {
    await this.queue.add(name, data, { removeOnComplete: true, removeOnFail: { age: 3600 } });
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
  }
}
