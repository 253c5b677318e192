import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CloudConfig } from '../config/cloud.config';

export interface TensorInfo {
  name: string;
  isTensor: boolean;
  type: string;
  shape: Array<number | string>;
  runShape?: number[];
}

export interface OnnxInspection {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  ran: boolean;
  runError?: string;
}

export class OnnxInspectionError extends Error {
  constructor(
    message: string,
    readonly reason: 'load_failed' | 'timeout' | 'crashed',
  ) {
    super(message);
  }
}

/** Files one validator process checks before it is replaced (onnxruntime's arenas and any leak start over). */
const JOBS_PER_PROCESS = 20;
/** A validator whose RSS stays above this after a file is replaced rather than kept. */
const MAX_IDLE_RSS_MB = 300;
/** Validators kept waiting for the next file, and for how long. */
const MAX_IDLE_PROCESSES = 2;
const IDLE_EXIT_MS = 60_000;

type Answer = ({ ok: true } & OnnxInspection) | { ok: false; error: string };

/** One validator child process: one file at a time, over its IPC channel. */
class ValidatorProcess {
  readonly child: ChildProcess;
  jobs = 0;
  exited = false;
  private stderr = '';
  private pending: { id: number; settle: (answer: (Answer & { rssMb?: number }) | Error) => void } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 0;

  constructor(entry: string, onExit: (p: ValidatorProcess) => void) {
    this.child = spawn(process.execPath, [entry], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { PATH: process.env.PATH ?? '', OMP_NUM_THREADS: '1' },
    });
    this.child.stderr?.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-1000)));
    this.child.on('message', (message: { id?: number } & Answer & { rssMb?: number }) => {
      if (this.pending && message.id === this.pending.id) this.pending.settle(message);
    });
    const ended = (detail: string) => {
      if (this.exited) return;
      this.exited = true;
      this.clearIdle();
      this.pending?.settle(new OnnxInspectionError(`the model validator ${detail}: ${this.stderr.trim().slice(-300)}`, 'crashed'));
      onExit(this);
    };
    this.child.on('error', (err) => ended(`could not start: ${err.message}`));
    this.child.on('exit', (code, signal) => ended(signal ? `was killed by ${signal}` : `exited with code ${code}`));
  }

  /** Checks one file; rejects on a timeout (the process is killed) or a crash. */
  run(file: string, timeoutMs: number): Promise<Answer & { rssMb?: number }> {
    this.clearIdle();
    this.jobs++;
    this.stderr = '';
    this.setReferenced(true);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        this.kill();
        reject(new OnnxInspectionError(`the model did not load within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      this.pending = {
        id,
        settle: (answer) => {
          clearTimeout(timer);
          this.pending = null;
          if (answer instanceof Error) reject(answer);
          else resolve(answer);
        },
      };
      this.child.send({ id, file }, (err) => {
        if (err) this.pending?.settle(new OnnxInspectionError(`could not reach the model validator: ${err.message}`, 'crashed'));
      });
    });
  }

  /** Waiting for the next file: it does not keep the cloud alive, and exits after `ms` unused. */
  park(ms: number, onIdleExit: () => void): void {
    this.setReferenced(false);
    this.idleTimer = setTimeout(() => {
      onIdleExit();
      this.kill();
    }, ms);
    this.idleTimer.unref();
  }

  kill(): void {
    this.clearIdle();
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private setReferenced(on: boolean): void {
    const channel = this.child.channel as { ref(): void; unref(): void } | undefined;
    if (on) {
      this.child.ref();
      channel?.ref();
    } else {
      this.child.unref();
      channel?.unref();
    }
  }
}

/**
 * Loads ONNX files in onnxruntime-node inside child processes with a time limit, so a model that crashes
 * the runtime or hangs it cannot take the API down. A validator that answered stays up for the next file
 * (up to JOBS_PER_PROCESS files, while its RSS stays under MAX_IDLE_RSS_MB, for IDLE_EXIT_MS unused); one
 * that crashed or timed out is gone and the next file gets a new one. `prewarm()` starts one when an
 * upload begins, so it is ready by the time the body has arrived.
 */
@Injectable()
export class OnnxInspector implements OnModuleDestroy {
  private readonly timeoutMs: number;
  private readonly entry: string;
  private readonly idle: ValidatorProcess[] = [];
  private readonly all = new Set<ValidatorProcess>();

  constructor(config: CloudConfig) {
    this.timeoutMs = config.validationTimeoutMs;
    const script = join(__dirname, 'inspect-child.js');
    const sourceScript = script.replace(/([\\/])dist[\\/]apps[\\/]/, '$1apps$1');
    this.entry = existsSync(script) ? script : sourceScript;
  }

  /** Makes sure a validator is starting or waiting, for a file that will come soon. */
  prewarm(): void {
    if (this.idle.length > 0) return;
    const validator = this.start();
    this.park(validator);
  }

  async inspect(file: string): Promise<OnnxInspection> {
    let validator = this.idle.pop() ?? this.start();
    let answer: Awaited<ReturnType<ValidatorProcess['run']>>;
    try {
      answer = await validator.run(file, this.timeoutMs);
    } catch (err) {
      // a kept validator may have died while it waited (its exit not seen yet): only a new one's crash is the model's
      if (!(err instanceof OnnxInspectionError && err.reason === 'crashed' && validator.jobs > 1)) throw err;
      validator = this.start();
      answer = await validator.run(file, this.timeoutMs);
    }
    if (validator.jobs >= JOBS_PER_PROCESS || (answer.rssMb ?? 0) > MAX_IDLE_RSS_MB || this.idle.length >= MAX_IDLE_PROCESSES) {
      validator.kill();
    } else {
      this.park(validator);
    }
    if (!answer.ok) throw new OnnxInspectionError(`onnxruntime cannot load it: ${firstLine(answer.error)}`, 'load_failed');
    return { inputs: answer.inputs, outputs: answer.outputs, ran: answer.ran, runError: answer.runError };
  }

  onModuleDestroy(): void {
    for (const validator of this.all) validator.kill();
  }

  private start(): ValidatorProcess {
    const validator = new ValidatorProcess(this.entry, (gone) => {
      this.all.delete(gone);
      const at = this.idle.indexOf(gone);
      if (at >= 0) this.idle.splice(at, 1);
    });
    this.all.add(validator);
    return validator;
  }

  private park(validator: ValidatorProcess): void {
    if (validator.exited) return;
    this.idle.push(validator);
    validator.park(IDLE_EXIT_MS, () => {
      const at = this.idle.indexOf(validator);
      if (at >= 0) this.idle.splice(at, 1);
    });
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}
