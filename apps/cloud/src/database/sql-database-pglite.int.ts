import { startDatabase } from '@edgeloop/harness';
import { PGLITE_HOLD_MS, SqlDatabase } from './sql-database';

describe('SqlDatabase on PGlite (the embedded mode)', () => {
  it('opens PostgreSQL with a 16 MB buffer pool instead of the 128 MB initdb writes (resident in the cloud process)', async () => {
    const db = await SqlDatabase.open({ kind: 'pglite', dir: 'memory://' });
    try {
      expect(db.kind).toBe('pglite');
      expect(await db.query<{ shared_buffers: string }>('show shared_buffers')).toEqual([{ shared_buffers: '16MB' }]);
      // the defaults PGlite starts with are kept (one search path, no parallel workers in WebAssembly)
      expect(await db.query<{ max_worker_processes: string }>('show max_worker_processes')).toEqual([{ max_worker_processes: '0' }]);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('maintainEmbedded vacuums what updates leave behind, so a table rewritten again and again stays its size', async () => {
    // rows shaped like prediction aggregates: a jsonb document large enough to live in TOAST, rewritten each round
    const doc = JSON.stringify({ sum: Array.from({ length: 600 }, (_, i) => Math.sin(i) * 1000) });
    const grow = async (db: SqlDatabase, rounds: number, maintainEvery: number) => {
      await db.query('create table agg (id int primary key, stats jsonb not null)');
      await db.query('insert into agg select g, $1::jsonb from generate_series(1, 100) g', [doc]);
      const sizes: number[] = [];
      for (let round = 1; round <= rounds; round++) {
        await db.query(`update agg set stats = jsonb_set(stats, '{round}', to_jsonb($1::int))`, [round]);
        if (maintainEvery > 0 && round % maintainEvery === 0) expect(await db.maintainEmbedded()).toEqual(expect.any(Number));
        const [row] = await db.query<{ bytes: string }>(`select pg_total_relation_size('agg') as bytes`);
        sizes.push(Number(row!.bytes));
      }
      return sizes;
    };
    const plain = await SqlDatabase.open({ kind: 'pglite', dir: 'memory://' });
    const maintained = await SqlDatabase.open({ kind: 'pglite', dir: 'memory://' });
    try {
      const without = await grow(plain, 40, 0);
      const withIt = await grow(maintained, 40, 5);
      // single-user PostgreSQL never vacuums by itself: every round's old versions stay
      expect(without.at(-1)!).toBeGreaterThan(8 * without[0]!);
      // vacuumed every 5 rounds: the space of dead versions is reused, the table stays within a few rounds' worth
      expect(withIt.at(-1)!).toBeLessThan(3 * withIt[4]!);
      expect(withIt.at(-1)!).toBeLessThan(without.at(-1)! / 4);
      // the planner knows the row count (vacuum) and, once its turn came, the columns' statistics (analyze)
      const [stats] = await maintained.query<{ reltuples: number }>(`select reltuples from pg_class where relname = 'agg'`);
      expect(Number(stats!.reltuples)).toBe(100);
      const analyzed = await maintained.query<{ attname: string }>(`select attname from pg_stats where tablename = 'agg' order by attname`);
      expect(analyzed.map((r) => r.attname)).toEqual(['id', 'stats']);
    } finally {
      await plain.close();
      await maintained.close();
    }
  }, 120_000);

  const postgresCase = process.env.DATABASE_URL ? it : it.skip;
  postgresCase(
    'maintainEmbedded leaves a PostgreSQL server alone (its autovacuum and checkpointer do that work)',
    async () => {
      const handle = await startDatabase({ engine: 'auto' });
      try {
        if (handle.kind !== 'postgres') throw new Error('DATABASE_URL is set, yet no PostgreSQL database was made');
        const db = await SqlDatabase.open({ kind: 'postgres', url: handle.url });
        try {
          expect(await db.maintainEmbedded()).toBeUndefined();
        } finally {
          await db.close();
        }
      } finally {
        await handle.stop();
      }
    },
    120_000,
  );

  it('gives the event loop a turn within every few ms of PGlite statements, in and out of a transaction, and lets short ones run together', async () => {
    const db = await SqlDatabase.open({ kind: 'pglite', dir: 'memory://' });
    try {
      await db.query('create table turns (n int)');
      // PGlite itself settles each statement without a turn of the loop; time the turns with a setImmediate chain
      const watch = async (run: () => Promise<void>) => {
        const turnsAt: number[] = [];
        let on = true;
        const spin = () => {
          turnsAt.push(performance.now());
          if (on) setImmediate(spin);
        };
        const started = performance.now();
        setImmediate(spin);
        try {
          await run();
        } finally {
          on = false;
        }
        const ended = performance.now();
        const marks = [started, ...turnsAt, ended];
        const longestGapMs = Math.max(...marks.slice(1).map((at, i) => at - marks[i]!));
        return { turns: turnsAt.length, longestGapMs, totalMs: ended - started };
      };
      const statements = 2_000;
      const outside = await watch(async () => {
        for (let i = 0; i < statements; i++) await db.query('insert into turns values ($1)', [i]);
      });
      const inside = await watch(() =>
        db.transaction(async (tx) => {
          for (let i = 0; i < statements; i++) await tx.query('insert into turns values ($1)', [i]);
        }),
      );
      expect(await db.query<{ n: string }>('select count(*)::text as n from turns')).toEqual([{ n: String(2 * statements) }]);
      for (const series of [outside, inside]) {
        // the series (hundreds of ms) gives the loop a turn every PGLITE_HOLD_MS or so: without the turns the
        // longest gap is the whole series
        expect(series.totalMs).toBeGreaterThan(8 * PGLITE_HOLD_MS);
        expect(series.turns).toBeGreaterThanOrEqual(Math.floor(series.totalMs / (4 * PGLITE_HOLD_MS)));
        expect(series.longestGapMs).toBeLessThan(series.totalMs / 4);
        // and short statements run together rather than a turn each (an ingest transaction then waited for 6–7 turns)
        expect(series.turns).toBeLessThan(statements / 4);
      }
      // the maintenance turns before every step: a vacuum a table (here two, and pg_statistic), an analyze, a checkpoint
      await db.query('create table turns_too (n int)');
      expect((await watch(async () => void (await db.maintainEmbedded()))).turns).toBeGreaterThanOrEqual(5);
    } finally {
      await db.close();
    }
  }, 120_000);
});
