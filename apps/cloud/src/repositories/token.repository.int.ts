import type { SqlDatabase } from '../database/sql-database';
import { startMigratedDatabase, type MigratedDatabase } from '../testing/migrated-database';
import { LAST_USED_RESOLUTION_SECONDS, TokenRepository } from './token.repository';

/**
 * Finding a token by its hash (PGlite, or PostgreSQL when DATABASE_URL is set): `last_used_at` is set on the
 * first use and then written at most once per LAST_USED_RESOLUTION_SECONDS, not on every request; a revoked
 * token is never found.
 */
describe('TokenRepository.findActiveByHash', () => {
  let database: MigratedDatabase;
  let db: SqlDatabase;
  let tokens: TokenRepository;

  beforeAll(async () => {
    database = await startMigratedDatabase();
    db = database.db;
    tokens = new TokenRepository(db);
  });
  afterAll(async () => {
    await database?.stop();
  });

  const lastUsed = async (id: string) =>
    (await db.query<{ at: string | null }>(`select to_char(last_used_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') as at from api_tokens where id = $1`, [id]))[0].at;

  it('writes last_used_at on the first use, then only once it is older than the resolution', async () => {
    const created = await tokens.insert({ id: 'tok-1', name: 'ci', role: 'operator', hash: 'h'.repeat(64) });
    expect(created.lastUsedAt).toBeNull();

    const first = await tokens.findActiveByHash('h'.repeat(64));
    expect(first).toMatchObject({ id: 'tok-1', name: 'ci', role: 'operator', revokedAt: null });
    expect(first!.lastUsedAt).not.toBeNull();
    const stamped = await lastUsed('tok-1');
    expect(stamped).not.toBeNull();

    // more requests within the resolution: no write, the stored time is returned
    for (let i = 0; i < 5; i++) expect((await tokens.findActiveByHash('h'.repeat(64)))!.lastUsedAt).toBe(first!.lastUsedAt);
    expect(await lastUsed('tok-1')).toBe(stamped);

    // older than the resolution: written again
    await db.query(`update api_tokens set last_used_at = now() - make_interval(secs => $2) where id = $1`, ['tok-1', LAST_USED_RESOLUTION_SECONDS + 5]);
    const aged = await lastUsed('tok-1');
    const again = await tokens.findActiveByHash('h'.repeat(64));
    expect(await lastUsed('tok-1')).not.toBe(aged);
    expect(Date.parse(again!.lastUsedAt!)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('never finds a revoked token or an unknown hash', async () => {
    await tokens.insert({ id: 'tok-2', name: 'old', role: 'viewer', hash: 'r'.repeat(64) });
    await db.query('update api_tokens set revoked_at = now() where id = $1', ['tok-2']);
    expect(await tokens.findActiveByHash('r'.repeat(64))).toBeUndefined();
    expect(await tokens.findActiveByHash('u'.repeat(64))).toBeUndefined();
    expect(await lastUsed('tok-2')).toBeNull();
  });
});
