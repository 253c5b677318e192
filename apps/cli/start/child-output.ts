import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { story } from './story';

/** NestJS's per-route boot lines: useful when debugging routes, noise in the demo. */
const bootNoise = /\[(RouterExplorer|RoutesResolver|InstanceLoader)\]/;

/**
 * The output of the cloud and the edge workers: every line goes to `<data>/logs/<name>.log`. On the terminal, a
 * child's warnings and errors (its stderr) are shown prefixed with its name; its other lines (one per frame on a
 * worker) only with `--verbose` (or after the `v` key). The last lines are kept to show when the child dies.
 */
export class ChildOutput {
  verbose: boolean;
  readonly dir: string;
  private readonly files = new Map<string, string>();
  private readonly streams: WriteStream[] = [];
  private readonly tails = new Map<string, string[]>();

  constructor(dataDir: string, verbose: boolean) {
    this.dir = join(dataDir, 'logs');
    mkdirSync(this.dir, { recursive: true });
    this.verbose = verbose;
  }

  /** The log file of each child so far, by name. */
  get logFiles(): Record<string, string> {
    return Object.fromEntries(this.files);
  }

  logFile(name: string): string {
    return join(this.dir, `${name}.log`);
  }

  attach(name: string, child: ChildProcess): void {
    const file = this.logFile(name);
    const log = createWriteStream(file, { flags: 'w' });
    this.files.set(name, file);
    this.streams.push(log);
    const tail: string[] = [];
    this.tails.set(name, tail);
    const follow = (stream: NodeJS.ReadableStream | null, isStderr: boolean): void => {
      if (!stream) return;
      createInterface({ input: stream }).on('line', (line) => {
        log.write(`${line}\n`);
        if ((this.verbose || isStderr) && !bootNoise.test(line)) return story.line(`${name.padEnd(7)}| ${line}`, isStderr);
        // the lines the terminal did not show, for the moment this child dies
        tail.push(line);
        if (tail.length > 20) tail.shift();
      });
    };
    follow(child.stdout, false);
    follow(child.stderr, true);
  }

  /** The last lines of a child that the terminal did not show (for a child that died). */
  tail(name: string): string[] {
    return [...(this.tails.get(name) ?? [])];
  }

  close(): Promise<void> {
    return Promise.all(this.streams.map((s) => new Promise<void>((done) => s.end(done)))).then(() => undefined);
  }
}
