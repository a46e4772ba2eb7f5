// Hostile bytes at the facade's doors: decoding an MLSMessage, restoring a group and reading KeyPackage
// secrets fail only with CodecError, whatever the input; a group refuses messages that are not for it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { utf8 } from '../../src/bytes.ts';
import { CodecError } from '../../src/errors.ts';
import { decodeMessage, KeyPackageSecrets, Mls } from '../../src/mls/index.ts';
import { DirectoryAuthenticationService, member } from './helpers.ts';

const directory = new DirectoryAuthenticationService();
const alice = await member('alice', directory);
const group = await alice.mls.createGroup({ keyPackage: alice.keyPackage });
const application = await group.encrypt(utf8('hello'));
const samples = [alice.keyPackage.keyPackage, application];

function onlyCodecErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof CodecError, `unexpected ${String(error)}`);
  }
}

test('decodeMessage throws nothing but CodecError on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => onlyCodecErrors(() => decodeMessage(bytes))),
    { numRuns: 2000 },
  );
});

test('decodeMessage throws nothing but CodecError on mutated and truncated real messages', () => {
  for (const sample of samples) {
    for (let length = 0; length < sample.length; length++) {
      assert.throws(() => decodeMessage(sample.subarray(0, length)), CodecError);
    }
    fc.assert(
      fc.property(fc.nat(sample.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
        const mutated = Uint8Array.from(sample);
        mutated[index] = (mutated[index] ?? 0) ^ flip;
        onlyCodecErrors(() => decodeMessage(mutated));
      }),
      { numRuns: 500 },
    );
  }
});

test('restoring a group from damaged bytes throws CodecError', async () => {
  const saved = group.save();
  const mls = new Mls({ authenticationService: directory });
  for (const damaged of [
    saved.subarray(0, saved.length - 1),
    Uint8Array.of(...saved, 0),
    Uint8Array.of(2, ...saved.subarray(1)),
  ]) {
    await assert.rejects(mls.restoreGroup(damaged), CodecError);
  }
  assert.equal((await mls.restoreGroup(saved)).epoch, group.epoch);
});

test('KeyPackage secrets round-trip through their vault encoding and never print', () => {
  const encoded = alice.keyPackage.secrets.encode();
  const decoded = KeyPackageSecrets.decode(encoded);
  assert.deepEqual(decoded.encode(), encoded);
  assert.throws(() => KeyPackageSecrets.decode(encoded.subarray(1)), CodecError);
  assert.match(String(decoded), /redacted/);
  assert.doesNotMatch(JSON.stringify(decoded), /initPrivateKey/);
});

test('a group refuses messages that are not for it, with the reason', async () => {
  const other = await alice.mls.createGroup({ keyPackage: (await member('alice2', directory)).keyPackage });
  const wrongGroup = await group.verify(await other.encrypt(utf8('elsewhere')));
  assert.equal(wrongGroup.kind === 'rejected' && wrongGroup.reason, 'wrong_group');
  const notGroup = await group.verify(alice.keyPackage.keyPackage);
  assert.equal(notGroup.kind === 'rejected' && notGroup.reason, 'not_a_group_message');
  await assert.rejects(group.verify(Uint8Array.of(0, 1, 2)), CodecError);
});
