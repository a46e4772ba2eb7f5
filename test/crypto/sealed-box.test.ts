// The sealed box: round trips for both protocol versions on both backends and across them, and a distinct
// typed error for each way a box can fail — never garbage plaintext.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { utf8 } from '../../src/bytes.ts';
import { sealedBox as defaultSealedBox } from '../../src/crypto/index.ts';
import { createSealedBox, type SealedBoxVersion } from '../../src/crypto/sealed-box.ts';
import { ArgumentError, SealedBoxError } from '../../src/errors.ts';
import { backends, nodeBackend, portableBackend } from '../support/backends.ts';

const reasonOf = (action: () => unknown): string => {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof SealedBoxError, `expected SealedBoxError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('expected the box to be refused');
};

test('the default box is version 2 (X-Wing) and carries the version in its first byte', () => {
  const keyPair = defaultSealedBox.generateKeyPair();
  const box = defaultSealedBox.seal(keyPair.publicKey, utf8('hello'));
  assert.equal(box[0], 2);
  assert.equal(box.length, 1 + 16 + 4 + 1120 + 5 + 16);
  assert.deepEqual(defaultSealedBox.open(keyPair.secretKey, box), utf8('hello'));
});

for (const backend of backends) {
  for (const version of [1, 2] as SealedBoxVersion[]) {
    describe(`sealed box v${version} on the ${backend.name} backend`, () => {
      const box = createSealedBox(backend);
      const keyPair = box.generateKeyPair(version);
      const plaintext = utf8('the appointment moved to Thursday');
      const associatedData = utf8('conversation 7');
      const sealed = box.seal(keyPair.publicKey, plaintext, { version, associatedData });

      test('round-trips, with associated data, and for empty and 64 KiB plaintexts', () => {
        assert.equal(sealed[0], version);
        assert.deepEqual(box.open(keyPair.secretKey, sealed, { associatedData }), plaintext);
        for (const size of [0, 65_536]) {
          const data = new Uint8Array(size).fill(7);
          assert.deepEqual(box.open(keyPair.secretKey, box.seal(keyPair.publicKey, data, { version })), data);
        }
      });

      test('two seals of one plaintext differ (fresh encapsulation each time)', () => {
        assert.notDeepEqual(
          box.seal(keyPair.publicKey, plaintext, { version }),
          box.seal(keyPair.publicKey, plaintext, { version }),
        );
      });

      test('a wrong key gives wrong_key', () => {
        const other = box.generateKeyPair(version);
        assert.equal(
          reasonOf(() => box.open(other.secretKey, sealed, { associatedData })),
          'wrong_key',
        );
        const otherVersion = box.generateKeyPair(version === 1 ? 2 : 1);
        assert.equal(
          reasonOf(() => box.open(otherVersion.secretKey, sealed, { associatedData })),
          'wrong_key',
        );
      });

      test('a truncated box gives truncated, at every cut', () => {
        for (const cut of [0, 1, 20, 500, sealed.length - 17, sealed.length - 1]) {
          assert.equal(
            reasonOf(() => box.open(keyPair.secretKey, sealed.subarray(0, cut), { associatedData })),
            'truncated',
            `cut ${cut}`,
          );
        }
      });

      test('an unknown version gives unknown_version', () => {
        for (const unknown of [0, 3, 255]) {
          const modified = sealed.slice();
          modified[0] = unknown;
          assert.equal(
            reasonOf(() => box.open(keyPair.secretKey, modified, { associatedData })),
            'unknown_version',
          );
        }
      });

      test('other associated data, or appended bytes, give tampered', () => {
        assert.equal(
          reasonOf(() => box.open(keyPair.secretKey, sealed, { associatedData: utf8('conversation 8') })),
          'tampered',
        );
        const longer = new Uint8Array(sealed.length + 1);
        longer.set(sealed);
        assert.equal(
          reasonOf(() => box.open(keyPair.secretKey, longer, { associatedData })),
          'tampered',
        );
      });

      test('a flipped bit anywhere gives a typed error (tampered, or unknown_version in the version byte)', () => {
        fc.assert(
          fc.property(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), (bit) => {
            const modified = sealed.slice();
            modified[bit >> 3] = (modified[bit >> 3] as number) ^ (1 << (bit & 7));
            const reason = reasonOf(() => box.open(keyPair.secretKey, modified, { associatedData }));
            assert.equal(reason, bit < 8 ? 'unknown_version' : 'tampered', `bit ${bit}`);
          }),
          { numRuns: backend.name === 'node' ? 400 : 60 },
        );
      });
    });
  }
}

test('what the portable backend seals, the node backend opens, and back', () => {
  const node = createSealedBox(nodeBackend);
  const portable = createSealedBox(portableBackend);
  for (const version of [1, 2] as SealedBoxVersion[]) {
    const keyPair = node.generateKeyPair(version);
    const message = utf8(`cross-backend v${version}`);
    assert.deepEqual(
      node.open(keyPair.secretKey, portable.seal(keyPair.publicKey, message, { version })),
      message,
    );
    assert.deepEqual(
      portable.open(keyPair.secretKey, node.seal(keyPair.publicKey, message, { version })),
      message,
    );
  }
});

test('misuse at sealing time is an ArgumentError', () => {
  const keyPair = defaultSealedBox.generateKeyPair(2);
  assert.throws(() => defaultSealedBox.seal(keyPair.publicKey, utf8('x'), { version: 1 }), ArgumentError);
  assert.throws(
    () => defaultSealedBox.seal(keyPair.publicKey, utf8('x'), { version: 3 as SealedBoxVersion }),
    ArgumentError,
  );
  assert.throws(() => defaultSealedBox.generateKeyPair(7 as SealedBoxVersion), ArgumentError);
});
