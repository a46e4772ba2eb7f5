// Identities: a registration verifies only with both halves of the hybrid signature, only for the handle,
// key and time it names, and a signature made for another purpose (another context label) never passes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { concatBytes, cryptoBackend } from '../../src/crypto/index.ts';
import { CodecError, DeliveryError } from '../../src/errors.ts';
import {
  createRegistration,
  IdentityKeyPair,
  mailboxIdOf,
  REGISTRATION_CONTEXT,
  SIGNED_REQUEST_CONTEXT,
  verifyIdentitySignature,
  verifyRegistration,
} from '../../src/protocol/identity.ts';

const alice = IdentityKeyPair.generate();
const mallory = IdentityKeyPair.generate();

function refused(bytes: Uint8Array): boolean {
  try {
    verifyRegistration(bytes, 'alice');
    return false;
  } catch (error) {
    if (error instanceof CodecError || (error instanceof DeliveryError && error.reason === 'bad_signature')) {
      return true;
    }
    throw error;
  }
}

describe('identities and registrations', () => {
  test('a registration verifies and says what it binds', async () => {
    const bytes = await createRegistration(alice, 'alice', 1234);
    const registration = verifyRegistration(bytes, 'alice');
    assert.equal(registration.handle, 'alice');
    assert.equal(registration.signedAt, 1234);
    assert.deepEqual(registration.identityKey, alice.publicKey);
  });

  test('changing any byte of a registration makes it fail', async () => {
    const bytes = await createRegistration(alice, 'alice', 1234);
    // The start and end of each key, the timestamp, both signature halves.
    const positions = [0, 31, 32, 100, 1983, 1984, 1991, 1992, 2000, 2055, 2056, 2100, bytes.length - 1];
    for (const position of positions) {
      const tampered = bytes.slice();
      tampered[position] = (tampered[position] ?? 0) ^ 1;
      assert.ok(refused(tampered), `byte ${position}`);
    }
  });

  test('a registration verifies for its own handle only', async () => {
    const bytes = await createRegistration(alice, 'alice', 1234);
    assert.throws(() => verifyRegistration(bytes, 'alicf'), { name: 'DeliveryError' });
    assert.throws(() => verifyRegistration(bytes, ''), CodecError);
    assert.ok(!Buffer.from(bytes).includes(Buffer.from('alice')), 'the stored bytes do not carry the handle');
  });

  test('a registration naming another key than the one that signed fails', async () => {
    const forged = await createRegistration(
      { publicKey: alice.publicKey, sign: (message) => mallory.sign(message) },
      'alice',
      1,
    );
    assert.ok(refused(forged));
  });

  test('both halves of the hybrid signature are required', () => {
    const message = concatBytes(REGISTRATION_CONTEXT, new Uint8Array([1, 2, 3]));
    const good = alice.sign(message);
    assert.ok(verifyIdentitySignature(alice.publicKey, message, good));
    const otherMessage = concatBytes(REGISTRATION_CONTEXT, new Uint8Array([4]));
    const bad = alice.sign(otherMessage);
    const split = cryptoBackend.ed25519.signatureLength;
    const classicalOnly = concatBytes(good.subarray(0, split), bad.subarray(split));
    const postQuantumOnly = concatBytes(bad.subarray(0, split), good.subarray(split));
    assert.equal(verifyIdentitySignature(alice.publicKey, message, classicalOnly), false);
    assert.equal(verifyIdentitySignature(alice.publicKey, message, postQuantumOnly), false);
    assert.equal(verifyIdentitySignature(alice.publicKey, message, good.subarray(1)), false);
  });

  test('a signature under another context label does not verify as a registration', () => {
    const body = new Uint8Array([9, 9]);
    const signature = alice.sign(concatBytes(SIGNED_REQUEST_CONTEXT, body));
    assert.equal(
      verifyIdentitySignature(alice.publicKey, concatBytes(REGISTRATION_CONTEXT, body), signature),
      false,
    );
  });

  test('an identity rebuilt from its seeds has the same key; printing it shows no secret', () => {
    const copy = IdentityKeyPair.fromSeeds(alice.ed25519.secretKey, alice.mldsa65.secretKey);
    assert.deepEqual(copy.publicKey, alice.publicKey);
    assert.equal(JSON.stringify(alice).includes('secretKey'), false);
  });

  test('mailbox IDs are a one-way function of the secret', () => {
    const secret = new Uint8Array(32).fill(3);
    const id = mailboxIdOf(secret);
    assert.equal(id.length, 32);
    assert.deepEqual(mailboxIdOf(secret), id);
    assert.notDeepEqual(id, secret);
    assert.notDeepEqual(mailboxIdOf(new Uint8Array(32).fill(4)), id);
    assert.throws(() => mailboxIdOf(new Uint8Array(31)), { name: 'ArgumentError' });
  });
});
