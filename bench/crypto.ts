// `npm run bench -- crypto`: operations per second of the crypto core on both backends, plus the
// node:crypto-versus-libsodium comparisons behind the node backend's choice of implementation.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as nodeSign,
} from 'node:crypto';
import sodium from 'sodium-native';
import type { CryptoBackend } from '../src/crypto/backend.ts';
import { nodeBackend } from '../src/crypto/backends/node.ts';
import { portableBackend } from '../src/crypto/backends/portable.ts';
import { randomBytes } from '../src/crypto/random.ts';
import { createSealedBox } from '../src/crypto/sealed-box.ts';
import { createXWing } from '../src/crypto/xwing.ts';
import { formatRate, machine, measure, measureAsync, table, writeResult } from './lib.ts';

const DEFAULT_ARGON2 = { memoryKiB: 65_536, iterations: 3, parallelism: 1 };

async function rows(backend: CryptoBackend): Promise<Map<string, number>> {
  const results = new Map<string, number>();
  const peer = backend.x25519.generateKeyPair();
  const own = backend.x25519.generateKeyPair();
  results.set(
    'X25519 shared secret',
    measure(() => backend.x25519.sharedSecret(own.secretKey, peer.publicKey)).opsPerSecond,
  );

  const xwing = createXWing(backend);
  const xwingKeys = xwing.generateKeyPair();
  results.set(
    'X-Wing encapsulate + decapsulate',
    measure(() => {
      const { cipherText } = xwing.encapsulate(xwingKeys.publicKey);
      xwing.decapsulate(cipherText, xwingKeys.secretKey);
    }).opsPerSecond,
  );

  const kemKeys = backend.mlkem768.generateKeyPair();
  results.set(
    'ML-KEM-768 encapsulate + decapsulate',
    measure(() => {
      const { cipherText } = backend.mlkem768.encapsulate(kemKeys.publicKey);
      backend.mlkem768.decapsulate(cipherText, kemKeys.secretKey);
    }).opsPerSecond,
  );

  const box = createSealedBox(backend);
  const kiB = randomBytes(1024);
  for (const version of [2, 1] as const) {
    const keys = box.generateKeyPair(version);
    const sealed = box.seal(keys.publicKey, kiB, { version });
    results.set(
      `sealed box v${version} seal (1 KiB)`,
      measure(() => box.seal(keys.publicKey, kiB, { version })).opsPerSecond,
    );
    results.set(
      `sealed box v${version} open (1 KiB)`,
      measure(() => box.open(keys.secretKey, sealed)).opsPerSecond,
    );
  }

  const twoKiB = randomBytes(2048);
  const key = randomBytes(32);
  for (const aead of [backend.aes256gcm, backend.chacha20poly1305, backend.xchacha20poly1305]) {
    const nonce = randomBytes(aead.nonceLength);
    results.set(
      `${aead.name} seal + open (2 KiB)`,
      measure(() => aead.open(key, nonce, aead.seal(key, nonce, twoKiB))).opsPerSecond,
    );
  }

  const signer = backend.ed25519.generateKeyPair();
  results.set('Ed25519 sign', measure(() => backend.ed25519.sign(signer.secretKey, kiB)).opsPerSecond);
  const dsa = backend.mldsa65.generateKeyPair();
  const dsaSignature = backend.mldsa65.sign(dsa.secretKey, kiB);
  results.set(
    'ML-DSA-65 verify',
    measure(() => backend.mldsa65.verify(dsa.publicKey, kiB, dsaSignature)).opsPerSecond,
  );

  const runs = backend.name === 'node' ? 8 : 2;
  const argon = await measureAsync(
    () => backend.argon2id(randomBytes(16), randomBytes(16), DEFAULT_ARGON2),
    runs,
  );
  results.set('Argon2id (m = 64 MiB, t = 3, p = 1)', argon.opsPerSecond);
  return results;
}

