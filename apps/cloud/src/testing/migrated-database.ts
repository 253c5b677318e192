import { startDatabase, type DatabaseOptions } from '@edgeloop/harness';
import { migrate } from '../database/migrator';
import { SqlDatabase } from '../database/sql-database';

export interface MigratedDatabase {
  db: SqlDatabase;
  /** Closes the connection and removes the database (a PGlite instance, or PostgreSQL's isolated database). */
  stop(): Promise<void>;
}

/**
 * A migrated SQL database for repository tests: PostgreSQL when DATABASE_URL is set (a fresh database), else
 * PGlite in memory; `engine` forces one.
 */
export async function startMigratedDatabase(options: Pick<DatabaseOptions, 'engine'> = {}): Promise<MigratedDatabase> {
  const handle = await startDatabase(options);
  const db = await SqlDatabase.open(handle.kind === 'postgres' ? { kind: 'postgres', url: handle.url } : { kind: 'pglite-instance', db: handle.pglite });
  await migrate(db);
  return {
    db,
    async stop() {
      await db.close();
      await handle.stop();
    },
  };
}
