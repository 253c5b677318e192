import { existsSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import {
  postgresAvailability,
  startDatabase,
  startPostgres,
  stopAllStarted,
  waitUntilStopped,
  type PostgresServer,
} from '@edgeloop/harness';

afterAll(() => stopAllStarted());

async function queryOne(url: string, sql: string): Promise<Record<string, unknown>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(sql);
    return result.rows[0] as Record<string, unknown>;
  } finally {
    await client.end();
  }
}

describe('startDatabase on PGlite', () => {
  it('answers select 1 in memory when no PostgreSQL URL is known', async () => {
    const db = await startDatabase({ ignoreEnvironment: true });
    try {
      expect(db.kind).toBe('pglite');
      if (db.kind !== 'pglite') return;
      const result = await db.pglite.query<{ one: number }>('select 1 as one');
      expect(result.rows).toEqual([{ one: 1 }]);
    } finally {
      await db.stop();
    }
    expect(db.pglite.closed).toBe(true);
  });
});

const availability = postgresAvailability();
const describeIfPostgres = availability.available ? describe : describe.skip;
if (!availability.available) {
  process.emitWarning(`PostgreSQL integration tests skipped: ${availability.reason}`);
}

describeIfPostgres('startPostgres (a throwaway cluster)', () => {
  let cluster: PostgresServer;

  beforeAll(async () => {
    cluster = await startPostgres();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('answers select 1 on a free port (not 5432)', async () => {
    expect(cluster.port).not.toBe(5432);
    expect(await queryOne(cluster.url, 'select 1 as one')).toEqual({ one: 1 });
  });

  it('runs as a non-root OS user', async () => {
    const row = await queryOne(cluster.url, "select current_setting('data_directory') as dir");
    expect(row.dir).toBe(`${cluster.dir}/data`);
    const status = readFileSync(`/proc/${cluster.pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    expect(uid).not.toBe(0);
    if (process.getuid?.() === 0) expect(cluster.osUser).toBe('postgres');
  });

  it('startDatabase({ url }) creates a fresh database there and drops it at stop', async () => {
    const db = await startDatabase({ url: cluster.url });
    expect(db.kind).toBe('postgres');
    if (db.kind !== 'postgres') return;
    expect(db.database).toMatch(/^edgeloop_test_/);
    expect(await queryOne(db.url, 'select current_database() as name, 1 as one')).toEqual({ name: db.database, one: 1 });
    // a connection left open does not block the drop
    const lingering = new Client({ connectionString: db.url });
    lingering.on('error', () => undefined);
    await lingering.connect();
    await db.stop();
    await lingering.end().catch(() => undefined);
    const row = await queryOne(cluster.url, `select count(*)::int as n from pg_database where datname = '${db.database}'`);
    expect(row.n).toBe(0);
  });

  it('two isolated databases do not see each other', async () => {
    const [a, b] = await Promise.all([startDatabase({ url: cluster.url }), startDatabase({ url: cluster.url })]);
    try {
      if (a.kind !== 'postgres' || b.kind !== 'postgres') throw new Error('expected postgres');
      await queryOne(a.url, 'create table only_in_a (id int)');
      const seen = await queryOne(b.url, "select to_regclass('only_in_a')::text as found");
      expect(seen.found).toBeNull();
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('keeps data across restart() on the same port', async () => {
    await queryOne(cluster.url, 'create table kept (v text)');
    await queryOne(cluster.url, "insert into kept values ('yes')");
    const port = cluster.port;
    await cluster.restart();
    expect(cluster.port).toBe(port);
    expect(await queryOne(cluster.url, 'select v from kept')).toEqual({ v: 'yes' });
  });

  it("startDatabase({ engine: 'postgres' }) spawns a cluster when no URL is known, and stop() ends it", async () => {
    const db = await startDatabase({ engine: 'postgres', ignoreEnvironment: true });
    if (db.kind !== 'postgres' || !db.server) throw new Error('expected a spawned cluster');
    const { pid, port, dir } = db.server;
    expect(await queryOne(db.url, 'select 1 as one')).toEqual({ one: 1 });
    await db.stop();
    await expect(waitUntilStopped({ pid, port })).resolves.toEqual({ processGone: true, portFree: true });
    expect(existsSync(dir)).toBe(false);
  });
});
