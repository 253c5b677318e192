import {
  blobPath,
  keyIdFor,
  MESSAGE_VERSION,
  signDesiredState,
  signManifest,
  type DesiredState,
  type ModelManifest,
  type UnsignedDesiredState,
} from '@edgeloop/contracts';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

/**
 * Plays the registry's signing role in edge tests: an ed25519 key pair whose public key the worker is
 * given, signing manifests and desired states exactly as the cloud does (contracts' signing functions).
 */
export class CloudSigner {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  readonly keyId: string;

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.publicKey = pair.publicKey;
    this.privateKey = pair.privateKey;
    this.keyId = keyIdFor(pair.publicKey);
  }

  get publicKeyPem(): string {
    return this.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** A signed desired state for `manifest`, blobs at the cloud's `/api/v1/blobs/{sha256}`. */
  desired(
    deviceId: string,
    manifest: ModelManifest,
    options: { deploymentId?: string; rollback?: boolean; blobUrl?: (sha256: string) => string; manifestKey?: KeyObject } = {},
  ): DesiredState {
    const blobs = new Map<string, { sha256: string; size: number; url: string }>();
    for (const file of manifest.files) {
      blobs.set(file.sha256, { sha256: file.sha256, size: file.size, url: (options.blobUrl ?? blobPath)(file.sha256) });
    }
    const unsigned: UnsignedDesiredState = {
      v: MESSAGE_VERSION,
      deviceId,
      deploymentId: options.deploymentId ?? `dep-${manifest.name}-${manifest.version}-${Date.now().toString(36)}`,
      model: { name: manifest.name, version: manifest.version },
      manifest: signManifest(manifest, options.manifestKey ?? this.privateKey, this.keyId),
      blobs: [...blobs.values()],
      rollback: options.rollback ?? false,
      issuedAt: Date.now(),
    };
    return signDesiredState(unsigned, this.privateKey, this.keyId);
  }
}
