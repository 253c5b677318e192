import type { SqlDatabase } from '../database/sql-database';
import { startMigratedDatabase, type MigratedDatabase } from '../testing/migrated-database';
import { EmbeddingRepository } from './embedding.repository';

/**
 * Embeddings by owner and embedder (PGlite, or PostgreSQL when DATABASE_URL is set): a gallery larger than one
 * page of `getMany` comes back whole, each vector exactly as stored, and only the embedder asked for.
 */
describe('EmbeddingRepository', () => {
  let database: MigratedDatabase;
  let db: SqlDatabase;
  let repository: EmbeddingRepository;
  const OLD = 'a'.repeat(64);
  const NEW = 'b'.repeat(64);
  const vector = (seed: number) => Float32Array.from({ length: 512 }, (_, i) => Math.sin(seed * 7919 + i) * (seed % 7 === 0 ? 1e-30 : 1));

  beforeAll(async () => {
    database = await startMigratedDatabase();
    db = database.db;
    repository = new EmbeddingRepository(db);
  });
  afterAll(async () => {
    await database?.stop();
  });

  it('getMany returns every owner of a gallery larger than a page, exactly, for the embedder asked', async () => {
    const owners = Array.from({ length: 1203 }, (_, i) => `photo-${String(i).padStart(4, '0')}`);
    await db.transaction(async (tx) => {
      for (const [i, owner] of owners.entries()) await repository.put('photo', owner, OLD, vector(i), tx);
      // another embedder's vectors for a few of them, and a hard example under the same id
      for (let i = 0; i < 3; i++) await repository.put('photo', owners[i], NEW, vector(10_000 + i), tx);
      await repository.put('hard_example', owners[0], OLD, vector(20_000), tx);
    });

    const asked = [...owners, 'photo-absent-1', 'photo-absent-2'];
    // read in pages: PGlite decodes a statement's whole result on the event loop
    const perStatement: number[] = [];
    const query = db.query.bind(db);
    const spy = jest.spyOn(db, 'query').mockImplementation(async (sql: string, params?: unknown[]) => {
      if (/from embeddings/.test(sql)) perStatement.push((params?.[1] as string[]).length);
      return query(sql, params);
    });
    const found = await repository.getMany('photo', asked, OLD);
    spy.mockRestore();
    expect(perStatement).toEqual([500, 500, 205]);
    expect(found.size).toBe(owners.length);
    for (const i of [0, 1, 499, 500, 501, 999, 1000, 1202]) expect(Array.from(found.get(owners[i])!)).toEqual(Array.from(vector(i)));
    expect(found.has('photo-absent-1')).toBe(false);

    const newer = await repository.getMany('photo', asked, NEW);
    expect([...newer.keys()].sort()).toEqual(owners.slice(0, 3));
    expect(Array.from(newer.get(owners[2])!)).toEqual(Array.from(vector(10_002)));
    expect(Array.from((await repository.getMany('hard_example', [owners[0]], OLD)).get(owners[0])!)).toEqual(Array.from(vector(20_000)));
    expect((await repository.getMany('photo', [], OLD)).size).toBe(0);
  });
});
