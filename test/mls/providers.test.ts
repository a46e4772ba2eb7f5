// The two MLS crypto providers (src/mls/crypto) against each other: the native one (Node: OpenSSL and
// libsodium) and the portable one (ts-mls 1.6.4's default: WebCrypto, @hpke, @noble), on umbra's suites and
// the other SHA-2 widths. Hashes, MACs and HKDF agree byte for byte; what one signs, seals or exports the
// other verifies, opens or imports, both ways; HPKE key derivation (RFC 9180 §7.1.3) gives the same keys.
// Hostile inputs — altered or truncated signatures and ciphertexts, keys and encapsulations of the wrong
// length, low-order X25519 points — fail with false or the catalog's errors, never with a crash.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import {
  type CiphersuiteImpl,
  type CiphersuiteName,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { fromHex, toHex, utf8 } from '../../src/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';
import { ArgumentError, AuthenticationError, CodecError } from '../../src/errors.ts';
import { mlsCryptoProvider as nativeProvider } from '../../src/mls/crypto/native.ts';

const load = async (name: CiphersuiteName) => {
  const suite = getCiphersuiteFromName(name);
  return {
    native: await getCiphersuiteImpl(suite, nativeProvider),
    portable: await getCiphersuiteImpl(suite, defaultCryptoProvider),
  };
};

/** A copy of `bytes` with one bit flipped at `index`. */
function flipped(bytes: Uint8Array, index = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = (out[index] as number) ^ 1;
  return out;
}

// Lengths around the SHA-2 output and block sizes (32, 48, 64 and 128 bytes) for keys and data.
const LENGTHS = [0, 1, 31, 32, 48, 63, 64, 65, 127, 128, 129, 200, 1000];

const HASH_SUITES: CiphersuiteName[] = [
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  'MLS_256_DHKEMP384_AES256GCM_SHA384_P384',
  'MLS_256_XWING_AES256GCM_SHA512_Ed25519',
];

for (const name of HASH_SUITES) {
  describe(`${name}: hash and KDF`, async () => {
    const { native, portable } = await load(name);

    test('digest, MAC and HKDF agree byte for byte', async () => {
      for (const keyLength of LENGTHS) {
        for (const dataLength of LENGTHS) {
          const key = randomBytes(keyLength);
          const data = randomBytes(dataLength);
          assert.equal(toHex(await native.hash.digest(data)), toHex(await portable.hash.digest(data)));
          // @hpke takes HKDF salts of Nh bytes or none, as MLS and HPKE use them.
          if (keyLength === 0 || keyLength === native.kdf.size) {
            assert.equal(
              toHex(await native.kdf.extract(key, data)),
              toHex(await portable.kdf.extract(key, data)),
            );
          }
          // WebCrypto refuses empty HMAC keys (MLS never MACs with one); HKDF's empty salt covers that case.
          if (keyLength === 0) continue;
          const mac = await native.hash.mac(key, data);
          assert.equal(toHex(mac), toHex(await portable.hash.mac(key, data)));
          assert.equal(await portable.hash.verifyMac(key, mac, data), true);
        }
      }
      assert.equal(native.kdf.size, portable.kdf.size);
      const prk = randomBytes(native.kdf.size);
      for (const length of [1, 16, native.kdf.size, native.kdf.size + 1, 255 * native.kdf.size]) {
        const info = randomBytes(length % 40);
        assert.equal(
          toHex(await native.kdf.expand(prk, info, length)),
          toHex(await portable.kdf.expand(prk, info, length)),
        );
      }
    });

    test('MACs are checked: altered or truncated ones fail on both providers', async () => {
      const key = randomBytes(32);
      const data = utf8('membership tag');
      const mac = await portable.hash.mac(key, data);
      assert.equal(await native.hash.verifyMac(key, mac, data), true);
      for (const bad of [flipped(mac), flipped(mac, mac.length - 1), mac.subarray(1), new Uint8Array(0)]) {
        assert.equal(await native.hash.verifyMac(key, bad, data), false);
        assert.equal(await portable.hash.verifyMac(key, bad, data), false);
      }
      assert.equal(await native.hash.verifyMac(flipped(key), mac, data), false);
    });

    test('HKDF-Expand refuses more than 255 blocks', async () => {
      const prk = randomBytes(native.kdf.size);
      await assert.rejects(
        native.kdf.expand(prk, new Uint8Array(0), 255 * native.kdf.size + 1),
        ArgumentError,
      );
    });
  });
}

