import { createHash, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { SIGNATURE_ALGORITHM, type ModelManifest, type Signature, type SignedManifest } from './manifest';
import type { DesiredState, UnsignedDesiredState } from './desired-state';

/**
 * ed25519 signatures over canonical JSON, shared by the registry (signs manifests and desired
 * states) and the edge and CLI (verify them). Keys are KeyObjects or PEM (PKCS#8 private, SPKI public).
 */
export type KeyInput = KeyObject | string | Buffer;

/** A stable id for a public key: the first 16 hex characters of the sha256 of its SPKI DER bytes. */
export function keyIdFor(publicKey: KeyInput): string {
  const key = publicKey instanceof KeyObject && publicKey.type === 'public' ? publicKey : createPublicKey(publicKey);
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export function signCanonical(value: unknown, privateKey: KeyInput, keyId: string): Signature {
  const bytes = Buffer.from(canonicalJson(value), 'utf8');
  return { alg: SIGNATURE_ALGORITHM, keyId, value: sign(null, bytes, privateKey).toString('base64') };
}

/** True when `signature` is a valid ed25519 signature of `canonicalJson(value)`; false on any malformed input. */
export function verifyCanonical(value: unknown, signature: Signature, publicKey: KeyInput): boolean {
  if (signature.alg !== SIGNATURE_ALGORITHM) return false;
  try {
    const bytes = Buffer.from(canonicalJson(value), 'utf8');
    return verify(null, bytes, publicKey, Buffer.from(signature.value, 'base64'));
  } catch {
    return false;
  }
}

export function signManifest(manifest: ModelManifest, privateKey: KeyInput, keyId: string): SignedManifest {
  return { manifest, signature: signCanonical(manifest, privateKey, keyId) };
}

export function verifySignedManifest(signed: SignedManifest, publicKey: KeyInput): boolean {
  return verifyCanonical(signed.manifest, signed.signature, publicKey);
}

export function signDesiredState(state: UnsignedDesiredState, privateKey: KeyInput, keyId: string): DesiredState {
  return { ...state, signature: signCanonical(state, privateKey, keyId) };
}

export type DesiredStateVerification = { ok: true } | { ok: false; reason: 'desired_signature' | 'manifest_signature' };

/** Checks both signatures of a desired state: the state's own and its manifest's. */
export function verifyDesiredState(desired: DesiredState, publicKey: KeyInput): DesiredStateVerification {
  const { signature, ...state } = desired;
  if (!verifyCanonical(state, signature, publicKey)) return { ok: false, reason: 'desired_signature' };
  if (!verifySignedManifest(desired.manifest, publicKey)) return { ok: false, reason: 'manifest_signature' };
  return { ok: true };
}
