import type { EmbeddedLogger } from './logger';
import { freePort } from './ports';
import { ServerProcess, waitUntilReady, withPortRetry } from './server-process';
import { trackStarted } from './started-handles';
import { removeWorkDir, type WorkDir } from './work-dir';

/** Handle of a spawned server that can be halted and resumed on the same port with the same files. */
export interface RestartableServerHandle {
  readonly port: number;
  readonly dir: string;
  readonly logFile: string;
  /** Process id of the current server process (changes on resume/restart); undefined while halted. */
  readonly pid: number | undefined;
  /** True between a successful start/resume and halt/stop. */
  readonly running: boolean;
  /** Milliseconds from spawn to ready of the last start or resume. */
  readonly lastStartMs: number;
  /** Stops the process cleanly but keeps port and files, for outage tests; `resume()` brings it back. */
  halt(): Promise<void>;
  /** Starts the server again on the same port with the same files. */
  resume(): Promise<void>;
  /** `halt()` then `resume()`. */
  restart(): Promise<void>;
  /** Final stop: process gone, temp dir removed. Safe to call twice. */
  stop(): Promise<void>;
}

export abstract class RestartableServer implements RestartableServerHandle {
  /** Milliseconds from spawn to ready of the last start or resume. */
  lastStartMs = 0;
  private process: ServerProcess | undefined;
  private stopped = false;

  protected constructor(
    readonly port: number,
    protected readonly workDir: WorkDir,
    protected readonly startTimeoutMs: number,
    protected readonly logger: EmbeddedLogger,
  ) {}

  /** Spawns the server process (called for start and every resume). */
  protected abstract spawnProcess(): ServerProcess;
  /** True once the server serves requests. */
  protected abstract isReady(): Promise<boolean>;
  abstract readonly name: string;
  abstract readonly logFile: string;

  get dir(): string {
    return this.workDir.path;
  }

  get pid(): number | undefined {
    return this.process?.running ? this.process.pid : undefined;
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  async start(): Promise<void> {
    const started = Date.now();
    this.process = this.spawnProcess();
    await waitUntilReady(this.process, () => this.isReady(), { timeoutMs: this.startTimeoutMs });
    this.lastStartMs = Date.now() - started;
    this.logger.log(`${this.name} ready on port ${this.port} after ${this.lastStartMs} ms (dir ${this.dir})`);
  }

  async halt(): Promise<void> {
    if (this.stopped) throw new Error(`${this.name}: halt() after stop()`);
    await this.process?.stop();
  }

  async resume(): Promise<void> {
    if (this.stopped) throw new Error(`${this.name}: resume() after stop()`);
    if (this.running) return;
    await this.start();
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.resume();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.process?.stop();
    this.afterStop();
    removeWorkDir(this.workDir);
  }

  /** Hook for subclasses that own more than the work dir. */
  protected afterStop(): void {}
}

/**
 * Starts the server that `create` makes for a port: on `fixedPort`, or on a free port of 127.0.0.1, again on
 * another one when the server finds it taken meanwhile. `prepare` runs first (PostgreSQL's initdb). When no
 * start succeeds, the work dir is removed and the error thrown.
 */
export async function startOnPort<T extends RestartableServer>(
  workDir: WorkDir,
  fixedPort: number | undefined,
  create: (port: number) => T,
  prepare?: () => Promise<void>,
): Promise<T> {
  try {
    await prepare?.();
    return await withPortRetry(
      fixedPort === undefined ? () => freePort() : async () => fixedPort,
      async (port) => {
        const handle = create(port);
        await handle.start();
        return trackStarted(handle);
      },
      fixedPort === undefined ? 5 : 1,
    );
  } catch (error) {
    removeWorkDir(workDir);
    throw error;
  }
}