describe('Ed25519 signatures', async () => {
  const { native, portable } = await load('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
  const message = utf8('MLS 1.0 LeafNodeTBS');

  test('each provider verifies what the other signs, with either private-key encoding', async () => {
    const nativeKeys = await native.signature.keygen();
    const portableKeys = await portable.signature.keygen();
    // The portable provider's keys are PKCS #8 where WebCrypto has Ed25519, as on Node: the encoding saved
    // groups and KeyPackage secrets of earlier umbra versions hold.
    assert.equal(nativeKeys.signKey.length, 32);
    assert.equal(portableKeys.signKey.length, 48);
    for (const { signKey, publicKey } of [nativeKeys, portableKeys]) {
      const fromNative = await native.signature.sign(signKey, message);
      const fromPortable = await portable.signature.sign(signKey, message);
      assert.equal(toHex(fromNative), toHex(fromPortable), 'Ed25519 is deterministic');
      assert.equal(await portable.signature.verify(publicKey, message, fromNative), true);
      assert.equal(await native.signature.verify(publicKey, message, fromPortable), true);
    }
  });

  test('bad signatures and malformed keys verify false on the native provider, never throw', async () => {
    const { signKey, publicKey } = await portable.signature.keygen();
    const signature = await portable.signature.sign(signKey, message);
    const other = await native.signature.keygen();
    const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
      ['altered R', publicKey, message, flipped(signature)],
      ['altered S', publicKey, message, flipped(signature, 40)],
      ['altered message', publicKey, flipped(message), signature],
      ['other key', other.publicKey, message, signature],
      ['short signature', publicKey, message, signature.subarray(1)],
      ['long signature', publicKey, message, new Uint8Array([...signature, 0])],
      ['empty signature', publicKey, message, new Uint8Array(0)],
      ['short key', publicKey.subarray(1), message, signature],
      ['all-zero key', new Uint8Array(32), message, signature],
      [
        'S above the group order',
        publicKey,
        message,
        new Uint8Array([...signature.subarray(0, 32), ...new Uint8Array(32).fill(0xff)]),
      ],
    ];
    for (const [what, key, data, sig] of cases) {
      assert.equal(await native.signature.verify(key, data, sig), false, what);
    }
    for (const [what, key, data, sig] of cases.slice(0, 4)) {
      assert.equal(await portable.signature.verify(key, data, sig), false, what);
    }
  });

  test('a private key of another length or encoding is refused as an argument', async () => {
    await assert.rejects(native.signature.sign(new Uint8Array(31), message), ArgumentError);
    await assert.rejects(native.signature.sign(new Uint8Array(48), message), ArgumentError);
  });
});

const HPKE_SUITES: CiphersuiteName[] = [
  'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
  'MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519',
];

/** A key pair made by `maker` and imported into `user` from its bytes. */
async function keyPair(maker: CiphersuiteImpl, user: CiphersuiteImpl) {
  const pair = await maker.hpke.generateKeyPair();
  return {
    publicKey: await user.hpke.importPublicKey(await maker.hpke.exportPublicKey(pair.publicKey)),
    privateKey: await user.hpke.importPrivateKey(await maker.hpke.exportPrivateKey(pair.privateKey)),
  };
}

