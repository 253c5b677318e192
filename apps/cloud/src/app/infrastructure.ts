import { Logger, type Provider } from '@nestjs/common';
import { CloudConfig } from '../config/cloud.config';
import { migrate } from '../database/migrator';
import { SqlDatabase } from '../database/sql-database';

/** SQL: PostgreSQL when DATABASE_URL is set, otherwise PGlite in EDGELOOP_SQL_DIR; migrated before anything uses it. */
export const sqlDatabaseProvider: Provider = {
  provide: SqlDatabase,
  inject: [CloudConfig],
  useFactory: async (config: CloudConfig) => {
    const db = await SqlDatabase.open(
      config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl } : { kind: 'pglite', dir: config.sqlDir },
    );
    // a failed migration closes what was opened: PGlite's thread (or the pool) would keep the process alive
    const applied = await migrate(db).catch(async (err: unknown) => {
      await db.close().catch(() => undefined);
      throw err;
    });
    new Logger('Database').log(
      `${db.kind === 'postgres' ? 'PostgreSQL' : `PGlite (${config.sqlDir})`} ready${applied.length ? `, applied ${applied.join(', ')}` : ''}`,
    );
    return db;
  },
};
