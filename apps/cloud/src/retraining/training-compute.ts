import { Injectable, Logger, OnApplicationShutdown, BeforeApplicationShutdown } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  transferablesOf,
  type BuildDatasetResult,
  type BuildDatasetTask,
  type CalibrateResult,
  type CalibrateTask,
  type EvaluateResult,
  type EvaluateTask,
  type HeadDeltaResult,
  type HeadDeltaTask,
  type TrainHeadResult,
  type TrainHeadTask,
  type TrainingTask,
} from './training-task';

/** A task ended because the cloud is shutting down; the queue retries the step after the restart. */
export class ComputeInterruptedError extends Error {}

/** A task failed inside the thread (a TrainingError, bad data): retrying the same inputs gives the same answer. */
export class ComputeTaskError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Runs the CPU-bound part of each retraining step (training-task.ts) in a worker thread, one thread per
 * task, so the worker's event loop keeps renewing job locks and answering HTTP meanwhile. Inputs and
 * outputs are bytes and typed arrays handed over whole (transferred), and the thread lowers its own
 * scheduling priority, so on a busy machine the event loop gets a core before the training does. A shutdown
 * terminates running threads: their steps fail with `ComputeInterruptedError` and are retried after the
 * restart from their stored inputs.
 */
@Injectable()
export class TrainingCompute implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(TrainingCompute.name);
  private readonly running = new Set<Worker>();
  private closing = false;
  private readonly taskModule = join(__dirname, `training-task${extname(__filename)}`);
  private readonly swcrc = findUp(__dirname, '.swcrc');

  buildDataset(input: BuildDatasetTask): Promise<BuildDatasetResult> {
    return this.run({ kind: 'build-dataset', input }) as Promise<BuildDatasetResult>;
  }

  trainHead(input: TrainHeadTask): Promise<TrainHeadResult> {
    return this.run({ kind: 'train-head', input }) as Promise<TrainHeadResult>;
  }

  calibrate(input: CalibrateTask): Promise<CalibrateResult> {
    return this.run({ kind: 'calibrate', input }) as Promise<CalibrateResult>;
  }

  evaluate(input: EvaluateTask): Promise<EvaluateResult> {
    return this.run({ kind: 'evaluate', input }) as Promise<EvaluateResult>;
  }

  headDelta(input: HeadDeltaTask): Promise<HeadDeltaResult> {
    return this.run({ kind: 'head-delta', input }) as Promise<HeadDeltaResult>;
  }

  private run(task: TrainingTask): Promise<unknown> {
    if (this.closing) return Promise.reject(new ComputeInterruptedError('the cloud is shutting down'));
    const started = performance.now();
    const worker = new Worker(join(__dirname, 'training-thread.js'), { workerData: { taskModule: this.taskModule, swcrc: this.swcrc } });
    this.running.add(worker);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.running.delete(worker);
        fn();
        void worker.terminate();
      };
      worker.on('message', (message: { ok: boolean; result?: unknown; error?: { message: string; code?: string } }) => {
        this.logger.debug(`${task.kind} took ${Math.round(performance.now() - started)} ms in a worker thread`);
        settle(() => (message.ok ? resolve(message.result) : reject(new ComputeTaskError(message.error?.message ?? 'failed', message.error?.code))));
      });
      worker.on('error', (err) => settle(() => reject(this.closing ? new ComputeInterruptedError('the cloud is shutting down') : err)));
      worker.on('exit', (code) =>
        settle(() =>
          reject(this.closing ? new ComputeInterruptedError('the cloud is shutting down') : new Error(`the ${task.kind} thread exited with code ${code}`)),
        ),
      );
      // the input's buffers move to the thread (the caller does not use them again): nothing is copied here
      worker.postMessage(task, transferablesOf(task.input));
    });
  }

  /** Before the queue's workers close (they wait for active jobs): stop every thread, so those jobs end now. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.running.size > 0) this.logger.warn(`stopping ${this.running.size} retraining computation(s) for shutdown; their steps resume after the restart`);
    await Promise.all([...this.running].map((w) => w.terminate()));
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
  }
}

function findUp(from: string, name: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, name))) return join(dir, name);
    if (dirname(dir) === dir) return '';
  }
}