for (const name of HPKE_SUITES) {
  describe(`${name}: HPKE`, async () => {
    const { native, portable } = await load(name);
    const info = utf8('MLS 1.0 UpdatePathNode');
    const aad = utf8('group context');
    const plaintext = randomBytes(97);

    test('what one provider seals, the other opens (with and without aad)', async () => {
      for (const [sender, receiver] of [
        [native, portable],
        [portable, native],
      ] as const) {
        const keys = await keyPair(receiver, sender);
        const recipientKey = await receiver.hpke.importPrivateKey(
          await sender.hpke.exportPrivateKey(keys.privateKey),
        );
        for (const extra of [aad, undefined]) {
          const { ct, enc } = await sender.hpke.seal(keys.publicKey, plaintext, info, extra);
          assert.equal(enc.length, 32);
          assert.deepEqual(await receiver.hpke.open(recipientKey, enc, ct, info, extra), plaintext);
        }
      }
    });

    test('exported secrets agree both ways (RFC 9180 §5.3, the MLS external init)', async () => {
      const context = utf8('MLS 1.0 external init secret');
      for (const [sender, receiver] of [
        [native, portable],
        [portable, native],
      ] as const) {
        const pair = await receiver.hpke.generateKeyPair();
        const publicKey = await sender.hpke.importPublicKey(
          await receiver.hpke.exportPublicKey(pair.publicKey),
        );
        const { enc, secret } = await sender.hpke.exportSecret(publicKey, context, 32, info);
        assert.deepEqual(await receiver.hpke.importSecret(pair.privateKey, context, enc, 32, info), secret);
      }
    });

    test('key pairs derived from the same secret are the same (RFC 9180 §7.1.3)', async () => {
      for (let i = 0; i < 8; i++) {
        const ikm = randomBytes(32);
        const a = await native.hpke.deriveKeyPair(ikm);
        const b = await portable.hpke.deriveKeyPair(ikm);
        assert.equal(
          toHex(await native.hpke.exportPrivateKey(a.privateKey)),
          toHex(await portable.hpke.exportPrivateKey(b.privateKey)),
        );
        assert.equal(
          toHex(await native.hpke.exportPublicKey(a.publicKey)),
          toHex(await portable.hpke.exportPublicKey(b.publicKey)),
        );
      }
    });

    test('the bare AEAD agrees both ways', async () => {
      const key = randomBytes(native.hpke.keyLength);
      const nonce = randomBytes(native.hpke.nonceLength);
      assert.equal(native.hpke.keyLength, portable.hpke.keyLength);
      const sealed = await native.hpke.encryptAead(key, nonce, aad, plaintext);
      assert.equal(toHex(sealed), toHex(await portable.hpke.encryptAead(key, nonce, aad, plaintext)));
      assert.deepEqual(await portable.hpke.decryptAead(key, nonce, aad, sealed), plaintext);
      assert.deepEqual(await native.hpke.decryptAead(key, nonce, aad, sealed), plaintext);
      await assert.rejects(native.hpke.decryptAead(key, nonce, aad, flipped(sealed)), AuthenticationError);
      await assert.rejects(native.hpke.decryptAead(key, nonce, undefined, sealed), AuthenticationError);
      await assert.rejects(
        native.hpke.decryptAead(key, nonce, aad, sealed.subarray(0, 15)),
        AuthenticationError,
      );
      await assert.rejects(native.hpke.decryptAead(key, nonce, aad, new Uint8Array(0)), AuthenticationError);
    });

    test('hostile ciphertexts, encapsulations and keys fail with catalog errors', async () => {
      const pair = await native.hpke.generateKeyPair();
      const publicKey = await portable.hpke.importPublicKey(
        await native.hpke.exportPublicKey(pair.publicKey),
      );
      const { ct, enc } = await portable.hpke.seal(publicKey, plaintext, info, aad);
      const open = (e: Uint8Array, c: Uint8Array, i = info, a: Uint8Array | undefined = aad) =>
        native.hpke.open(pair.privateKey, e, c, i, a);
      assert.deepEqual(await open(enc, ct), plaintext);
      await assert.rejects(open(enc, flipped(ct)), AuthenticationError);
      await assert.rejects(open(enc, ct.subarray(0, 15)), AuthenticationError);
      await assert.rejects(open(enc, new Uint8Array(0)), AuthenticationError);
      await assert.rejects(open(enc, ct, flipped(info)), AuthenticationError);
      await assert.rejects(open(enc, ct, info, new Uint8Array(0)), AuthenticationError);
      await assert.rejects(open(flipped(enc), ct), AuthenticationError);
      await assert.rejects(open(enc.subarray(1), ct), CodecError);
      await assert.rejects(open(new Uint8Array([...enc, 0]), ct), CodecError);
      // Low-order points: the all-zero result RFC 9180 §7.1.4 rejects.
      await assert.rejects(open(new Uint8Array(32), ct), CodecError);
      const order8 = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
      await assert.rejects(open(order8, ct), CodecError);
      await assert.rejects(
        native.hpke.seal(await native.hpke.importPublicKey(order8), plaintext, info),
        CodecError,
      );
      await assert.rejects(
        native.hpke.importSecret(pair.privateKey, info, enc.subarray(2), 32, info),
        CodecError,
      );
      await assert.rejects(native.hpke.importPublicKey(new Uint8Array(31)), CodecError);
      await assert.rejects(native.hpke.importPrivateKey(new Uint8Array(33)), CodecError);
    });

    test('keys of the other provider are refused as arguments, and private keys never print', async () => {
      const foreign = await portable.hpke.generateKeyPair();
      await assert.rejects(native.hpke.seal(foreign.publicKey, plaintext, info), ArgumentError);
      await assert.rejects(native.hpke.exportPrivateKey(foreign.privateKey), ArgumentError);
      const own = await native.hpke.generateKeyPair();
      const secret = toHex(await native.hpke.exportPrivateKey(own.privateKey));
      for (const printed of [
        inspect(own.privateKey),
        JSON.stringify(own.privateKey),
        String(own.privateKey),
      ]) {
        assert.ok(!printed.includes(secret), printed);
        assert.match(printed, /redacted/);
      }
    });
  });
}
