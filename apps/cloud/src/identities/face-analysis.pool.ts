import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DomainError } from '../errors/domain.errors';
import type { FaceJob, FaceJobRequest, FaceJobResponse, FaceJobResult } from './face-worker.protocol';

/** Jobs waiting for or in the worker beyond which a new one is refused with 429 `busy`. */
export const FACE_QUEUE_LIMIT = 64;
/** A job that takes longer than this ends the worker (it is started again for the next job). */
export const FACE_JOB_TIMEOUT_MS = 120_000;

export class FaceAnalysisBusyError extends DomainError {
  constructor(limit: number) {
    super(429, 'busy', `the face analysis queue is full (${limit} jobs); try again shortly`);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * The cloud's face analysis (detect, align, embed with @edgeloop/vision) in one worker thread, so photos
 * are never decoded or run through onnxruntime on the API's event loop. One worker is enough on a small
 * host; jobs queue in order, at most FACE_QUEUE_LIMIT of them. A crashed or stuck worker fails its jobs
 * and is started again on the next one.
 */
@Injectable()
export class FaceAnalysisPool implements OnModuleDestroy {
  private readonly logger = new Logger(FaceAnalysisPool.name);
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private readonly limit = FACE_QUEUE_LIMIT;

  run<J extends FaceJob>(job: J): Promise<FaceJobResult<J>> {
    if (this.closed) return Promise.reject(new Error('the face analysis pool is closed'));
    if (this.pending.size >= this.limit) return Promise.reject(new FaceAnalysisBusyError(this.limit));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<FaceJobResult<J>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.logger.error(`face job ${job.op} took over ${FACE_JOB_TIMEOUT_MS} ms; restarting the worker`);
        this.fail(new Error(`face analysis timed out after ${FACE_JOB_TIMEOUT_MS} ms`));
      }, FACE_JOB_TIMEOUT_MS);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      worker.ref();
      worker.postMessage({ id, job } satisfies FaceJobRequest);
    });
  }

  /** Jobs queued or running. */
  get queued(): number {
    return this.pending.size;
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.fail(new Error('the face analysis pool is closing'));
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(join(__dirname, 'face-worker.js'), { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    worker.on('message', (response: FaceJobResponse) => {
      const entry = this.pending.get(response.id);
      if (!entry) return;
      this.pending.delete(response.id);
      clearTimeout(entry.timer);
      if (this.pending.size === 0) worker.unref();
      if (response.ok) entry.resolve(response.result);
      else entry.reject(new Error(`face analysis failed: ${response.message}`));
    });
    worker.on('error', (err) => {
      this.logger.error(`face worker failed: ${err.message}`);
      if (this.worker === worker) this.fail(err);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      if (!this.closed) this.logger.warn(`face worker exited with code ${code}`);
      this.fail(new Error(`the face worker exited (code ${code})`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Rejects every job and ends the worker; the next job starts a new one. */
  private fail(err: Error): void {
    const worker = this.worker;
    this.worker = null;
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(err);
      this.pending.delete(id);
    }
    if (worker) void worker.terminate().catch(() => undefined);
  }
}
