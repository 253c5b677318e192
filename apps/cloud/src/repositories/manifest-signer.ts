import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { keyIdFor, signCanonical, SIGNATURE_ALGORITHM, verifyCanonical, type Signature } from '@edgeloop/contracts';
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudConfig } from '../config/cloud.config';
import { SettingsRepository } from './settings.repository';

export interface PublicKeyInfo {
  keyId: string;
  alg: typeof SIGNATURE_ALGORITHM;
  publicKeyPem: string;
}

const SETTINGS_KEY = 'signing-key';
/** The name of the generated key's file in EDGELOOP_DATA_DIR when there is no EDGELOOP_SECRETS_KEY. */
export const SIGNING_KEY_FILE = 'signing-key.pem';
const SEALED_AAD = Buffer.from('edgeloop/signing-key');

/** A PEM sealed with EDGELOOP_SECRETS_KEY (AES-256-GCM), as kept in the `settings` table. */
export interface SealedSigningKey {
  alg: 'aes-256-gcm';
  /** First 16 hex of sha256(secrets key): tells a wrong key from a damaged value. */
  kek: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/** What older versions stored: the private key in clear. Read once, then sealed or moved to a file. */
interface PlaintextSigningKey {
  privateKeyPem: string;
}

type StoredSigningKey = SealedSigningKey | PlaintextSigningKey;

/**
 * ed25519 signatures over canonical JSON. The private key comes from, in this order:
 * - EDGELOOP_SIGNING_KEY (a PKCS#8 PEM, raw or base64);
 * - with EDGELOOP_SECRETS_KEY: a key generated on first boot and kept in SQL sealed with AES-256-GCM,
 *   where every replica with the same secrets key finds it;
 * - otherwise a key generated on first boot in `<EDGELOOP_DATA_DIR>/signing-key.pem`, mode 0600 (one
 *   machine; replicas on several machines need one of the two above), or only in memory when SQL is
 *   itself in memory.
 * A key older versions kept in clear in SQL is sealed (secrets key) or moved to the file, and the clear copy removed.
 */
@Injectable()
export class ManifestSigner implements OnModuleInit {
  private readonly logger = new Logger(ManifestSigner.name);
  private privateKey!: KeyObject;
  private info!: PublicKeyInfo;

  constructor(
    private readonly config: CloudConfig,
    private readonly settings: SettingsRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    const pem = this.config.signingKey ? decodePem(this.config.signingKey) : await this.generatedKey();
    this.privateKey = createPrivateKey(pem);
    if (this.privateKey.asymmetricKeyType !== 'ed25519') throw new Error('EDGELOOP_SIGNING_KEY is not an ed25519 key');
    const publicKey = createPublicKey(this.privateKey);
    this.info = {
      keyId: keyIdFor(publicKey),
      alg: SIGNATURE_ALGORITHM,
      publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    };
  }

  publicKey(): PublicKeyInfo {
    return this.info;
  }

  /** ed25519 over the canonical JSON of `value` (a manifest, a desired state). */
  sign(value: unknown): Signature {
    return signCanonical(value, this.privateKey, this.info.keyId);
  }

  verify(value: unknown, signature: Signature): boolean {
    return verifyCanonical(value, signature, this.info.publicKeyPem);
  }

  /** The generated key: unsealed from SQL, read from its file, or generated now (see the class comment). */
  private async generatedKey(): Promise<string> {
    const stored = await this.settings.get<StoredSigningKey>(SETTINGS_KEY);
    const secretsKey = this.config.secretsKey;
    if (secretsKey) {
      if (stored && 'privateKeyPem' in stored) {
        await this.settings.put(SETTINGS_KEY, sealPem(stored.privateKeyPem, secretsKey));
        this.logger.log('sealed the signing key kept in clear in SQL with EDGELOOP_SECRETS_KEY');
        return stored.privateKeyPem;
      }
      if (stored) return unsealPem(stored, secretsKey);
      const sealed = await this.settings.putIfAbsent(SETTINGS_KEY, sealPem(generatePem(), secretsKey));
      this.logger.log('generated a new ed25519 signing key (sealed in SQL)');
      return unsealPem(sealed as SealedSigningKey, secretsKey);
    }
    if (stored && !('privateKeyPem' in stored)) {
      throw new Error('the signing key in SQL is sealed: set EDGELOOP_SECRETS_KEY to the key it was sealed with (or EDGELOOP_SIGNING_KEY)');
    }
    if (!this.config.databaseUrl && this.config.sqlDir === 'memory://') {
      this.logger.log('generated a new ed25519 signing key (in memory, like SQL)');
      return stored?.privateKeyPem ?? generatePem();
    }
    const file = join(this.config.dataDir, SIGNING_KEY_FILE);
    const pem = await readOrCreateKeyFile(file, stored?.privateKeyPem ?? generatePem());
    if (stored) {
      await this.settings.delete(SETTINGS_KEY);
      this.logger.log(`moved the signing key kept in clear in SQL to ${file} (mode 0600)`);
    }
    if (this.config.databaseUrl) {
      this.logger.warn(`signing key in ${file}: replicas on other machines need the same file, EDGELOOP_SECRETS_KEY or EDGELOOP_SIGNING_KEY`);
    }
    return pem;
  }
}

function generatePem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function kekId(secretsKey: Buffer): string {
  return createHash('sha256').update(secretsKey).digest('hex').slice(0, 16);
}

export function sealPem(pem: string, secretsKey: Buffer): SealedSigningKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secretsKey, iv).setAAD(SEALED_AAD);
  const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return {
    alg: 'aes-256-gcm',
    kek: kekId(secretsKey),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

export function unsealPem(sealed: SealedSigningKey, secretsKey: Buffer): string {
  if (sealed.alg !== 'aes-256-gcm') throw new Error(`the signing key in SQL is sealed with ${String(sealed.alg)}, not aes-256-gcm`);
  if (sealed.kek !== kekId(secretsKey)) {
    throw new Error('the signing key in SQL was sealed with another EDGELOOP_SECRETS_KEY: set the key it was sealed with');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', secretsKey, Buffer.from(sealed.iv, 'base64')).setAAD(SEALED_AAD);
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new Error('the signing key in SQL does not decrypt with EDGELOOP_SECRETS_KEY (damaged value?)', { cause: error });
  }
}

/** The key in `file`, kept at mode 0600; when absent, `pem` is written there (the first writer wins). */
async function readOrCreateKeyFile(file: string, pem: string): Promise<string> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  try {
    await writeFile(file, pem, { flag: 'wx', mode: 0o600 });
    return pem;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return readFile(file, 'utf8');
}

function decodePem(value: string): string {
  return value.includes('BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
}
