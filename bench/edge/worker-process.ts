import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

/** One line the worker wrote, with the time its logger put on it (ms since the epoch; NaN if none). */
export interface LogLine {
  at: number;
  text: string;
}

const LOG_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) /;

/** How the worker is started, beyond its environment: node flags before the script, another build's main.js. */
export interface WorkerStart {
  nodeArgs?: readonly string[];
  /** The worker's main.js (default: this build's apps/edge/src/main.js). */
  main?: string;
}

/**
 * The real edge worker (`dist/apps/edge/src/main.js`) as a child process with exactly the environment
 * given (plus PATH): its log lines kept with their timestamps, its /healthz and /metrics on the free
 * port it logs at start.
 */
export class WorkerProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private partial = { stdout: '', stderr: '' };
  private port: number | undefined;

  constructor(root: string, env: Record<string, string>, start: WorkerStart = {}) {
    const main = start.main ?? path.resolve(__dirname, '..', '..', 'apps', 'edge', 'src', 'main.js');
    this.child = spawn(process.execPath, [...(start.nodeArgs ?? []), main], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.take('stdout', chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.take('stderr', chunk));
    this.exited = once(this.child, 'exit').then(() => undefined);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines, for error messages. */
  tail(count = 30): string {
    return this.lines
      .slice(-count)
      .map((l) => l.text)
      .join('\n');
  }

  async waitForLine(pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<LogLine & { match: RegExpMatchArray }> {
    const deadline = Date.now() + timeoutMs;
    let checked = from;
    for (;;) {
      for (; checked < this.lines.length; checked++) {
        const match = this.lines[checked].text.match(pattern);
        if (match) return { ...this.lines[checked], match };
      }
      if (!this.alive) throw new Error(`the worker exited before logging ${pattern}:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`the worker logged no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      await sleep(25);
    }
  }

  /** Its /healthz and /metrics port, from its start-up line. */
  async httpPort(): Promise<number> {
    this.port ??= Number((await this.waitForLine(/health and metrics on http:\/\/127\.0\.0\.1:(\d+)/)).match[1]);
    return this.port;
  }

  /** Resolves once /healthz answers 200 (a model serves and the frame loop runs). */
  async healthy(timeoutMs = 60_000): Promise<void> {
    const port = await this.httpPort();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) return;
      if (!this.alive) throw new Error(`the worker exited while starting:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`the worker was not healthy within ${timeoutMs} ms:\n${this.tail()}`);
      await sleep(100);
    }
  }

  async metrics(): Promise<PrometheusSamples> {
    const res = await fetch(`http://127.0.0.1:${await this.httpPort()}/metrics`);
    return new PrometheusSamples(await res.text());
  }

  /** SIGTERM (the worker flushes and exits 0), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  private take(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + chunk.toString();
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) {
      const time = LOG_TIME.exec(line);
      this.lines.push({ at: time ? Date.parse(time[1]) : Number.NaN, text: line });
    }
  }
}

/** Samples of a Prometheus text exposition, looked up by metric name and some of their labels. */
export class PrometheusSamples {
  private readonly samples: { name: string; labels: Record<string, string>; value: number }[] = [];

  constructor(text: string) {
    for (const line of text.split('\n')) {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
      if (!match) continue;
      const labels: Record<string, string> = {};
      for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
      this.samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
  }

  /** Sum of the samples of `name` whose labels include `labels` (0 when there are none). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((sum, s) => sum + s.value, 0);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
