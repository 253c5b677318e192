import { createIsolatedDatabase, startPostgres, type PostgresDatabase, type PostgresServer } from '@edgeloop/harness';
import { SqlDatabase } from '../database/sql-database';
import { SqlHealthCheck } from './health-sql-check';

/** Resolves with how long `promise` took, or with null when it did not settle within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<number | null> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    promise.then(() => performance.now() - started),
    new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms))),
  ]);
  clearTimeout(timer);
  return result;
}

describe('SqlHealthCheck on PostgreSQL', () => {
  let server: PostgresServer;
  let database: PostgresDatabase;
  let db: SqlDatabase;
  let check: SqlHealthCheck;

  beforeAll(async () => {
    server = await startPostgres();
    database = await createIsolatedDatabase(server.url);
    db = await SqlDatabase.open({ kind: 'postgres', url: database.url, poolSize: 2 });
    check = new SqlHealthCheck(db, database.url);
  }, 120_000);

  afterAll(async () => {
    await check?.close();
    await db?.close();
    await database?.stop().catch(() => undefined);
    await server?.stop();
  });

  it('answers while every pooled client is held by a transaction, where a pooled select 1 waits', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside = 0;
    const entered = new Promise<void>((resolve) => {
      const enter = async () => {
        if (++inside === 2) resolve();
        await held;
      };
      void db.transaction(enter);
      void db.transaction(enter);
    });
    await entered;
    const pooled = db.query('select 1');
    try {
      expect(await within(pooled, 500)).toBeNull();
      const ms = await within(check.check(), 1000);
      expect(ms).not.toBeNull();
      expect(ms!).toBeLessThan(1000);
    } finally {
      release();
      await pooled;
    }
  });

  it('fails while the server is down and answers again on its own connection once it is back', async () => {
    await check.check();
    await server.halt();
    try {
      await expect(check.check()).rejects.toThrow();
      await expect(check.check()).rejects.toThrow();
    } finally {
      await server.resume();
    }
    await expect(check.check()).resolves.toBeUndefined();
  }, 60_000);
});

/**
 * An ingest-like transaction on `db`: a statement, then its JavaScript work (here: waiting until `release`), then
 * another statement. Resolves once the first statement has answered.
 */
async function heldTransaction(db: SqlDatabase): Promise<{ release: () => void; done: Promise<void> }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inside = new Promise<void>((resolve) => (entered = resolve));
  const done = db.transaction(async (tx) => {
    await tx.query('select 1');
    entered();
    await held;
    await tx.query('select 2');
  });
  await inside;
  return { release, done };
}

describe('SqlHealthCheck on PGlite', () => {
  let db: SqlDatabase;
  let check: SqlHealthCheck;

  beforeAll(async () => {
    db = await SqlDatabase.open({ kind: 'pglite', dir: 'memory://' });
    check = new SqlHealthCheck(db, undefined);
  }, 120_000);

  afterAll(async () => {
    await check?.close();
    await db?.close();
  });

  it('answers at once while a transaction that answers statements holds the engine, where a select 1 waits for it', async () => {
    const transaction = await heldTransaction(db);
    const plain = db.query('select 1');
    try {
      expect(await within(plain, 300)).toBeNull();
      expect(await within(check.check(), 100)).not.toBeNull();
    } finally {
      transaction.release();
      await transaction.done;
      await plain;
    }
    // with no transaction open the check asks the engine itself
    await expect(check.check()).resolves.toBeUndefined();
  });

  it('queues its select 1 behind a transaction that has not answered a statement for longer than half a second', async () => {
    const transaction = await heldTransaction(db);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const checked = check.check();
    try {
      expect(await within(checked, 300)).toBeNull();
    } finally {
      transaction.release();
      await transaction.done;
    }
    await expect(checked).resolves.toBeUndefined();
  });
});
