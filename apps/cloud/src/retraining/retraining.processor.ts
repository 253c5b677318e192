import { Logger } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { parseJob, QUEUES, RETRAINING_STEPS, type RetrainingStep } from '@edgeloop/contracts';
import { UnrecoverableError, type Job } from 'bullmq';
import { ComputeTaskError } from './training-compute';
import { RetrainingSteps, StepFailure } from './retraining-steps.service';
import { STEP_ATTEMPTS } from './retraining-flow';

/**
 * The `retraining` queue's worker (worker replicas only): one step job at a time. The CPU work of a step
 * runs in a worker thread, so this event loop keeps renewing the job's lock. An invalid payload, or a
 * step that cannot succeed by retrying, is an UnrecoverableError; when BullMQ gives up on a step, the run
 * ends `failed` with the reason.
 */
@Processor(QUEUES.retraining, { concurrency: 1, lockDuration: 60_000, maxStalledCount: 1 })
export class RetrainingProcessor extends WorkerHost {
  private readonly logger = new Logger(RetrainingProcessor.name);

  constructor(private readonly steps: RetrainingSteps) {
    super();
  }

  async process(job: Job): Promise<void> {
    const parsed = parseJob(job.name, job.data);
    if (!parsed.ok) throw new UnrecoverableError(`${job.name}: ${parsed.error.message}`);
    const step = stepOf(parsed.value.name);
    if (!step) throw new UnrecoverableError(`unexpected job ${job.name} on the retraining queue`);
    const { runId } = parsed.value.payload as { runId: string };
    const started = performance.now();
    this.logger.log(`run ${runId}: ${step} started (attempt ${job.attemptsMade + 1})`);
    try {
      await this.steps.execute(step, runId, { attemptsMade: job.attemptsMade, updateProgress: (p) => job.updateProgress(p) });
    } catch (err) {
      if (err instanceof StepFailure || err instanceof ComputeTaskError) throw new UnrecoverableError((err as Error).message);
      throw err;
    } finally {
      this.logger.debug(`run ${runId}: ${step} attempt ended after ${Math.round(performance.now() - started)} ms`);
    }
  }

  @OnWorkerEvent('failed')
  async onFailed(job: Job | undefined, err: Error): Promise<void> {
    if (!job) return;
    const step = stepOf(job.name);
    const runId = (job.data as { runId?: unknown } | undefined)?.runId;
    const final = err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? STEP_ATTEMPTS);
    // a failed step fails its parents in turn (failParentOnFailure): those echoes are not news
    const echo = /^child \S+ failed$/.test(err.message);
    const line = `${job.name} ${job.id} failed (attempt ${job.attemptsMade}${final ? ', final' : ', will retry'}): ${err.message}`;
    if (echo) this.logger.debug(line);
    else this.logger.warn(line);
    // and not the run's failure either: the step that failed records that, with its reason (RetrainingBoot's sweep
    // takes the first failed step if the record was lost); an echo recorded first would name the parent instead
    if (echo || !final || !step || typeof runId !== 'string') return;
    try {
      await this.steps.fail(runId, step, err.message);
    } catch (failure) {
      this.logger.error(`run ${runId}: could not record the failure of ${step}: ${(failure as Error).message}`);
    }
  }

  @OnWorkerEvent('error')
  onError(err: Error): void {
    this.logger.warn(`worker: ${err.message}`);
  }
}

function stepOf(name: string): RetrainingStep | undefined {
  const step = name.startsWith('retraining.') ? name.slice('retraining.'.length) : '';
  return (RETRAINING_STEPS as readonly string[]).includes(step) ? (step as RetrainingStep) : undefined;
}
