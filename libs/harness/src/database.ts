import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { Client } from 'pg';
import { silentLogger, trackStarted, type EmbeddedLogger } from '@edgeloop/embedded';
import { startPostgres, type PostgresOptions, type PostgresServer } from './postgres';

export interface DatabaseOptions {
  /**
   * `auto` (default): PostgreSQL when a URL is known, else PGlite. `pglite`: always PGlite.
   * `postgres`: the URL when known, else a throwaway cluster spawned with `startPostgres()`.
   */
  engine?: 'auto' | 'pglite' | 'postgres';
  /**
   * A PostgreSQL server to use. Default: `DATABASE_URL` from the environment (unless
   * `ignoreEnvironment`). Without either, PGlite is used.
   */
  url?: string;
  ignoreEnvironment?: boolean;
  /**
   * On PostgreSQL, create a fresh uniquely named database (dropped at stop) instead of using the
   * one the URL names; default true. Set false to run against the named database itself.
   */
  isolate?: boolean;
  /** PGlite data directory (the embedded mode passes ./data/pglite), or the spawned cluster's dir; default in memory / temp. */
  dir?: string;
  /** Options for the cluster that engine `postgres` spawns when no URL is known. */
  postgres?: Omit<PostgresOptions, 'dir' | 'logger'>;
  logger?: EmbeddedLogger;
}

export interface PostgresDatabase {
  readonly kind: 'postgres';
  /** Connection string of the (fresh) database. */
  readonly url: string;
  readonly database: string;
  readonly pglite?: undefined;
  /** The cluster the harness spawned for this database, if it did. */
  readonly server?: PostgresServer;
  /** Drops the fresh database (terminating its connections); nothing when not isolated. */
  stop(): Promise<void>;
}

export interface PgliteDatabase {
  readonly kind: 'pglite';
  readonly url?: undefined;
  readonly pglite: PGlite;
  /** Data directory, or undefined for in-memory. */
  readonly dir: string | undefined;
  /** Closes PGlite (files in a data dir stay). */
  stop(): Promise<void>;
}

export type DatabaseHandle = PostgresDatabase | PgliteDatabase;

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh database on the server that `serverUrl` names; its URL differs only in the path. */
export async function createIsolatedDatabase(serverUrl: string, logger: EmbeddedLogger = silentLogger): Promise<PostgresDatabase> {
  const database = `edgeloop_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${quoteIdentifier(database)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  logger.log(`created database ${database} on ${url.host}`);
  let stopping: Promise<void> | undefined;
  return trackStarted<PostgresDatabase>({
    kind: 'postgres',
    url: url.toString(),
    database,
    stop: () => {
      stopping ??= withClient(serverUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)} WITH (FORCE)`);
        logger.log(`dropped database ${database}`);
      });
      return stopping;
    },
  });
}

export async function openPglite(dir: string | undefined, logger: EmbeddedLogger = silentLogger): Promise<PgliteDatabase> {
  const started = Date.now();
  const pglite = dir ? await PGlite.create(dir) : await PGlite.create();
  logger.log(`PGlite ${dir ? `in ${dir}` : 'in memory'} ready after ${Date.now() - started} ms`);
  let stopping: Promise<void> | undefined;
  return trackStarted<PgliteDatabase>({
    kind: 'pglite',
    pglite,
    dir,
    stop: () => {
      stopping ??= pglite.closed ? Promise.resolve() : pglite.close();
      return stopping;
    },
  });
}

/**
 * The SQL database for a test or the embedded mode: a fresh database on PostgreSQL when a URL is
 * given (or in DATABASE_URL), otherwise PGlite — the same SQL dialect, in process.
 */
export async function startDatabase(options: DatabaseOptions = {}): Promise<DatabaseHandle> {
  const logger = options.logger ?? silentLogger;
  const engine = options.engine ?? 'auto';
  if (engine === 'pglite') return openPglite(options.dir, logger);
  const url = options.url ?? (options.ignoreEnvironment ? undefined : process.env.DATABASE_URL || undefined);
  if (!url && engine === 'postgres') {
    const server = await startPostgres({ ...options.postgres, dir: options.dir, logger });
    return { kind: 'postgres', url: server.url, database: 'postgres', server, stop: () => server.stop() };
  }
  if (!url) return openPglite(options.dir, logger);
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`startDatabase: not a PostgreSQL URL: ${new URL(url).protocol}`);
  if (options.isolate ?? true) return createIsolatedDatabase(url, logger);
  const database = decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
  return { kind: 'postgres', url, database, stop: async () => undefined };
}
