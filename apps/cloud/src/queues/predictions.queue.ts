import { Injectable } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import {
  hardExampleJobId,
  predictionIngestGroups,
  predictionIngestJobFields,
  predictionsJobId,
  QUEUES,
  type HardExample,
  type JobPayload,
  type PredictionBatch,
} from '@edgeloop/contracts';
import type { JobsOptions, Queue } from 'bullmq';

/** A batch's (or group's) job: retried with back-off (the dedupe key makes a retry safe), kept a while after it is done. */
const INGEST_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 600, count: 20_000 },
  removeOnFail: { age: 86_400 },
};

/**
 * The producer side of the `predictions` queue: MQTT batches become group jobs (a redelivered batch is dropped
 * by the SQL dedupe), hard examples jobs of their own (id = device + hard example id). `PredictionsProcessor`
 * — in this process or in separate worker replicas — validates and aggregates them.
 */
@Injectable()
export class PredictionsQueue {
  constructor(@InjectQueue(QUEUES.predictions) private readonly queue: Queue) {}

  /**
   * Resolves once the batch is in Redis (it waits out a Redis restart); the MQTT PUBACK follows. With the
   * MQTT `payload` the job carries it as it came (base64), not the parsed batch: no JSON of the batch to
   * write and read back, and the worker reads the columns encoding in microseconds. Batches added in the
   * same turn of the event loop (several devices' messages are handled at once) go into Redis with one
   * `addBulk`, as `predictions.ingest-group` jobs of up to 64 batches: one job to add, fetch and finish for
   * all of them. A batch without its payload (a caller with the parsed batch only) is a job of its own.
   */
  addBatch(batch: PredictionBatch, receivedAt: number, payload?: Uint8Array | string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.adding.push({
        batch: payload !== undefined ? { ...predictionIngestJobFields(batch, payload), receivedAt } : null,
        single:
          payload === undefined
            ? { data: { deviceId: batch.deviceId, seq: batch.seq, receivedAt, batch }, jobId: predictionsJobId(batch.deviceId, batch.seq, batch.epoch) }
            : null,
        resolve,
        reject,
      });
      if (this.adding.length === 1) setImmediate(() => void this.addPending());
    });
  }

  private readonly adding: Array<{
    batch: JobPayload<'predictions.ingest-group'>['batches'][number] | null;
    single: { data: JobPayload<'predictions.ingest'>; jobId: string } | null;
    resolve: () => void;
    reject: (err: unknown) => void;
  }> = [];

  private async addPending(): Promise<void> {
    const adding = this.adding.splice(0);
    const jobs: Array<{ name: string; data: unknown; opts: JobsOptions }> = [];
    for (const batches of predictionIngestGroups(adding.flatMap((a) => (a.batch ? [a.batch] : [])))) {
      jobs.push({ name: 'predictions.ingest-group', data: { batches }, opts: INGEST_JOB_OPTIONS });
    }
    for (const { single } of adding) {
      if (single) jobs.push({ name: 'predictions.ingest', data: single.data, opts: { jobId: single.jobId, ...INGEST_JOB_OPTIONS } });
    }
    try {
      await this.queue.addBulk(jobs);
      for (const a of adding) a.resolve();
    } catch (err) {
      for (const a of adding) a.reject(err);
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
