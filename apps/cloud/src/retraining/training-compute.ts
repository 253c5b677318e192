import { Injectable, Logger, OnApplicationShutdown, BeforeApplicationShutdown } from '@nestjs/common';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import {
  readViews,
  writeViews,
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

/** A task failed inside the process (a TrainingError, bad data): retrying the same inputs gives the same answer. */
export class ComputeTaskError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * Runs the CPU-bound part of each retraining step (training-task.ts) in a child process, one per task, so the
 * cloud's event loop keeps renewing job locks and answering HTTP meanwhile. A process, not a worker thread: a
 * worker thread's heap is collected by the same pool of V8 helper threads as the cloud's own, and while the
 * training churned through a dataset the cloud's marking waited behind it — its full collections then paused the
 * loop 120–155 ms at 1,000 × 10 (docs/benchmarks.md, "Retraining"). The process has its own V8 and runs at a lower
 * priority as a whole (its GC threads too, through `nice` where the system has it), so on a busy machine the
 * cloud gets a core before the training does. Its byte inputs and outputs are files in a folder of the task's
 * own (`writeViews`); what comes back is read into shared memory, which the next steps' tasks are handed as it
 * is. A shutdown kills running processes: their steps fail with `ComputeInterruptedError` and are retried after
 * the restart from their stored inputs; a process whose cloud dies leaves with it (its IPC channel closes).
 */
@Injectable()
export class TrainingCompute implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(TrainingCompute.name);
  private readonly running = new Set<ChildProcess>();
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

  private async run(task: TrainingTask): Promise<unknown> {
    if (this.closing) throw new ComputeInterruptedError('the cloud is shutting down');
    const started = performance.now();
    const dir = await mkdtemp(join(tmpdir(), 'edgeloop-training-'));
    try {
      const input = await writeViews(task.input, dir, 'in');
      const result = await this.inProcess({ ...task, input } as TrainingTask, dir);
      this.logger.debug(`${task.kind} took ${Math.round(performance.now() - started)} ms in a child process`);
      return await readViews(result, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private inProcess(task: TrainingTask, dir: string): Promise<unknown> {
    if (this.closing) return Promise.reject(new ComputeInterruptedError('the cloud is shutting down'));
    const entry = join(__dirname, 'training-process.js');
    const args = [this.taskModule, this.swcrc];
    // the whole process below the cloud's priority: `nice` starts it there, so every thread it makes inherits it
    const child = NICE_COMMAND
      ? fork(entry, args, { execPath: NICE_COMMAND, execArgv: ['-n', String(PROCESS_NICE), process.execPath], serialization: 'advanced' })
      : fork(entry, args, { serialization: 'advanced' });
    this.running.add(child);
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        this.running.delete(child);
        fn();
        if (child.exitCode === null) child.kill('SIGKILL');
      };
      child.on('message', (message: { ok: boolean; result?: unknown; error?: { message: string; code?: string } }) => {
        settle(() => (message.ok ? resolve(message.result) : reject(new ComputeTaskError(message.error?.message ?? 'failed', message.error?.code))));
      });
      child.on('error', (err) => settle(() => reject(this.closing ? new ComputeInterruptedError('the cloud is shutting down') : err)));
      child.on('exit', (code, signal) =>
        settle(() =>
          reject(
            this.closing
              ? new ComputeInterruptedError('the cloud is shutting down')
              : new Error(`the ${task.kind} process exited with ${signal ?? `code ${code}`}`),
          ),
        ),
      );
      child.send({ task, dir });
    });
  }

  /** Before the queue's workers close (they wait for active jobs): stop every process, so those jobs end now. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.running.size > 0) this.logger.warn(`stopping ${this.running.size} retraining computation(s) for shutdown; their steps resume after the restart`);
    await Promise.all(
      [...this.running].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
  }
}

/**
 * Nice value of a training process (0 normal … 19 lowest): a little below the cloud, for when busy threads outnumber
 * the cores. Only a little: on a machine shared with other work, a high nice value starves the training itself
 * (seen here: nice 10 at load 20 made a 232-example run take 100 s).
 */
const PROCESS_NICE = 2;

/** `nice` (coreutils), when the system has it: the training process is started through it. */
const NICE_COMMAND = ['/usr/bin/nice', '/bin/nice'].find((path) => existsSync(path));

function findUp(from: string, name: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, name))) return join(dir, name);
    if (dirname(dir) === dir) return '';
  }
}
