import { Client } from 'pg';
import type { SqlDatabase } from '../database/sql-database';
import type { ComponentCheck } from './health.service';

/** As long as the health report waits for a check: a check that takes longer is reported down anyway. */
const CHECK_TIMEOUT_MS = 2000;
/**
 * On PGlite, a transaction whose last statement returned within this long counts as the engine answering: the check
 * then does not queue its `select 1` behind the transaction. A transaction that stops answering for longer (its work
 * waiting elsewhere) gets the `select 1`, which waits for it and is reported down after `CHECK_TIMEOUT_MS`.
 */
const PGLITE_ANSWERED_WITHIN_MS = 500;

/**
 * The SQL component check. On PostgreSQL it runs `select 1` on a connection of its own, not through the pool:
 * under bulk work (ingest transactions, a retraining's pages) every pooled client can be busy, and a check
 * queued behind them measured the pool's queue, not whether PostgreSQL answers (the ingest bench saw the
 * check 50-700 ms behind the other checks). The connection is opened on the first check and opened again
 * after it fails, so each check still asks the server live. On PGlite (in the process, no pool) it asks
 * the database itself, unless a transaction holds it and has just had a statement answered (see
 * `SqlDatabase.answeringInTransaction`).
 */
export class SqlHealthCheck {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private closed = false;

  constructor(
    private readonly db: SqlDatabase,
    /** The database the pool connects to; without one (PGlite, or a database opened elsewhere) the pool is asked. */
    private readonly postgresUrl: string | undefined,
  ) {}

  readonly check: ComponentCheck = async () => {
    if (this.db.kind !== 'postgres' || !this.postgresUrl) {
      // PGlite runs one statement at a time: behind a transaction that answers statements, up without a wait
      if (this.db.answeringInTransaction(PGLITE_ANSWERED_WITHIN_MS)) return;
      await this.db.query('select 1');
      return;
    }
    const client = await this.connected();
    try {
      await client.query('select 1');
    } catch (err) {
      this.drop(client);
      throw err;
    }
  };

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private connected(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the SQL health check is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new Client({
        connectionString: this.postgresUrl,
        connectionTimeoutMillis: CHECK_TIMEOUT_MS,
        query_timeout: CHECK_TIMEOUT_MS,
        application_name: 'edgeloop-health',
      });
      // a restart or a dropped connection: the next check connects again
      client.on('error', () => this.drop(client));
      try {
        await client.connect();
      } catch (err) {
        void client.end().catch(() => undefined);
        throw err;
      } finally {
        this.connecting = undefined;
      }
      if (this.closed) {
        void client.end().catch(() => undefined);
        throw new Error('the SQL health check is closed');
      }
      this.client = client;
      return client;
    })();
    return this.connecting;
  }

  private drop(client: Client): void {
    if (this.client === client) this.client = undefined;
    void client.end().catch(() => undefined);
  }
}
