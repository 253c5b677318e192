import { Logger } from '@nestjs/common';
import { migrations } from './migrations';
import type { SqlDatabase } from './sql-database';

export interface Migration {
  id: string;
  sql: string;
}

/**
 * Applies the versioned migrations in order, each in its own transaction, under a transaction-level
 * advisory lock so that several cloud replicas booting at once apply each migration exactly once.
 * (A hand-written runner: drizzle-kit's migrator needs its generated journal, and the SQL files here are
 * plain PostgreSQL that runs unchanged on PGlite.)
 */
export async function migrate(db: SqlDatabase, list: Migration[] = migrations): Promise<string[]> {
  const logger = new Logger('Migrations');
  await db.query(
    'create table if not exists schema_migrations (id text primary key, applied_at timestamptz not null default now())',
  );
  const applied: string[] = [];
  for (const migration of list) {
    const done = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(4242001)');
      const rows = await tx.query('select 1 from schema_migrations where id = $1', [migration.id]);
      if (rows.length > 0) return false;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('insert into schema_migrations (id) values ($1)', [migration.id]);
      return true;
    });
    if (done) {
      applied.push(migration.id);
      logger.log(`applied ${migration.id}`);
    }
  }
  return applied;
}

/** Splits a migration on `;` at line ends (the migrations keep one statement per `;`-terminated block). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
