import type { SqlDatabase } from '../database/sql-database';
import { startMigratedDatabase, type MigratedDatabase } from '../testing/migrated-database';
import { HardExampleTrainingRepository } from './hard-example-training.repository';

/**
 * The labelled hard examples read as training data (PGlite): the rows in two passes, and the embeddings read
 * before kept in memory, so a second read fetches from SQL only the embeddings of examples labelled since —
 * with the labels as SQL has them now.
 */
describe('HardExampleTrainingRepository.labelled', () => {
  let database: MigratedDatabase;
  let db: SqlDatabase;
  const vector = (seed: number) => Array.from({ length: 512 }, (_, i) => Math.fround(Math.sin(seed * 7919 + i)));

  async function store(from: number, to: number, label: (i: number) => string | null): Promise<void> {
    for (let i = from; i < to; i++) {
      const name = label(i);
      await db.query(
        `insert into hard_examples (id, device_id, example_id, model_name, model_version, reason, det_score, score, margin, embedding, captured_at, label, labelled_at, unknown_confirmed_at)
         values ($1, 'cam-1', $1, 'face-id', 1, 'unknown', 0.9, 0.2, 0.01, $2, $3, $4, $5, $6)`,
        [
          `he-${String(i).padStart(3, '0')}`,
          JSON.stringify(vector(i)),
          new Date(Date.UTC(2026, 10, 1) + i * 1000),
          name,
          name ? new Date() : null,
          name ? null : new Date(),
        ],
      );
    }
  }

  beforeAll(async () => {
    database = await startMigratedDatabase({ engine: 'pglite' });
    db = database.db;
  });
  afterAll(async () => {
    await database?.stop();
  });

  it('reads every labelled example once from SQL, then only the new ones, with the labels as they are now', async () => {
    await store(0, 40, (i) => (i % 5 === 4 ? null : `id-${i % 4}`));
    const repository = new HardExampleTrainingRepository(db);
    const embeddingReads: number[] = [];
    const query = db.query.bind(db);
    jest.spyOn(db, 'query').mockImplementation(async (sql: string, params?: unknown[]) => {
      if (/select id, captured_at, embedding/.test(sql)) embeddingReads.push((params?.[0] as string[]).length);
      return query(sql, params);
    });

    const first = await repository.labelled('face-id');
    expect(first).toHaveLength(40);
    expect(embeddingReads.reduce((a, b) => a + b, 0)).toBe(40);
    expect(Math.max(...embeddingReads)).toBeLessThanOrEqual(16);
    expect(first.filter((s) => s.kind === 'stranger')).toHaveLength(8);
    expect(Array.from(first[7].embedding)).toEqual(vector(7));
    expect(first.map((s) => s.capturedAt)).toEqual([...first.map((s) => s.capturedAt)].sort((a, b) => a - b));

    // relabelled rows and 5 new ones: the labels come from SQL, only the 5 new embeddings are read
    embeddingReads.length = 0;
    await db.query(`update hard_examples set label = 'id-9' where id = 'he-000'`);
    await store(40, 45, () => 'id-new');
    const second = await repository.labelled('face-id');
    expect(second).toHaveLength(45);
    expect(embeddingReads.reduce((a, b) => a + b, 0)).toBe(5);
    expect(second.find((s) => s.id === 'he-000')).toMatchObject({ label: 'id-9', kind: 'identity' });
    expect(second.map((s) => [s.id, s.label, s.kind, Array.from(s.embedding)])).toEqual([
      ...first.map((s) => [s.id, s.id === 'he-000' ? 'id-9' : s.label, s.kind, Array.from(s.embedding)]),
      ...second.slice(40).map((s) => [s.id, 'id-new', 'identity', Array.from(s.embedding)]),
    ]);
    expect(Array.from(second[44].embedding)).toEqual(vector(44));

    // a bound smaller than one read: nothing is lost, the read still has every embedding
    const small = new HardExampleTrainingRepository(db);
    small.maxCachedEmbeddings = 10;
    embeddingReads.length = 0;
    expect((await small.labelled('face-id')).map((s) => Array.from(s.embedding))).toEqual(second.map((s) => Array.from(s.embedding)));
    expect(embeddingReads.reduce((a, b) => a + b, 0)).toBe(45);
    embeddingReads.length = 0;
    expect(await small.labelled('face-id')).toHaveLength(45);
    expect(embeddingReads.reduce((a, b) => a + b, 0)).toBe(35);
  });
});
