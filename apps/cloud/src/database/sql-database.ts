import type { PGlite } from '@electric-sql/pglite';
import { Logger } from '@nestjs/common';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Pool, type PoolClient } from 'pg';
import { PgliteThread } from './pglite-thread';

/** What repositories run SQL through: the database itself or an open transaction. */
export interface SqlExecutor {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

export type SqlTarget = { kind: 'postgres'; url: string; poolSize?: number } | { kind: 'pglite'; dir: string } | { kind: 'pglite-instance'; db: PGlite };

/**
 * PGlite runs PostgreSQL inside the cloud's process, in WebAssembly memory that never shrinks. initdb writes
 * `shared_buffers = 128MB`, and the buffer pool is resident from the start: 16 MB keeps the embedded cloud
 * ≈ 125 MB smaller (docs/benchmarks.md, "Cloud memory"); the embedded mode's tables are small, and a page
 * missing from the pool is one read of a local file.
 */
const PGLITE_SETTINGS = ['-c', 'shared_buffers=16MB'];

/**
 * How long PGlite statements may hold the event loop (from the first one after its last turn) before the next one
 * waits for a turn. In the ingest bench (12 devices, load 2–6) an ingest transaction's statements take several ms
 * each; 4 ms gave 3.7–4.2 turns a transaction, 8 ms 2.7–3.3, 16 ms 1.6–1.9 (a turn before every statement: 6.0–6.9),
 * with the same throughput within the runs' noise. 8 ms keeps a hold far under the 100 ms `/health` bound.
 */
export const PGLITE_HOLD_MS = 8;

/**
 * One SQL layer over PostgreSQL (production, `pg` pool) and PGlite (embedded default and tests): both speak
 * the same dialect, so every repository runs the same parameterised SQL on either.
 *
 * The embedded mode opens PGlite in a folder (or `memory://`) on a worker thread of its own (`PgliteThread`): its
 * statements never run on the event loop. A PGlite instance opened elsewhere (`pglite-instance`: repository tests
 * share one per file) runs on this thread, as every PGlite did before, with the statements' hold time-sliced:
 *
 * PGlite runs each statement on this thread, and its promise settles with no turn of the event loop in between:
 * 200 statements awaited one after another gave a timer set to 0 ms no chance to run. So statements run one after
 * another — a drift check reading a window a bucket per statement, a page loop — held the loop for all of them
 * at once (a 437 ms hold at a 200-device soak's first drift check). On PGlite the statements' hold is time-sliced:
 * a statement starts on a new turn (`setImmediate`) once statements have held the loop for `PGLITE_HOLD_MS` since
 * it last turned, in and out of a transaction; before that it runs at once. A turn before every statement (as
 * before) cost no measurable ingest throughput, but each turn waits for every pending MQTT and Redis callback, and
 * an ingest transaction held PGlite's transaction lock across its 6–7 turns (26–175 ms of waiting a transaction in
 * the ingest bench, load 1.6–8.5): `/health`'s `select 1` waited behind it (docs/benchmarks.md, "Ingest"). A single
 * statement still holds the loop for as long as it runs.
 */
export class SqlDatabase implements SqlExecutor {
  private readonly logger = new Logger(SqlDatabase.name);

  private constructor(
    readonly kind: 'postgres' | 'pglite',
    private readonly pool: Pool | undefined,
    private readonly pglite: PGlite | undefined,
    private readonly ownsPglite: boolean,
    private readonly thread?: PgliteThread,
  ) {}

  static async open(target: SqlTarget): Promise<SqlDatabase> {
    if (target.kind === 'postgres') {
      const pool = new Pool({ connectionString: target.url, max: target.poolSize ?? 10 });
      const db = new SqlDatabase('postgres', pool, undefined, false);
      pool.on('error', (err) => db.logger.error(`idle PostgreSQL client failed: ${err.message}`));
      await pool.query('select 1');
      return db;
    }
    if (target.kind === 'pglite-instance') return new SqlDatabase('pglite', undefined, target.db, false);
    return new SqlDatabase('pglite', undefined, undefined, true, await PgliteThread.start(target.dir, PGLITE_SETTINGS));
  }

  async query<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
    if (this.pool) return (await this.pool.query(text, params)).rows as T[];
    if (this.thread) {
      const rows = await this.thread.query<T>(text, params);
      this.answeredAt = performance.now();
      return rows;
    }
    await this.turnWhenHeld();
    const rows = (await this.pglite!.query<T>(text, params)).rows;
    this.answeredAt = performance.now();
    return rows;
  }

  /** When a PGlite statement last returned its result (`performance.now()`). */
  private answeredAt: number | undefined;
  /** Whether a PGlite transaction holds the engine (from its BEGIN to its COMMIT or ROLLBACK). */
  private inTransaction = false;

  /**
   * PGlite only: whether a transaction holds the engine and one of its statements returned a result within the
   * last `withinMs`. A statement from outside waits for the whole transaction (PGlite runs one at a time), so while
   * this holds, the engine has just been seen answering and a `select 1` would measure the transaction's remaining
   * length, not the engine (the ingest bench: the SQL check waited up to 285 ms behind ingest transactions).
   */
  answeringInTransaction(withinMs: number): boolean {
    return this.kind === 'pglite' && this.inTransaction && this.answeredAt !== undefined && performance.now() - this.answeredAt <= withinMs;
  }

  /** When PGlite statements began holding the event loop (`performance.now()`); the loop's next turn clears it. */
  private heldSince: number | undefined;

