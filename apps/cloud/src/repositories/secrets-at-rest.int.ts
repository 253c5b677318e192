import { keyIdFor } from '@edgeloop/contracts';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlDatabase } from '../database/sql-database';
import { CloudFixture, startCloudFixture } from '../testing/cloud-fixture';
import { hashToken } from '../services/token.service';
import { SIGNING_KEY_FILE, unsealPem, type SealedSigningKey } from './manifest-signer';
import { TokenRepository } from './token.repository';

const json = (res: Response | Promise<Response>): Promise<any> => Promise.resolve(res).then((r) => r.json());

async function settingsRows(fx: CloudFixture): Promise<Array<{ key: string; value: unknown }>> {
  return fx.cloud.app.get(SqlDatabase).query<{ key: string; value: unknown }>('select key, value from settings');
}

async function servedKeyId(fx: CloudFixture): Promise<string> {
  return (await json(fetch(`${fx.url}/api/v1/keys`))).keys[0].keyId as string;
}

/** Puts back what older versions stored: the signing key in clear in SQL. */
async function plantPlaintextKey(fx: CloudFixture): Promise<string> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await fx.cloud.app
    .get(SqlDatabase)
    .query(`insert into settings (key, value) values ('signing-key', $1) on conflict (key) do update set value = excluded.value`, [
      JSON.stringify({ privateKeyPem: pem }),
    ]);
  return keyIdFor(publicKey);
}

describe('secrets at rest', () => {
  describe('without EDGELOOP_SECRETS_KEY (signing key in a 0600 file)', () => {
    let fx: CloudFixture;
    const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-secrets-'));
    const keyFile = join(dataDir, SIGNING_KEY_FILE);

    beforeAll(async () => {
      fx = await startCloudFixture({ persistentSql: true, env: { EDGELOOP_DATA_DIR: dataDir } });
    });
    afterAll(async () => {
      await fx?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('keeps the generated signing key out of SQL, in a file only its owner can read', async () => {
      expect(JSON.stringify(await settingsRows(fx))).not.toMatch(/PRIVATE KEY/);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const { createPublicKey } = await import('node:crypto');
      expect(keyIdFor(createPublicKey(readFileSync(keyFile, 'utf8')))).toBe(await servedKeyId(fx));
    });

    it('moves a key older versions kept in clear in SQL to the file, and keeps signing with it', async () => {
      const legacyKeyId = await plantPlaintextKey(fx);
      rmSync(keyFile);
      await fx.restart();
      expect(await servedKeyId(fx)).toBe(legacyKeyId);
      expect(JSON.stringify(await settingsRows(fx))).not.toMatch(/PRIVATE KEY/);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    });

    it('does not bring a revoked bootstrap token back at the next boot', async () => {
      const issued = await json(
        fx.api('/api/v1/tokens', { method: 'POST', body: JSON.stringify({ name: 'second-admin', role: 'admin' }), headers: { 'content-type': 'application/json' } }),
      );
      const admin = issued.token as string;
      expect((await fx.api('/api/v1/tokens/bootstrap', { method: 'DELETE', token: admin })).status).toBeLessThan(300);
      expect((await fx.api('/api/v1/tokens')).status).toBe(401);
      await fx.restart();
      expect((await fx.api('/api/v1/tokens')).status).toBe(401);
      expect((await fx.api('/api/v1/tokens', { token: admin })).status).toBe(200);
    });

    it('brings the bootstrap token back only when the configured secret changes', async () => {
      const tokens = new TokenRepository(fx.cloud.app.get(SqlDatabase));
      await tokens.upsertBootstrap(hashToken(fx.adminToken));
      expect(await tokens.findActiveByHash(hashToken(fx.adminToken))).toBeUndefined();
      const replacement = `elt_${randomBytes(24).toString('base64url')}`;
      await tokens.upsertBootstrap(hashToken(replacement));
      expect(await tokens.findActiveByHash(hashToken(replacement))).toMatchObject({ id: 'bootstrap', role: 'admin' });
    });
  });

  describe('with EDGELOOP_SECRETS_KEY (signing key sealed in SQL)', () => {
    let fx: CloudFixture;
    const secretsKey = randomBytes(32);
    const dataDir = mkdtempSync(join(tmpdir(), 'edgeloop-secrets-'));

    beforeAll(async () => {
      fx = await startCloudFixture({ persistentSql: true, env: { EDGELOOP_DATA_DIR: dataDir, EDGELOOP_SECRETS_KEY: secretsKey.toString('base64') } });
    });
    afterAll(async () => {
      await fx?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('stores only the sealed key, which opens with the secrets key and nothing else', async () => {
      const rows = await settingsRows(fx);
      expect(JSON.stringify(rows)).not.toMatch(/PRIVATE KEY/);
      const sealed = rows.find((r) => r.key === 'signing-key')!.value as SealedSigningKey;
      expect(sealed).toMatchObject({ alg: 'aes-256-gcm' });
      const { createPublicKey } = await import('node:crypto');
      expect(keyIdFor(createPublicKey(unsealPem(sealed, secretsKey)))).toBe(await servedKeyId(fx));
      expect(() => unsealPem(sealed, randomBytes(32))).toThrow(/another EDGELOOP_SECRETS_KEY/);
      expect(existsSync(join(dataDir, SIGNING_KEY_FILE))).toBe(false);
    });

    it('seals a key older versions kept in clear, and signs with the same key after a restart', async () => {
      const legacyKeyId = await plantPlaintextKey(fx);
      await fx.restart();
      expect(await servedKeyId(fx)).toBe(legacyKeyId);
      expect(JSON.stringify(await settingsRows(fx))).not.toMatch(/PRIVATE KEY/);
      await fx.restart();
      expect(await servedKeyId(fx)).toBe(legacyKeyId);
    });
  });
});
