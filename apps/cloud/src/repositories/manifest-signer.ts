import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { canonicalJson, SIGNATURE_ALGORITHM, type Signature } from '@edgeloop/contracts';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';
import { CloudConfig } from '../config/cloud.config';
import { SettingsRepository } from './settings.repository';

export interface PublicKeyInfo {
  keyId: string;
  alg: typeof SIGNATURE_ALGORITHM;
  publicKeyPem: string;
}

const SETTINGS_KEY = 'signing-key';

/**
 * ed25519 signatures over canonical JSON. The key pair comes from EDGELOOP_SIGNING_KEY (a PKCS#8 PEM,
 * raw or base64) or is generated on first boot and kept in SQL, where every replica finds the same one.
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
    let pem = this.config.signingKey ? decodePem(this.config.signingKey) : undefined;
    if (!pem) {
      const stored = await this.settings.get<{ privateKeyPem: string }>(SETTINGS_KEY);
      if (stored) pem = stored.privateKeyPem;
      else {
        const { privateKey } = generateKeyPairSync('ed25519');
        const generated = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
        pem = (await this.settings.putIfAbsent(SETTINGS_KEY, { privateKeyPem: generated })).privateKeyPem;
        this.logger.log('generated a new ed25519 signing key');
      }
    }
    this.privateKey = createPrivateKey(pem);
    if (this.privateKey.asymmetricKeyType !== 'ed25519') throw new Error('EDGELOOP_SIGNING_KEY is not an ed25519 key');
    const publicKey = createPublicKey(this.privateKey);
    this.info = {
      keyId: keyIdOf(publicKey),
      alg: SIGNATURE_ALGORITHM,
      publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    };
  }

  publicKey(): PublicKeyInfo {
    return this.info;
  }

  sign(value: unknown): Signature {
    const value64 = sign(null, Buffer.from(canonicalJson(value)), this.privateKey).toString('base64');
    return { alg: SIGNATURE_ALGORITHM, keyId: this.info.keyId, value: value64 };
  }

  verify(value: unknown, signature: Signature): boolean {
    return verify(null, Buffer.from(canonicalJson(value)), createPublicKey(this.info.publicKeyPem), Buffer.from(signature.value, 'base64'));
  }
}

export function keyIdOf(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: 'der', type: 'spki' });
  return `ed25519:${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
}

function decodePem(value: string): string {
  return value.includes('BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
}
