import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './edge-env';

/**
 * Compiles the edge worker (and the libs it imports) with swc into a temp folder, for tests that must run
 * it as a real process (kill -9). Packages resolve from the repository's node_modules through NODE_PATH.
 */
export function buildEdge(): { main: string; remove: () => void } {
  const out = mkdtempSync(join(tmpdir(), 'edge-build-'));
  execFileSync(process.execPath, [join(repoRoot, 'node_modules', '@swc', 'cli', 'bin', 'swc.js'), 'apps/edge/src', 'libs', '-d', out, '--copy-files', '--quiet'], {
    cwd: repoRoot,
  });
  return { main: join(out, 'apps', 'edge', 'src', 'main.js'), remove: () => rmSync(out, { recursive: true, force: true }) };
}

/** One run of the worker as a child process, its output kept for assertions. */
export class EdgeProcess {
  output = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(main: string, env: Record<string, string | undefined>) {
    this.child = spawn(process.execPath, [main], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, NODE_PATH: join(repoRoot, 'node_modules'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (!this.alive) throw new Error(`the worker exited before printing ${pattern}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The port of its /healthz and /metrics, from its start-up line. */
  async httpPort(): Promise<number> {
    const match = await this.waitForOutput(/health and metrics on http:\/\/127\.0\.0\.1:(\d+)/);
    return Number(match[1]);
  }

  async health(): Promise<Record<string, unknown>> {
    const res = await fetch(`http://127.0.0.1:${await this.httpPort()}/healthz`);
    return (await res.json()) as Record<string, unknown>;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}