function alternatives(): string[][] {
  const secret = randomBytes(32);
  const peer = nodeBackend.x25519.generateKeyPair().publicKey;
  const out = new Uint8Array(32);
  const libsodiumX25519 = measure(() => sodium.crypto_scalarmult(out, secret, peer)).opsPerSecond;
  const opensslX25519 = measure(() =>
    diffieHellman({
      privateKey: createPrivateKey({
        key: Buffer.from(secret),
        format: 'raw-private',
        asymmetricKeyType: 'x25519',
      }),
      publicKey: createPublicKey({
        key: Buffer.from(peer),
        format: 'raw-public',
        asymmetricKeyType: 'x25519',
      }),
    }),
  ).opsPerSecond;

  const seed = randomBytes(32);
  const message = randomBytes(1024);
  const opensslEd25519 = measure(() =>
    nodeSign(
      null,
      message,
      createPrivateKey({ key: Buffer.from(seed), format: 'raw-private', asymmetricKeyType: 'ed25519' }),
    ),
  ).opsPerSecond;
  const libsodiumEd25519 = measure(() => nodeBackend.ed25519.sign(seed, message)).opsPerSecond;

  const key = randomBytes(32);
  const nonce = randomBytes(12);
  const twoKiB = randomBytes(2048);
  const sealedOut = new Uint8Array(twoKiB.length + 16);
  const openedOut = new Uint8Array(twoKiB.length);
  const libsodiumChaCha = measure(() => {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(sealedOut, twoKiB, null, null, nonce, key);
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(openedOut, null, sealedOut, null, nonce, key);
  }).opsPerSecond;
  const opensslChaCha = measure(() => {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    const body = cipher.update(twoKiB);
    cipher.final();
    const tag = cipher.getAuthTag();
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
    decipher.setAuthTag(tag);
    decipher.update(body);
    decipher.final();
  }).opsPerSecond;
  return [
    ['X25519 shared secret (raw keys)', formatRate(opensslX25519), formatRate(libsodiumX25519), 'libsodium'],
    [
      'Ed25519 sign (1 KiB, from a 32-byte seed)',
      formatRate(opensslEd25519),
      formatRate(libsodiumEd25519),
      'libsodium',
    ],
    [
      'ChaCha20-Poly1305 seal + open (2 KiB)',
      formatRate(opensslChaCha),
      formatRate(libsodiumChaCha),
      'libsodium',
    ],
  ];
}

const node = await rows(nodeBackend);
const portable = await rows(portableBackend);
const comparison = [...node.keys()].map((name) => {
  const a = node.get(name) ?? 0;
  const b = portable.get(name) ?? 0;
  return [name, formatRate(a), formatRate(b), `${(a / b).toFixed(1)}×`];
});

writeResult(
  'crypto',
  `# Crypto core: operations per second

Machine: ${machine()}. Command: \`npm run bench -- crypto\`. One thread, ~1 s per row after warm-up.

## Both backends

${table(['operation', 'node (ops/s)', 'portable (ops/s)', 'node / portable'], comparison)}

## Inside the node backend: node:crypto (OpenSSL) or libsodium?

${table(['operation', 'node:crypto (ops/s)', 'libsodium (ops/s)', 'node backend uses'], alternatives())}

The node backend takes libsodium for X25519 and Ed25519 (raw 32-byte keys go straight in, where node:crypto
must build a KeyObject per call) and for both ChaCha20-Poly1305 AEADs (one call, no cipher object; OpenSSL
lacks XChaCha20 altogether). node:crypto keeps what libsodium does not offer portably: AES-256-GCM (sodium-native
exposes no AES-GCM), ML-KEM-768, ML-DSA-65, SHA-2/SHA-3, HKDF and Argon2id.
Servers (mix nodes, gateways, the delivery service) run the node backend: it is faster on every row above,
and a Sphinx unwrap is dominated by X25519, where libsodium leads. Browsers run the portable backend.
`,
);
