// IETF MLS test vectors (mlswg/mls-implementations, read in place from ../shared/vectors/mls): every
// structure of messages.json decodes and re-encodes to the same bytes — the MLSMessages and the ratchet tree
// through the facade's codecs, the bare structures (which the facade never exposes) through the ts-mls codecs
// it relies on — and welcome.json's Welcomes decode, open with the given init key and carry a GroupInfo
// signed by the given signer, on each MLS crypto provider.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getCiphersuiteImpl } from 'ts-mls';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import { type CiphersuiteId, getCiphersuiteFromId } from 'ts-mls/crypto/ciphersuite.js';
import { type GroupInfo, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { decodeGroupSecrets, encodeGroupSecrets } from 'ts-mls/groupSecrets.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import * as proposals from 'ts-mls/proposal.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { fromHex, toHex } from '../../src/bytes.ts';
import { CodecError } from '../../src/errors.ts';
import { ciphersuiteName, decodeMessage, encodeMessage, type ReceivedMessage } from '../../src/mls/index.ts';
import { decodeExactly, decodeTree, encodeTree, libraryMessage } from '../../src/mls/wire.ts';
import { providers, readVectors, vectorsPath } from './helpers.ts';

type Messages = Record<string, string>;

/** The MLSMessage fields and what the facade must report for each. */
const WRAPPED: Record<string, Pick<ReceivedMessage, 'kind'> & { contentType?: string }> = {
  mls_welcome: { kind: 'welcome' },
  mls_group_info: { kind: 'group-info' },
  mls_key_package: { kind: 'key-package' },
  public_message_application: { kind: 'public-message', contentType: 'application' },
  public_message_proposal: { kind: 'public-message', contentType: 'proposal' },
  public_message_commit: { kind: 'public-message', contentType: 'commit' },
  private_message: { kind: 'private-message' },
};

type LibraryCodec = [
  (bytes: Uint8Array, offset: number) => [unknown, number] | undefined,
  (value: never) => Uint8Array,
];

const BARE: Record<string, LibraryCodec> = {
  group_secrets: [decodeGroupSecrets, encodeGroupSecrets],
  add_proposal: [proposals.decodeAdd, proposals.encodeAdd],
  update_proposal: [proposals.decodeUpdate, proposals.encodeUpdate],
  remove_proposal: [proposals.decodeRemove, proposals.encodeRemove],
  pre_shared_key_proposal: [proposals.decodePSK, proposals.encodePSK],
  re_init_proposal: [proposals.decodeReinit, proposals.encodeReinit],
  external_init_proposal: [proposals.decodeExternalInit, proposals.encodeExternalInit],
  group_context_extensions_proposal: [
    proposals.decodeGroupContextExtensions,
    proposals.encodeGroupContextExtensions,
  ],
  commit: [decodeCommit, encodeCommit],
};

const messages = readVectors<Messages[]>('messages.json');

describe('messages.json', () => {
  if (messages === undefined) {
    test('messages.json', (t) => t.skip(`MLS vectors not found at ${vectorsPath}`));
    return;
  }

  test(`every MLSMessage of ${messages.length} vectors round-trips through decodeMessage / encodeMessage`, () => {
    let count = 0;
    for (const vector of messages) {
      for (const [field, expected] of Object.entries(WRAPPED)) {
        const hex = vector[field];
        assert.ok(hex, field);
        const received = decodeMessage(fromHex(hex));
        assert.equal(received.kind, expected.kind, field);
        if ('contentType' in received)
          assert.equal(received.contentType, expected.contentType ?? received.contentType);
        assert.equal(toHex(encodeMessage(received)), hex, field);
        count++;
      }
    }
    assert.equal(count, messages.length * Object.keys(WRAPPED).length);
  });

  test('every ratchet tree round-trips through the facade’s tree codec', () => {
    for (const vector of messages) {
      const hex = vector.ratchet_tree;
      assert.ok(hex);
      assert.equal(toHex(encodeTree(decodeTree(fromHex(hex)))), hex);
    }
  });

  test('every bare structure round-trips through the ts-mls codecs the facade relies on', () => {
    for (const vector of messages) {
      for (const [field, [decoder, encoder]] of Object.entries(BARE)) {
        const hex = vector[field];
        assert.ok(hex, field);
        const value = decodeExactly(field, fromHex(hex), decoder);
        assert.equal(toHex(encoder(value as never)), hex, field);
      }
    }
  });

  test('a vector with a byte more or a byte less is refused with CodecError', () => {
    for (const vector of messages.slice(0, 20)) {
      for (const field of Object.keys(WRAPPED)) {
        const bytes = fromHex(vector[field] ?? '');
        assert.throws(
          () => decodeMessage(Uint8Array.of(...bytes, 0)),
          (e) => e instanceof CodecError && e.reason === 'trailing_bytes',
        );
        assert.throws(() => decodeMessage(bytes.subarray(0, bytes.length - 1)), CodecError);
      }
    }
  });
});

interface WelcomeVector {
  cipher_suite: number;
  init_priv: string;
  key_package: string;
  signer_pub: string;
  welcome: string;
}

const welcomes = readVectors<WelcomeVector[]>('welcome.json');

describe('welcome.json', () => {
  if (welcomes === undefined) {
    test('welcome.json', (t) => t.skip(`MLS vectors not found at ${vectorsPath}`));
    return;
  }
  for (const [providerName, provider] of providers) {
    for (const vector of welcomes) {
      const name = ciphersuiteName(vector.cipher_suite) ?? `suite ${vector.cipher_suite}`;
      test(`${name}, ${providerName} provider: the Welcome opens with the init key and its GroupInfo is signed by the signer`, async (t) => {
        const welcome = decodeMessage(fromHex(vector.welcome));
        const keyPackage = decodeMessage(fromHex(vector.key_package));
        assert.equal(toHex(encodeMessage(welcome)), vector.welcome);
        assert.equal(toHex(encodeMessage(keyPackage)), vector.key_package);
        let cs: Awaited<ReturnType<typeof getCiphersuiteImpl>>;
        try {
          cs = await getCiphersuiteImpl(getCiphersuiteFromId(vector.cipher_suite as CiphersuiteId), provider);
        } catch (error) {
          t.skip(
            `ciphersuite ${vector.cipher_suite} not supported by this installation of ts-mls: ${(error as Error).message}`,
          );
          return;
        }
        const w = libraryMessage(welcome);
        const kp = libraryMessage(keyPackage);
        assert.ok(w.wireformat === 'mls_welcome' && kp.wireformat === 'mls_key_package');
        const secrets = await decryptGroupSecrets(
          await cs.hpke.importPrivateKey(fromHex(vector.init_priv)),
          await makeKeyPackageRef(kp.keyPackage, cs.hash),
          w.welcome,
          cs.hpke,
        );
        assert.ok(secrets);
        const groupInfo: GroupInfo | undefined = await decryptGroupInfo(
          w.welcome,
          secrets.joinerSecret,
          new Uint8Array(cs.kdf.size),
          cs,
        );
        assert.ok(groupInfo);
        assert.equal(
          await verifyGroupInfoSignature(groupInfo, fromHex(vector.signer_pub), cs.signature),
          true,
        );
      });
    }
  }
});
