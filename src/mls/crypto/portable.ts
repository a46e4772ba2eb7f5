/**
 * The MLS crypto provider in browsers, chosen by the `#mls-provider` import condition in package.json:
 * ts-mls 1.6.4's default provider, unchanged. It uses WebCrypto where the browser has the algorithm (SHA-2,
 * HMAC, AES-GCM, Ed25519 when `crypto.subtle` offers it) and @hpke/@noble otherwise (HKDF, the HPKE KEMs, the
 * other signature schemes). Nothing here may import node:crypto: this is what the web app bundles.
 */
export { defaultCryptoProvider as mlsCryptoProvider } from 'ts-mls';
