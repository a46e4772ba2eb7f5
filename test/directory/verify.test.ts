// The rules of verifyNetworkDocument: a document passes only with both an Ed25519 and an ML-DSA-65
// signature that verify under the pinned authority keys, for the caller's geometry, inside its validity
// window (with the stated clock-skew tolerance). Each signature broken or missing alone, another authority,
// half of another authority's keys, a stale or future document, and another geometry are each refused with
// their DirectoryError reason; documents signed on one crypto backend verify on the other.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthorityKeys } from '../../src/directory/authority-keys.ts';
import {
  DEFAULT_CLOCK_SKEW_MS,
  type DocumentSignature,
  decodeSignedNetworkDocument,
  encodeSignedNetworkDocument,
  signNetworkDocument,
  type VerifyDocumentOptions,
  verifyNetworkDocument,
} from '../../src/directory/document.ts';
import { DirectoryError, type DirectoryErrorReason } from '../../src/errors.ts';
import { Geometry } from '../../src/sphinx/index.ts';
import { nodeBackend, portableBackend } from '../support/backends.ts';
import { authorityKeys, documentContents, EPOCH_PERIOD_MS, geometry, makeNetwork } from './support.ts';

const keys = authorityKeys();
const contents = documentContents(makeNetwork());
const signed = signNetworkDocument(contents, keys, nodeBackend);
const options: VerifyDocumentOptions = {
  authorityKeys: keys.publicKeys,
  expectedGeometryHash: geometry.hash(),
  now: contents.validFrom + 1_000,
  backend: nodeBackend,
};

function refused(reason: DirectoryErrorReason) {
  return (error: unknown) => {
    assert.ok(error instanceof DirectoryError, `expected DirectoryError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    return true;
  };
}

/** The signed document with its signature list replaced. */
function withSignatures(
  change: (signatures: readonly DocumentSignature[]) => DocumentSignature[],
): Uint8Array {
  const { body, signatures } = decodeSignedNetworkDocument(signed);
  return encodeSignedNetworkDocument({ body, signatures: change(signatures) });
}

function flipped(signature: DocumentSignature): DocumentSignature {
  const copy = Uint8Array.from(signature.signature);
  copy[copy.length >> 1] = (copy[copy.length >> 1] as number) ^ 0x01;
  return { scheme: signature.scheme, signature: copy };
}

describe('verifyNetworkDocument', () => {
  test('accepts a well-signed current document and returns its contents', () => {
    const document = verifyNetworkDocument(signed, options);
    assert.equal(document.epoch, contents.epoch);
    assert.equal(document.nodes.length, contents.nodes.length);
    assert.deepEqual(document.parameters, contents.parameters);
  });

  test('documents signed on one backend verify on the other', () => {
    const portableSigned = signNetworkDocument(contents, keys, portableBackend);
    assert.equal(verifyNetworkDocument(portableSigned, options).epoch, contents.epoch);
    assert.equal(
      verifyNetworkDocument(signed, { ...options, backend: portableBackend }).epoch,
      contents.epoch,
    );
  });

  test('refuses an unsigned document and one that lacks either signature', () => {
    assert.throws(
      () =>
        verifyNetworkDocument(
          withSignatures(() => []),
          options,
        ),
      refused('unsigned'),
    );
    assert.throws(
      () =>
        verifyNetworkDocument(
          withSignatures((s) => s.filter((x) => x.scheme === 'ed25519')),
          options,
        ),
      refused('unsigned'),
    );
    assert.throws(
      () =>
        verifyNetworkDocument(
          withSignatures((s) => s.filter((x) => x.scheme === 'mldsa65')),
          options,
        ),
      refused('unsigned'),
    );
  });

  test('refuses the document when either signature alone is broken', () => {
    for (const scheme of ['ed25519', 'mldsa65'] as const) {
      const bytes = withSignatures((s) => s.map((x) => (x.scheme === scheme ? flipped(x) : x)));
      assert.throws(() => verifyNetworkDocument(bytes, options), refused('bad_signature'), scheme);
    }
    const truncated = withSignatures((s) =>
      s.map((x) => (x.scheme === 'mldsa65' ? { ...x, signature: x.signature.subarray(1) } : x)),
    );
    assert.throws(() => verifyNetworkDocument(truncated, options), refused('bad_signature'));
  });

  test('refuses a duplicated signature entry even when both copies are valid', () => {
    const bytes = withSignatures((s) => [...s, s[0] as DocumentSignature]);
    assert.throws(() => verifyNetworkDocument(bytes, options), refused('bad_signature'));
  });

  test('refuses an altered body under intact signatures', () => {
    const { body, signatures } = decodeSignedNetworkDocument(signed);
    const altered = Uint8Array.from(body);
    altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 0x80;
    const bytes = encodeSignedNetworkDocument({ body: altered, signatures });
    assert.throws(() => verifyNetworkDocument(bytes, options), refused('bad_signature'));
  });

  test('refuses another authority, and an authority with only one of the pinned keys', () => {
    const other = AuthorityKeys.generate(nodeBackend);
    const foreign = signNetworkDocument(contents, other, nodeBackend);
    assert.throws(() => verifyNetworkDocument(foreign, options), refused('bad_signature'));
    const sameEd25519 = new AuthorityKeys(keys.ed25519, other.mldsa65);
    assert.throws(
      () => verifyNetworkDocument(signNetworkDocument(contents, sameEd25519, nodeBackend), options),
      refused('bad_signature'),
    );
    const sameMlDsa = new AuthorityKeys(other.ed25519, keys.mldsa65);
    assert.throws(
      () => verifyNetworkDocument(signNetworkDocument(contents, sameMlDsa, nodeBackend), options),
      refused('bad_signature'),
    );
  });

  test('refuses stale and future documents, outside the clock-skew tolerance only', () => {
    const at = (now: number) => () => verifyNetworkDocument(signed, { ...options, now });
    assert.throws(at(contents.validUntil + DEFAULT_CLOCK_SKEW_MS), refused('expired'));
    assert.throws(at(contents.validUntil + 10 * EPOCH_PERIOD_MS), refused('expired'));
    assert.throws(at(contents.validFrom - DEFAULT_CLOCK_SKEW_MS - 1), refused('not_yet_valid'));
    assert.throws(at(contents.validFrom - EPOCH_PERIOD_MS), refused('not_yet_valid'));
    assert.doesNotThrow(at(contents.validUntil + DEFAULT_CLOCK_SKEW_MS - 1), 'just inside the tolerance');
    assert.doesNotThrow(at(contents.validFrom - DEFAULT_CLOCK_SKEW_MS), 'just inside the tolerance');
    assert.throws(
      () => verifyNetworkDocument(signed, { ...options, now: contents.validUntil, clockSkewMs: 0 }),
      refused('expired'),
    );
  });

  test('refuses a document for another geometry', () => {
    const other = Geometry.create({
      scheme: 'x25519',
      userForwardPayloadLength: 257,
      withSurb: true,
      nrHops: 5,
    });
    assert.throws(
      () => verifyNetworkDocument(signed, { ...options, expectedGeometryHash: other.hash() }),
      refused('wrong_geometry'),
    );
  });
});
