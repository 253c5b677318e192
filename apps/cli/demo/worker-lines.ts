/**
 * Reads an edge worker's output alongside whatever else prints or logs it: a plain `data` listener (a second
 * readline interface would pause the shared stream when closed), split into lines, matched against a pattern.
 */
export class WorkerLines {
  private partial = '';
  private readonly waiters = new Set<{ pattern: RegExp; done: (match: RegExpExecArray) => void }>();
  private readonly onData = (chunk: Buffer | string): void => {
    const text = this.partial + chunk.toString();
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > 64 * 1024) this.partial = '';
    for (const line of lines) {
      for (const waiter of [...this.waiters]) {
        const match = waiter.pattern.exec(line);
        if (match) {
          this.waiters.delete(waiter);
          waiter.done(match);
        }
      }
    }
  };

  constructor(private readonly stream: NodeJS.ReadableStream) {
    stream.on('data', this.onData);
  }

  /** The first line from now on that matches `pattern`, or undefined after `timeoutMs`. */
  next(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | undefined> {
    return new Promise((resolve) => {
      const waiter = {
        pattern,
        done: (match: RegExpExecArray) => {
          clearTimeout(timer);
          resolve(match);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.stream.removeListener('data', this.onData);
    this.waiters.clear();
  }
}

/** A frame line of the edge's InferenceLoop that names `identity`, with its score in group 1. */
export function namedInFrame(identity: string): RegExp {
  const name = identity.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // the frame's origin may hold colons (`http-push:127.0.0.1:8080 from 127.0.0.1`); a face follows `: ` or `; `
  return new RegExp(`InferenceLoop\\] frame \\d+ .*[:;] ${name} score (-?\\d+\\.\\d+)`);
}
