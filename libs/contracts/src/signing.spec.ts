import { generateKeyPairSync } from 'node:crypto';
import { keyIdFor, signCanonical, signDesiredState, verifyCanonical, verifyDesiredState } from './signing';
import { parseDeviceMessage } from './device-messages';
import { keyPair, unsignedDesiredExample } from './testing/examples';

describe('ed25519 signing over canonical JSON', () => {
  const keys = keyPair();

  it('derives a stable key id from the public key, whatever its form', () => {
    const pem = keys.publicKey.export({ type: 'spki', format: 'pem' });
    expect(keyIdFor(pem)).toBe(keys.keyId);
    expect(keyIdFor(keys.privateKey)).toBe(keys.keyId);
    expect(keys.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('verifies whatever the key order and refuses a changed value', () => {
    const signature = signCanonical({ a: 1, b: [1, 2] }, keys.privateKey, keys.keyId);
    expect(verifyCanonical({ b: [1, 2], a: 1 }, signature, keys.publicKey)).toBe(true);
    expect(verifyCanonical({ b: [2, 1], a: 1 }, signature, keys.publicKey)).toBe(false);
    expect(verifyCanonical({ a: 1, b: [1, 2] }, { ...signature, value: 'A'.repeat(86) + '==' }, keys.publicKey)).toBe(false);
  });

  it('accepts PEM keys', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const signature = signCanonical({ x: 1 }, privateKey, keyIdFor(publicKey));
    expect(verifyCanonical({ x: 1 }, signature, publicKey)).toBe(true);
  });

  it('signs a desired state that survives the wire and is verified by the edge', () => {
    const desired = signDesiredState(unsignedDesiredExample(keys), keys.privateKey, keys.keyId);
    const received = parseDeviceMessage('desired', Buffer.from(JSON.stringify(desired)));
    if (!received.ok) throw new Error(received.error.message);
    expect(verifyDesiredState(received.value, keys.publicKey)).toEqual({ ok: true });
  });

  it('keeps fields a newer cloud adds, so an older edge still verifies', () => {
    const unsigned = { ...unsignedDesiredExample(keys), priority: 'high' };
    const desired = signDesiredState(unsigned, keys.privateKey, keys.keyId);
    const received = parseDeviceMessage('desired', JSON.stringify(desired));
    if (!received.ok) throw new Error(received.error.message);
    expect(verifyDesiredState(received.value, keys.publicKey)).toEqual({ ok: true });
  });

  it('refuses a forged rollback flag and a manifest signed by another key', () => {
    const desired = signDesiredState(unsignedDesiredExample(keys), keys.privateKey, keys.keyId);
    expect(verifyDesiredState({ ...desired, rollback: true }, keys.publicKey)).toEqual({ ok: false, reason: 'desired_signature' });

    const other = keyPair();
    const foreign = signDesiredState(unsignedDesiredExample(other), keys.privateKey, keys.keyId);
    expect(verifyDesiredState(foreign, keys.publicKey)).toEqual({ ok: false, reason: 'manifest_signature' });
  });
});
