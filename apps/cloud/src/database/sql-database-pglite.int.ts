import { SqlDatabase } from './sql-database';

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
});