  /**
   * Before a PGlite statement: waits for a turn of the event loop when statements have held it for
   * `PGLITE_HOLD_MS` since it last turned, then marks the hold's start if the loop has turned since the last
   * mark. The mark's `setImmediate` is queued before any later turn's, so once a turn is waited for it is cleared.
   */
  private async turnWhenHeld(): Promise<void> {
    if (this.heldSince !== undefined && performance.now() - this.heldSince >= PGLITE_HOLD_MS) await yieldToLoop();
    if (this.heldSince !== undefined) return;
    const since = performance.now();
    this.heldSince = since;
    setImmediate(() => {
      if (this.heldSince === since) this.heldSince = undefined;
    });
  }

  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    if (this.thread) return this.threadTransaction(this.thread, work);
    if (this.pglite) {
      await this.turnWhenHeld(); // the transaction's BEGIN is a statement too
      return this.pglite.transaction(async (tx) => {
        this.inTransaction = true;
        this.answeredAt = performance.now(); // its BEGIN has just returned
        try {
          return await work({
            query: async <R>(text: string, params: unknown[] = []) => {
              await this.turnWhenHeld();
              const rows = (await tx.query<R>(text, params)).rows;
              this.answeredAt = performance.now();
              return rows;
            },
          });
        } finally {
          this.inTransaction = false;
        }
      });
    }
    // a server that ends the connection during the transaction (a restart, a failover) emits 'error' on the
    // checked-out client: without a listener that crashes the process. The query in flight fails instead,
    // and the broken client is discarded rather than returned to the pool.
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
      this.logger.warn(`PostgreSQL connection lost during a transaction: ${err.message}`);
    };
    // the listener goes on in the pool's callback, as the pool takes its own off: a server that accepts a
    // connection as a restart begins sends ReadyForQuery and 57P01 in one packet, which pg parses in one go —
    // before an `await pool.connect()` would resume
    const client = await new Promise<PoolClient>((resolve, reject) =>
      this.pool!.connect((err, checkedOut) => {
        if (err || !checkedOut) return reject(err ?? new Error('no PostgreSQL client'));
        checkedOut.on('error', onError);
        resolve(checkedOut);
      }),
    );
    try {
      await client.query('begin');
      const result = await work({
        query: async <R>(text: string, params: unknown[] = []) => (await client.query(text, params)).rows as R[],
      });
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** A transaction on PGlite's thread: committed when `work` resolves, rolled back when it throws. */
  private async threadTransaction<T>(thread: PgliteThread, work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const tx = await thread.begin();
    this.inTransaction = true;
    this.answeredAt = performance.now(); // its BEGIN has just returned
    try {
      const result = await work({
        query: async <R>(text: string, params: unknown[] = []) => {
          const rows = await thread.query<R>(text, params, tx);
          this.answeredAt = performance.now();
          return rows;
        },
      });
      await thread.commit(tx);
      return result;
    } catch (err) {
      await thread.rollback(tx).catch(() => undefined); // a failed COMMIT has ended it already
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  /**
   * What PostgreSQL's autovacuum launcher and checkpointer do on a server, done on request for PGlite: it runs
   * PostgreSQL in single-user mode, where neither process exists (nor the cumulative statistics that would say
   * which table needs it). Without it every updated row (an aggregate row is rewritten with each batch, its
   * jsonb statistics in TOAST) leaves its old version behind for good: tables and their TOAST grow by the update
   * rate, scans over them slow down minute by minute and pg_wal grows until max_wal_size. One run, each step a
   * statement of its own on a turn of its own (a turn before each, not only after `PGLITE_HOLD_MS`: one step
   * may hold the loop for a quarter of a second), so the event loop runs between them: `vacuum` of each table in
   * turn and of `pg_statistic` (which `analyze` rewrites) — dead rows' space made reusable, row counts for
   * the planner; the visibility map keeps it to pages changed since the last run (≈ 25 ms for a soak's whole
   * database), but the first vacuum after a bulk load sets every new page's bits: 0.27 s for 11,000 enrolment-sized
   * rows in one table, and a whole-database `vacuum` after a retraining bench's 11,000 examples held the loop 2.2 s
   * at load 11 — then `analyze` of one table in turn with a small sample (all tables at the default target held
   * the main thread 0.2–0.9 s), `checkpoint` (old WAL segments recycled). A no-op on a PostgreSQL server.
   * Returns its duration.
   */
  async maintainEmbedded(): Promise<number | undefined> {
    if (this.kind !== 'pglite') return undefined;
    const started = performance.now();
    const tables = await this.query<{ name: string }>(
      `select quote_ident(schemaname) || '.' || quote_ident(relname) as name from pg_stat_user_tables order by schemaname, relname`,
    );
    for (const { name } of [...tables, { name: 'pg_catalog.pg_statistic' }]) {
      await yieldToLoop();
      await this.query(`vacuum ${name}`);
    }
    const table = tables[this.analyzeTurn++ % Math.max(1, tables.length)];
    if (table) {
      await yieldToLoop();
      const analyze = `set default_statistics_target = 10; analyze ${table.name}; reset default_statistics_target`;
      await (this.thread ? this.thread.exec(analyze) : this.pglite!.exec(analyze));
    }
    await yieldToLoop();
    await this.query('checkpoint');
    return Math.round(performance.now() - started);
  }

  private analyzeTurn = 0;

  async close(): Promise<void> {
    if (this.pool) await this.pool.end();
    if (this.thread) await this.thread.close();
    if (this.pglite && this.ownsPglite) await this.pglite.close();
  }
}
