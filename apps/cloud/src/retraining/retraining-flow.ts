import { Injectable } from '@nestjs/common';
import { InjectFlowProducer, InjectQueue } from '@nestjs/bullmq';
import { QUEUES, RETRAINING_STEPS, type JobName, type JobPayload, type RetrainingStep } from '@edgeloop/contracts';
import type { FlowJob, FlowProducer, Queue } from 'bullmq';
import type { RetrainingRunRecord } from './retraining-run.repository';

/** Name of the FlowProducer that adds retraining flows. */
export const RETRAINING_FLOW_PRODUCER = 'retraining';

/** Attempts per step: a restart mid-step costs one; a step that throws the same error three times fails the run. */
export const STEP_ATTEMPTS = 3;

export type StepJobState = 'active' | 'waiting' | 'completed' | 'failed' | 'missing';

/**
 * A run as a BullMQ flow on the `retraining` queue: `register` is the root and each step is the only child
 * of the next one, so BullMQ runs build-dataset → train-head → calibrate → evaluate → register, each after
 * the one before completed. Job ids are `<runId>-g<generation>-<step>`: re-adding a run (after Redis lost
 * it) uses the next generation, and the steps already done finish at once from their recorded outputs.
 */
@Injectable()
export class RetrainingFlow {
  constructor(
    @InjectFlowProducer(RETRAINING_FLOW_PRODUCER) private readonly flows: FlowProducer,
    @InjectQueue(QUEUES.retraining) private readonly queue: Queue,
  ) {}

  async add(run: RetrainingRunRecord, generation: number): Promise<void> {
    const payload = { runId: run.id, modelName: run.modelName, baseVersion: run.baseVersion };
    let node: FlowJob | undefined;
    for (const step of RETRAINING_STEPS) {
      const name: JobName = `retraining.${step}`;
      const data: JobPayload<typeof name> = step === 'register' ? { ...payload, autoCanary: run.autoCanary } : payload;
      node = {
        name,
        queueName: QUEUES.retraining,
        data,
        opts: {
          jobId: stepJobId(run.id, generation, step),
          attempts: STEP_ATTEMPTS,
          backoff: { type: 'exponential', delay: 2000 },
          failParentOnFailure: true,
          removeOnComplete: { age: 7 * 86_400 },
          removeOnFail: { age: 30 * 86_400 },
        },
        ...(node ? { children: [node] } : {}),
      };
    }
    await this.flows.add(node as FlowJob);
  }

  /** Where each step's job of this generation is in the queue. */
  async states(run: RetrainingRunRecord): Promise<Record<RetrainingStep, StepJobState>> {
    const entries = await Promise.all(
      RETRAINING_STEPS.map(async (step) => {
        const job = await this.queue.getJob(stepJobId(run.id, run.flowGeneration, step));
        if (!job) return [step, 'missing'] as const;
        const state = await job.getState();
        const mapped: StepJobState =
          state === 'completed' ? 'completed' : state === 'failed' ? 'failed' : state === 'active' ? 'active' : state === 'unknown' ? 'missing' : 'waiting';
        return [step, mapped] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<RetrainingStep, StepJobState>;
  }

  /** The reason BullMQ recorded for a step's failed job. */
  async failedReason(run: RetrainingRunRecord, step: RetrainingStep): Promise<string | undefined> {
    return (await this.queue.getJob(stepJobId(run.id, run.flowGeneration, step)))?.failedReason;
  }

  async ping(): Promise<void> {
    await this.queue.getJobCounts('active');
  }
}

export function stepJobId(runId: string, generation: number, step: RetrainingStep): string {
  return `${runId}-g${generation}-${step}`;
}
