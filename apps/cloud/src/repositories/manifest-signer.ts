import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { keyIdFor, signCanonical, SIGNATURE_ALGORITHM, verifyCanonical, type Signature } from '@edgeloop/contracts';
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
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
}

function decodePem(value: string): string {
  return value.includes('BEGIN') ? value : Buffer.from(value, 'base64').toString('utf8');
}
