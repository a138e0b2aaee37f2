// Public surface of signing: evidence checkpoints (JWS) and the SSH user CA (keys, certificates).
export { publicJwk, createSigner, verifyJws, keyThumbprint, generateSigningKey, type Jwks, type Signer } from './sign.js';
export {
  generateEd25519,
  signEd25519,
  ed25519Blob,
  publicKeyLine,
  fingerprint,
  parsePublicKeyLine,
  ed25519FromLine,
  encodePrivateKeyFile,
  parsePrivateKeyFile,
  type Ed25519Key,
  type PublicKey,
} from './ssh-keys.js';
export { signUserCertificate, readUserCertificate, CERT_TYPE, type UserCertificate, type UserCertificateRequest, type CertificateFields } from './ssh-certificate.js';
