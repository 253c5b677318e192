import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './cloud-build';

const HEALTH_TIMEOUT_MS = 240_000;

/**
 * One cloud replica as a real process (the compiled `main.js`), on a fixed HTTP port so that a restart
 * comes back at the same address. `kill()` is a SIGKILL: no shutdown hook runs.
 */
export class CloudProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';
  /** How many times this replica was started. */
  starts = 0;

  constructor(
    readonly name: string,
    private readonly main: string,
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.alive ? this.child?.pid : undefined;
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines of its output (all runs). */
  tail(chars = 4000): string {
    return this.log.slice(-chars);
  }

  async start(): Promise<void> {
    if (this.alive) return;
    this.starts++;
    const child = spawn(process.execPath, [this.main], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        NODE_PATH: join(repoRoot, 'node_modules'),
        TMPDIR: process.env.TMPDIR ?? tmpdir(),
        EDGELOOP_HTTP_HOST: '127.0.0.1',
        EDGELOOP_HTTP_PORT: String(this.port),
        // a temp data folder unless the caller names one (nothing removes it)
        ...(this.env.EDGELOOP_DATA_DIR ? {} : { EDGELOOP_DATA_DIR: mkdtempSync(join(tmpdir(), `edgeloop-${this.name}-`)) }),
        EDGELOOP_LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) =>
      (this.log = (
        this.log +
        chunk
          .toString()
          .replace(/\x1b\[[0-9;]*m/g, '')
          .replace(/^(?=.)/gm, `${this.name}| `)
      ).slice(-60_000));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = once(child, 'exit').then(() => undefined);
    await this.waitHealthy();
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (this.alive) this.child!.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (SIGKILL after 10 s): the clean stop at the end of a test. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** `/api/v1/health/live` answers: the process serves HTTP (its dependencies may be away). */
  async waitLive(timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    await this.waitFor('/api/v1/health/live', timeoutMs);
  }

  /** `/api/v1/health` answers 200: SQL, S3, Redis and the broker are all reachable. */
  async waitHealthy(timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    await this.waitFor('/api/v1/health', timeoutMs);
  }

  private async waitFor(path: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (!this.alive) throw new Error(`${this.name} exited (${this.child?.exitCode ?? this.child?.signalCode}):\n${this.tail()}`);
      try {
        const res = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${this.name}: ${path} not 200 within ${timeoutMs} ms (${last})\n${this.tail()}`);
  }
}
