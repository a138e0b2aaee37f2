// A fresh Ed25519 evidence-signing key as the JSON the broker reads from SALLYPORT_SIGNING_KEY.
import { generateKeyPairSync } from 'node:crypto';

export function testSigningKey(kid = 'test-key'): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid });
}
