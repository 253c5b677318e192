import { Logger, OnApplicationBootstrap } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { QUEUES } from '@edgeloop/contracts';
import { UnrecoverableError, type Job } from 'bullmq';
import { CloudConfig } from '../config/cloud.config';
import { IngestService } from '../services/ingest.service';
import { DEFERRED_WORKER, dispatchJob, startWorker } from './bull';

/**
 * The `predictions` queue's worker (worker replicas only), EDGELOOP_INGEST_CONCURRENCY jobs at a time: a
 * group of batches goes to `IngestService.ingestBatchGroup`, a lone batch to `ingestBatch` (both written in one
 * SQL transaction with their neighbours), a hard example to `ingestHardExample`. An invalid job is counted and dead-lettered, then unrecoverable.
 */
@Processor(QUEUES.predictions, DEFERRED_WORKER)
export class PredictionsProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(PredictionsProcessor.name);

  constructor(
    private readonly config: CloudConfig,
    private readonly ingest: IngestService,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    await startWorker(this.worker, this.config.ingestConcurrency);
  }

  process(job: Job): Promise<unknown> {
    return dispatchJob(
      QUEUES.predictions,
      job,
      {
        'predictions.ingest': (payload) => this.ingest.ingestBatch(payload),
        'predictions.ingest-group': (payload) => this.ingest.ingestBatchGroup(payload),
        'predictions.hard-example': (payload) => this.ingest.ingestHardExample(payload),
      },
      (message) => this.ingest.invalidJob(job.name, job.data, message),
    );
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, err: Error): void {
    if (!(err instanceof UnrecoverableError)) this.logger.warn(`${job?.id} failed (attempt ${job?.attemptsMade}): ${err.message}`);
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`worker: ${err.message}`);
  }
}
