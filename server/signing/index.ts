// Public surface of signing.
export { publicJwk, createSigner, verifyJws, generateSigningKey, type Jwks, type Signer } from './sign.js';
