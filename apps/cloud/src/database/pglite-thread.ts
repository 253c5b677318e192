import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

/** A PostgreSQL error as the worker thread sends it: message, name and the server's fields (`code` …). */
interface ThreadError {
  name: string;
  message: string;
  [field: string]: string;
}

type Answer = { id: number; ok: true; rows?: unknown[] } | { id: number; ok: false; error: ThreadError };

type Request =
  | { op: 'query'; text: string; params: unknown[]; tx?: number }
  | { op: 'exec'; text: string }
  | { op: 'begin' | 'commit' | 'rollback'; tx: number }
  | { op: 'close' };

/**
 * PGlite (PostgreSQL in WebAssembly, the embedded SQL store) in a worker thread of its own
 * (pglite-thread-worker.js): each statement is a message, the engine's work — planning, executing, decoding the
 * result into rows — runs on that thread, and the cloud's event loop only sends the statement and takes the rows
 * (a structured clone, done natively). On the main thread a statement held the loop for as long as it ran (a page
 * of 200 hard-example rows ≈ 10 ms, 55 of them in a retraining run's first second), and every HTTP answer,
 * MQTT packet and Redis reply waited behind it.
 *
 * Transactions keep PGlite's own semantics: `begin` is answered from inside PGlite's transaction, whose lock keeps
 * every other statement waiting until `commit` or `rollback` ends it.
 */
export class PgliteThread {
  private readonly pending = new Map<number, { resolve(answer: Answer): void; reject(err: Error): void }>();
  private nextId = 1;
  private nextTx = 1;
  private stopped: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (answer: Answer) => {
      const waiting = this.pending.get(answer.id);
      if (!waiting) return;
      this.pending.delete(answer.id);
      waiting.resolve(answer);
    });
    const stop = (err: Error) => {
      this.stopped ??= err;
      for (const waiting of this.pending.values()) waiting.reject(this.stopped);
      this.pending.clear();
    };
    worker.on('error', (err) => stop(new Error(`the embedded SQL thread failed: ${err.message}`)));
    worker.on('exit', (code) => stop(new Error(`the embedded SQL thread stopped (exit code ${code})`)));
  }

  /** Starts the thread and opens PGlite in `dir` (a folder, or `memory://`) with extra server settings. */
  static async start(dir: string, settings: readonly string[]): Promise<PgliteThread> {
    const worker = new Worker(join(__dirname, 'pglite-thread-worker.js'), { workerData: { dir, settings: [...settings] } });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`the embedded SQL thread exited with code ${code} while opening ${dir}`));
      worker.once('exit', onExit);
      worker.once('error', reject);
      worker.once('message', (message: { ready: boolean; error?: ThreadError }) => {
        worker.off('exit', onExit);
        worker.off('error', reject);
        if (message.ready) resolve();
        else reject(toError(message.error ?? { name: 'Error', message: 'PGlite did not open' }));
      });
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new PgliteThread(worker);
  }

  async query<T>(text: string, params: unknown[] = [], tx?: number): Promise<T[]> {
    return ((await this.call({ op: 'query', text, params, tx })) ?? []) as T[];
  }

  async exec(text: string): Promise<void> {
    await this.call({ op: 'exec', text });
  }

  /** Opens a transaction; resolves once it holds the engine. */
  async begin(): Promise<number> {
    const tx = this.nextTx++;
    await this.call({ op: 'begin', tx });
    return tx;
  }

  async commit(tx: number): Promise<void> {
    await this.call({ op: 'commit', tx });
  }

  async rollback(tx: number): Promise<void> {
    await this.call({ op: 'rollback', tx });
  }

  async close(): Promise<void> {
    if (!this.stopped) await this.call({ op: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }

  private call(request: Request): Promise<unknown[] | undefined> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise<unknown[] | undefined>((resolve, reject) => {
      this.pending.set(id, {
        resolve: (answer) => (answer.ok ? resolve(answer.rows) : reject(toError(answer.error))),
        reject,
      });
      try {
        this.worker.postMessage({ id, ...request });
      } catch (err) {
        // a parameter that cannot cross the thread (a function, a symbol): that statement fails, nothing waits for it
        this.pending.delete(id);
        reject(new Error(`a parameter of this statement cannot be sent to the embedded SQL thread: ${(err as Error).message}`));
      }
    });
  }
}

/** An Error carrying the server's fields, as PGlite's own DatabaseError does (`err.code === '23505'` …). */
function toError(error: ThreadError): Error {
  const err = new Error(error.message);
  Object.assign(err, error);
  err.name = error.name;
  return err;
}
