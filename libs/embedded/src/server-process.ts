import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { findBinary } from '@edgeloop/binaries';
import { mentionsAddressInUse } from './ports';
import { onProcessExit } from './process-cleanup';
import { userIds } from './work-dir';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export interface ServerProcessOptions {
  /** Short name used in errors, e.g. `redis`. */
  name: string;
  /** Absolute path of the server binary. */
  command: string;
  args: readonly string[];
  /** stdout and stderr of the server are appended here. */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this user (needs root); used for PostgreSQL, which refuses to run as root. */
  runAs?: string;
  /** Signal that shuts the server down cleanly; also sent to it when this process dies. */
  stopSignal?: NodeJS.Signals;
}

/** A server that did not come up; carries the tail of its log. */
export class ServerStartError extends Error {
  readonly code = 'SERVER_START_FAILED';
  readonly addressInUse: boolean;
  constructor(
    readonly server: string,
    reason: string,
    readonly logFile: string,
    readonly logTail: string,
  ) {
    super(`${server} failed to start: ${reason}\n--- last lines of ${logFile} ---\n${logTail || '(empty)'}`);
    this.name = 'ServerStartError';
    this.addressInUse = mentionsAddressInUse(logTail);
  }
}

/** True while `pid` runs; a zombie (exited, not yet reaped) counts as gone. */
export function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function readLogTail(logFile: string, lines = 25): string {
  try {
    const text = readFileSync(logFile, 'utf8');
    return text.slice(-8000).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const running = new Set<ServerProcess>();
let cleanupRegistered = false;

/**
 * Children die with this process: the exit hooks signal them, and each child also carries a
 * parent-death signal (setpriv --pdeathsig) so that even a SIGKILL of this process leaves no
 * orphan behind.
 */
function signalAllSync(): void {
  for (const server of running) server.signalSync();
}

/** Processes started here that are still running. */
export function runningServerProcesses(): readonly ServerProcess[] {
  return [...running];
}

function wrapCommand(options: ServerProcessOptions, stopSignal: NodeJS.Signals): { command: string; args: string[] } {
  const setpriv = findBinary('setpriv');
  if (setpriv) {
    const identity: string[] = [];
    if (options.runAs) {
      const ids = userIds(options.runAs);
      identity.push(`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--init-groups');
    }
    return { command: setpriv, args: [...identity, `--pdeathsig=${stopSignal}`, '--', options.command, ...options.args] };
  }
  if (options.runAs) {
    const runuser = findBinary('runuser') ?? findBinary('su');
    if (!runuser) throw new Error(`${options.name}: cannot switch to user ${options.runAs}: neither setpriv nor runuser found`);
    if (runuser.endsWith('/su')) {
      const line = [options.command, ...options.args].map((part) => `'${part.replace(/'/g, `'\\''`)}'`).join(' ');
      return { command: runuser, args: [options.runAs, '-s', '/bin/sh', '-c', `exec ${line}`] };
    }
    return { command: runuser, args: ['-u', options.runAs, '--', options.command, ...options.args] };
  }
  return { command: options.command, args: [...options.args] };
}

/** One spawned server: output to a log file, tracked until it exits, stopped with its own signal. */
export class ServerProcess {
  readonly name: string;
  readonly logFile: string;
  readonly stopSignal: NodeJS.Signals;
  readonly exited: Promise<ExitStatus>;
  private exitStatusValue: ExitStatus | undefined;
  private readonly child: ChildProcess;

  private constructor(options: ServerProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    this.stopSignal = options.stopSignal ?? 'SIGTERM';
    const { command, args } = wrapCommand(options, this.stopSignal);
    const logFd = openSync(options.logFile, 'a');
    try {
      this.child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    this.exited = new Promise<ExitStatus>((resolve) => {
      const finish = (status: ExitStatus): void => {
        if (this.exitStatusValue) return;
        this.exitStatusValue = status;
        running.delete(this);
        resolve(status);
      };
      this.child.once('error', (error) => finish({ code: null, signal: null, error }));
      this.child.once('exit', (code, signal) => finish({ code, signal }));
    });
    running.add(this);
    if (!cleanupRegistered) {
      cleanupRegistered = true;
      onProcessExit(signalAllSync);
    }
  }

  static spawn(options: ServerProcessOptions): ServerProcess {
    return new ServerProcess(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatusValue === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.exitStatusValue;
  }

  describeExit(): string {
    const status = this.exitStatusValue;
    if (!status) return 'still running';
    if (status.error) return `could not be spawned: ${status.error.message}`;
    return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
  }

  /** Sends the stop signal without waiting; used from exit hooks, where nothing async runs. */
  signalSync(): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, this.stopSignal);
    } catch {
      // already gone
    }
  }

  /** Stops the server with its clean-shutdown signal; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child.kill(this.stopSignal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.child.kill('SIGKILL');
    return this.exited;
  }
}

export interface ReadinessOptions {
  /** Give up after this long; default 10 s. */
  timeoutMs?: number;
  /** Time between probes; default 50 ms. */
  intervalMs?: number;
}

/**
 * Polls `probe` until it answers true. Fails fast with the log tail when the server exits, and
 * stops the server and fails after the time limit.
 */
export async function waitUntilReady(server: ServerProcess, probe: () => Promise<boolean>, options: ReadinessOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!server.running) {
      throw new ServerStartError(server.name, server.describeExit(), server.logFile, readLogTail(server.logFile));
    }
    const ready = await Promise.race([probe().catch(() => false), server.exited.then(() => false)]);
    if (ready) return;
    if (Date.now() > deadline) {
      await server.stop(2_000);
      throw new ServerStartError(server.name, `not ready after ${(timeoutMs / 1000).toFixed(1)} s`, server.logFile, readLogTail(server.logFile));
    }
    await Promise.race([new Promise((resolve) => setTimeout(resolve, intervalMs)), server.exited]);
  }
}

/**
 * Runs `attempt` on a fresh free port, again with another port when the server reports that the
 * address is in use (another process took the port between `freePort()` and the bind).
 */
export async function withPortRetry<T>(pickPort: () => Promise<number>, attempt: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await pickPort();
    try {
      return await attempt(port);
    } catch (error) {
      lastError = error;
      if (!(error instanceof ServerStartError && error.addressInUse)) throw error;
    }
  }
  throw lastError;
}
