// Known-answer tests for every primitive of the crypto core, run on both backends, plus a cross-test of the
// two backends on random inputs. Vectors: FIPS 180-4/202 examples, RFC 4231 (HMAC), RFC 5869 (HKDF),
// RFC 7748 (X25519), RFC 8032 (Ed25519), RFC 8439 and draft-agl-tls-chacha20poly1305 (ChaCha20), RFC 8439
// (ChaCha20-Poly1305), draft-irtf-cfrg-xchacha (XChaCha20-Poly1305), the GCM specification's test case 16
// (AES-256-GCM) and the Argon2 reference implementation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  fromUtf8,
  toBase64Url,
  toHex,
  utf8,
} from '../../src/bytes.ts';
import { ArgumentError, AuthenticationError } from '../../src/errors.ts';
import { backends, nodeBackend, portableBackend } from '../support/backends.ts';

const range = (length: number, start = 0) => Uint8Array.from({ length }, (_, i) => start + i);

for (const backend of backends) {
  describe(`${backend.name} backend: known answers`, () => {
    test('SHA-256, SHA-512, SHA3-256 and SHAKE256 of "abc"', () => {
      const abc = utf8('abc');
      assert.equal(
        toHex(backend.sha256(abc)),
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      );
      assert.equal(
        toHex(backend.sha512(abc)),
        'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      );
      assert.equal(
        toHex(backend.sha3_256(abc)),
        '3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532',
      );
      assert.equal(
        toHex(backend.shake256(new Uint8Array(0), 32)),
        '46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f',
      );
    });

    test('HMAC-SHA256 (RFC 4231 cases 1 and 2)', () => {
      assert.equal(
        toHex(backend.hmacSha256(new Uint8Array(20).fill(0x0b), utf8('Hi There'))),
        'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      );
      assert.equal(
        toHex(backend.hmacSha256(utf8('Jefe'), utf8('what do ya want for nothing?'))),
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      );
    });

    test('HMAC-SHA256 with a key longer than a block, and over several parts (RFC 4231 case 6)', () => {
      const key = new Uint8Array(131).fill(0xaa);
      const expected = '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54';
      assert.equal(
        toHex(backend.hmacSha256(key, utf8('Test Using Larger Than Block-Size Key - Hash Key First'))),
        expected,
      );
      assert.equal(
        toHex(
          backend.hmacSha256(
            key,
            utf8('Test Using Larger '),
            utf8('Than Block-Size Key'),
            utf8(' - Hash Key First'),
          ),
        ),
        expected,
      );
    });

    test('HKDF-Expand alone (RFC 5869 case 1, from its PRK)', () => {
      const prk = fromHex('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
      assert.equal(
        toHex(backend.hkdfExpandSha256(prk, range(10, 0xf0), 42)),
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
    });

    test('HKDF-SHA256 (RFC 5869 cases 1 and 3)', () => {
      assert.equal(
        toHex(backend.hkdfSha256(new Uint8Array(22).fill(0x0b), range(13), range(10, 0xf0), 42)),
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
      assert.equal(
        toHex(backend.hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42)),
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
      );
    });

    test('HKDF-SHA3-256 matches an independent implementation (Python hashlib + hmac)', () => {
      assert.equal(
        toHex(backend.hkdfSha3_256(range(22), range(13), range(10, 0xf0), 42)),
        '62e24a1a48faa9bdacf02136c748a6938f8cabae85b7be719e585104bd1793b7c3a095a64e2be302ab85',
      );
    });

    test('AES-128-CTR (NIST SP 800-38A F.5.1, first two blocks)', () => {
      const out = backend.aesCtr(
        fromHex('2b7e151628aed2a6abf7158809cf4f3c'),
        fromHex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'),
        fromHex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51'),
      );
      assert.equal(toHex(out), '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff');
    });

    test('ChaCha20 with an 8-byte nonce (zero key and nonce: the first two keystream blocks)', () => {
      // Block 0 is draft-agl-tls-chacha20poly1305 §7 test vector 1; block 1 is RFC 8439 §A.1 test vector 2
      // (counter 1, zero nonce), which the 64-bit-nonce construction shares.
      const out = backend.chacha20(new Uint8Array(32), new Uint8Array(8), new Uint8Array(128));
      assert.equal(
        toHex(out),
        '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a37' +
          '6a43b8f41518a11cc387b669b2ee6586' +
          '9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed29b721769ce64e43d57133b074d839d5' +
          '31ed1f28510afb45ace10a1f4b794d6f',
      );
      const message = range(100);
      assert.deepEqual(
        backend.chacha20(range(32), range(8), backend.chacha20(range(32), range(8), message)),
        message,
      );
    });

    test('X25519 (RFC 7748 §5.2 and §6.1)', () => {
      const shared = backend.x25519.sharedSecret(
        fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
        fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
      );
      assert.equal(toHex(shared), 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
      const alice = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
      const bob = fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
      assert.equal(
        toHex(backend.x25519.publicKeyFromSecret(alice)),
        '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
      );
      assert.equal(
        toHex(backend.x25519.sharedSecret(alice, backend.x25519.publicKeyFromSecret(bob))),
        '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
      );
    });

    test('X25519 refuses a low-order public key with a typed error', () => {
      assert.throws(() => backend.x25519.sharedSecret(range(32), new Uint8Array(32)), ArgumentError);
    });

    test('Ed25519 (RFC 8032 §7.1 tests 1 and 2)', () => {
      const cases = [
        {
          seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
          publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
          message: '',
          signature:
            'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
        },
        {
          seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
          publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
          message: '72',
          signature:
            '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
        },
      ];
      for (const vector of cases) {
        const keyPair = backend.ed25519.generateKeyPair(fromHex(vector.seed));
        assert.equal(toHex(keyPair.publicKey), vector.publicKey);
        const signature = backend.ed25519.sign(keyPair.secretKey, fromHex(vector.message));
        assert.equal(toHex(signature), vector.signature);
        assert.equal(backend.ed25519.verify(keyPair.publicKey, fromHex(vector.message), signature), true);
        signature[0] = (signature[0] as number) ^ 1;
        assert.equal(backend.ed25519.verify(keyPair.publicKey, fromHex(vector.message), signature), false);
      }
    });

    test('AES-256-GCM (GCM specification, test case 16)', () => {
      const key = fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
      const nonce = fromHex('cafebabefacedbaddecaf888');
      const plaintext = fromHex(
        'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      );
      const associatedData = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
      const sealed = backend.aes256gcm.seal(key, nonce, plaintext, associatedData);
      assert.equal(
        toHex(sealed),
        '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
          '76fc6ece0f4e1768cddf8853bb2d551b',
      );
      assert.deepEqual(backend.aes256gcm.open(key, nonce, sealed, associatedData), plaintext);
    });

    test('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
      const key = range(32, 0x80);
      const nonce = fromHex('070000004041424344454647');
      const associatedData = fromHex('50515253c0c1c2c3c4c5c6c7');
      const plaintext = utf8(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      );
      const sealed = backend.chacha20poly1305.seal(key, nonce, plaintext, associatedData);
      assert.equal(toHex(sealed.subarray(0, 16)), 'd31a8d34648e60db7b86afbc53ef7ec2');
      assert.equal(toHex(sealed.subarray(sealed.length - 16)), '1ae10b594f09e26a7e902ecbd0600691');
      assert.deepEqual(backend.chacha20poly1305.open(key, nonce, sealed, associatedData), plaintext);
    });

    test('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha §A.3.1)', () => {
      const key = range(32, 0x80);
      const nonce = range(24, 0x40);
      const associatedData = fromHex('50515253c0c1c2c3c4c5c6c7');
      const plaintext = utf8(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
      );
      const sealed = backend.xchacha20poly1305.seal(key, nonce, plaintext, associatedData);
      assert.equal(toHex(sealed.subarray(0, 16)), 'bd6d179d3e83d43b9576579493c0e939');
      assert.equal(toHex(sealed.subarray(sealed.length - 16)), 'c0875924c1c7987947deafd8780acf49');
      assert.deepEqual(backend.xchacha20poly1305.open(key, nonce, sealed, associatedData), plaintext);
    });

    test('Argon2id (reference implementation: "password", "somesalt", t=2, m=64 MiB, p=1)', async () => {
      const key = await backend.argon2id(utf8('password'), utf8('somesalt'), {
        memoryKiB: 65536,
        iterations: 2,
        parallelism: 1,
      });
      assert.equal(toHex(key), '09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7');
    });
  });

  describe(`${backend.name} backend: misuse`, () => {
    for (const aead of [backend.aes256gcm, backend.chacha20poly1305, backend.xchacha20poly1305]) {
      test(`${aead.name} refuses a modified ciphertext, nonce or associated data with AuthenticationError`, () => {
        const key = range(32);
        const nonce = range(aead.nonceLength);
        const sealed = aead.seal(key, nonce, utf8('attack at dawn'), utf8('header'));
        const flipped = sealed.slice();
        flipped[3] = (flipped[3] as number) ^ 0x20;
        assert.throws(() => aead.open(key, nonce, flipped, utf8('header')), AuthenticationError);
        assert.throws(() => aead.open(key, nonce, sealed, utf8('other')), AuthenticationError);
        assert.throws(
          () => aead.open(key, range(aead.nonceLength, 1), sealed, utf8('header')),
          AuthenticationError,
        );
        assert.throws(() => aead.open(range(31), nonce, sealed), ArgumentError);
        assert.throws(() => aead.open(key, nonce, sealed.subarray(0, 15)), ArgumentError);
      });
    }

    test('wrong lengths give named ArgumentErrors', () => {
      assert.throws(() => backend.x25519.sharedSecret(range(31), range(32)), {
        name: 'ArgumentError',
        argument: 'secretKey',
      });
      assert.throws(() => backend.mlkem768.encapsulate(range(1183)), { argument: 'publicKey' });
      assert.throws(() => backend.mlkem768.generateKeyPair(range(32)), { argument: 'seed' });
      assert.throws(() => backend.hkdfSha256(range(1), range(1), range(1), 255 * 32 + 1), {
        argument: 'length',
      });
      assert.throws(() => backend.aesCtr(range(24), range(16), range(1)), { argument: 'key' });
      assert.throws(() => backend.chacha20(range(32), range(12), range(1)), { argument: 'nonce' });
      assert.throws(() => backend.chacha20(range(16), range(8), range(1)), { argument: 'key' });
      assert.equal(backend.mldsa65.verify(range(10), range(1), range(3309)), false);
    });

    test('an invalid ML-KEM encapsulation key (coefficient ≥ q) is refused', () => {
      const publicKey = new Uint8Array(1184).fill(0xff);
      assert.throws(() => backend.mlkem768.encapsulate(publicKey), ArgumentError);
    });

    test('key pairs never print their secret key', () => {
      const keyPair = backend.x25519.generateKeyPair(new Uint8Array(32).fill(0xab));
      const printed = [String(keyPair), JSON.stringify(keyPair), `${keyPair}`];
      printed.push(inspect(keyPair, { depth: 5 }));
      for (const text of printed) {
        assert.ok(!text.includes('abab'), text);
        assert.ok(!text.includes('171'), text);
        assert.match(text, /redacted/);
      }
    });
  });
}

describe('cross-test: node and portable backends agree on random inputs', () => {
  const runs = { numRuns: 25 };
  const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });

  test('hashes, HMAC, HKDF and AES-CTR', () => {
    fc.assert(
      fc.property(bytes(0, 300), bytes(1, 64), fc.integer({ min: 1, max: 200 }), (data, key, length) => {
        assert.deepEqual(nodeBackend.sha256(data), portableBackend.sha256(data));
        assert.deepEqual(nodeBackend.sha512(data), portableBackend.sha512(data));
        assert.deepEqual(nodeBackend.sha3_256(data), portableBackend.sha3_256(data));
        assert.deepEqual(nodeBackend.shake256(data, length), portableBackend.shake256(data, length));
        assert.deepEqual(nodeBackend.hmacSha256(key, data), portableBackend.hmacSha256(key, data));
        assert.deepEqual(
          nodeBackend.hkdfSha256(data, key, key, length),
          portableBackend.hkdfSha256(data, key, key, length),
        );
        assert.deepEqual(
          nodeBackend.hkdfSha3_256(data, key, key, length),
          portableBackend.hkdfSha3_256(data, key, key, length),
        );
        const aesKey = nodeBackend.sha256(key);
        const iv = aesKey.subarray(0, 16);
        assert.deepEqual(nodeBackend.aesCtr(aesKey, iv, data), portableBackend.aesCtr(aesKey, iv, data));
        assert.deepEqual(
          nodeBackend.chacha20(aesKey, iv.subarray(0, 8), data),
          portableBackend.chacha20(aesKey, iv.subarray(0, 8), data),
        );
      }),
      runs,
    );
  });

  test('HKDF-Expand from pseudorandom keys of 32 to 100 bytes, any info, any length', () => {
    fc.assert(
      fc.property(bytes(32, 100), bytes(0, 80), fc.integer({ min: 1, max: 400 }), (prk, info, length) => {
        assert.deepEqual(
          nodeBackend.hkdfExpandSha256(prk, info, length),
          portableBackend.hkdfExpandSha256(prk, info, length),
        );
      }),
      runs,
    );
  });

  test('AEADs: what one backend seals the other opens', () => {
    fc.assert(
      fc.property(
        bytes(32, 32),
        bytes(24, 24),
        bytes(0, 2048),
        bytes(0, 40),
        (key, nonce24, plaintext, ad) => {
          for (const name of ['aes256gcm', 'chacha20poly1305', 'xchacha20poly1305'] as const) {
            const nonce = nonce24.subarray(0, nodeBackend[name].nonceLength);
            const sealed = nodeBackend[name].seal(key, nonce, plaintext, ad);
            assert.deepEqual(portableBackend[name].seal(key, nonce, plaintext, ad), sealed);
            assert.deepEqual(portableBackend[name].open(key, nonce, sealed, ad), plaintext);
          }
        },
      ),
      runs,
    );
  });

  test('X25519, Ed25519, ML-KEM-768 and ML-DSA-65 interoperate', () => {
    fc.assert(
      fc.property(bytes(64, 64), bytes(0, 200), (seed, message) => {
        const a = nodeBackend.x25519.generateKeyPair(seed.subarray(0, 32));
        const b = portableBackend.x25519.generateKeyPair(seed.subarray(32));
        assert.deepEqual(
          nodeBackend.x25519.sharedSecret(a.secretKey, b.publicKey),
          portableBackend.x25519.sharedSecret(b.secretKey, a.publicKey),
        );

        const signer = nodeBackend.ed25519.generateKeyPair(seed.subarray(0, 32));
        assert.deepEqual(
          portableBackend.ed25519.generateKeyPair(seed.subarray(0, 32)).publicKey,
          signer.publicKey,
        );
        assert.ok(
          portableBackend.ed25519.verify(
            signer.publicKey,
            message,
            nodeBackend.ed25519.sign(signer.secretKey, message),
          ),
        );

        const kem = nodeBackend.mlkem768.generateKeyPair(seed);
        assert.deepEqual(portableBackend.mlkem768.generateKeyPair(seed).publicKey, kem.publicKey);
        const { cipherText, sharedSecret } = nodeBackend.mlkem768.encapsulate(kem.publicKey);
        assert.deepEqual(portableBackend.mlkem768.decapsulate(cipherText, kem.secretKey), sharedSecret);
        const back = portableBackend.mlkem768.encapsulate(kem.publicKey);
        assert.deepEqual(nodeBackend.mlkem768.decapsulate(back.cipherText, kem.secretKey), back.sharedSecret);
      }),
      { numRuns: 10 },
    );
  });

  test('ML-DSA-65: keys from one seed match, and signatures verify across backends', () => {
    const seed = range(32, 7);
    const message = utf8('network document, epoch 42');
    const keyPair = nodeBackend.mldsa65.generateKeyPair(seed);
    assert.deepEqual(portableBackend.mldsa65.generateKeyPair(seed).publicKey, keyPair.publicKey);
    const fromNode = nodeBackend.mldsa65.sign(keyPair.secretKey, message);
    const fromPortable = portableBackend.mldsa65.sign(keyPair.secretKey, message);
    assert.equal(fromNode.length, 3309);
    assert.ok(portableBackend.mldsa65.verify(keyPair.publicKey, message, fromNode));
    assert.ok(nodeBackend.mldsa65.verify(keyPair.publicKey, message, fromPortable));
    assert.equal(
      nodeBackend.mldsa65.verify(keyPair.publicKey, utf8('another document'), fromPortable),
      false,
    );
  });
});

test('fromUtf8 keeps a leading byte-order mark and refuses malformed UTF-8', () => {
  assert.equal(fromUtf8(fromHex('efbbbf61')), '\ufeffa');
  assert.deepEqual(utf8(fromUtf8(fromHex('efbbbf61'))), fromHex('efbbbf61'));
  assert.throws(() => fromUtf8(fromHex('c328')), ArgumentError);
});

test('hex and base64url round-trip and refuse malformed text', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      assert.deepEqual(fromHex(toHex(bytes)), bytes);
      assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes);
    }),
  );
  assert.equal(toBase64Url(utf8('hello?')), 'aGVsbG8_');
  assert.throws(() => fromHex('abc'), ArgumentError);
  assert.throws(() => fromBase64Url('a'), ArgumentError);
  assert.throws(() => fromBase64Url('ab+c'), ArgumentError);
  assert.throws(() => fromBase64Url('ab'.padEnd(3, 'B')), ArgumentError);
});

test('constantTimeEqual compares contents and lengths', () => {
  assert.equal(constantTimeEqual(utf8('abc'), utf8('abc')), true);
  assert.equal(constantTimeEqual(utf8('abc'), utf8('abd')), false);
  assert.equal(constantTimeEqual(utf8('abc'), utf8('ab')), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});
