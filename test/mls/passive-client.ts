// The IETF passive-client scenarios run through the facade, once on each MLS crypto provider: join from the vector's Welcome with its
// KeyPackage and private keys, then verify every proposal and verify-and-merge every commit, checking the
// epoch authenticator after the join and after each epoch. Suites this installation of ts-mls cannot load
// are skipped, each with its reason, and counted; so are the wire formats of the messages followed (the
// vectors' proposals and commits are PublicMessages made by another implementation).
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import type { CryptoProvider } from 'ts-mls';
import { fromHex, toHex } from '../../src/bytes.ts';
import {
  ciphersuiteName,
  decodeMessage,
  KeyPackageSecrets,
  Mls,
  type MlsCiphersuiteName,
} from '../../src/mls/index.ts';
import { acceptAllForVectors, providers, readVectors, vectorsPath } from './helpers.ts';

interface PassiveClientVector {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

/**
 * Runs every vector of `file`. `clock` is a time inside the lifetimes the vector generator stamped on its
 * KeyPackages, so that the facade's receive-side lifetime checks stay on.
 */
export function passiveClientSuite(file: string, clock: Date): void {
  for (const [name, provider] of providers) providerSuite(file, clock, name, provider);
}

function providerSuite(file: string, clock: Date, providerName: string, provider: CryptoProvider): void {
  const vectors = readVectors<PassiveClientVector[]>(file);
  describe(`${file}, ${providerName} provider`, () => {
    if (vectors === undefined) {
      test(file, (t) => t.skip(`MLS vectors not found at ${vectorsPath}`));
      return;
    }
    const skipped = new Map<string, number>();
    const wireFormats = new Map<string, number>();
    let passed = 0;
    let epochs = 0;

    vectors.forEach((vector, index) => {
      const suite = ciphersuiteName(vector.cipher_suite);
      test(`#${index} ${suite ?? vector.cipher_suite}: ${vector.epochs.length} epochs`, async (t) => {
        const mls = new Mls({
          authenticationService: acceptAllForVectors,
          defaultCiphersuite: suite as MlsCiphersuiteName,
          cryptoProvider: provider,
        });
        if (suite === undefined || !(await mls.supports(suite))) {
          const why = suite && (await mls.generateKeyPackage({ identity: new Uint8Array(1) }).catch(String));
          const reason = `ciphersuite ${vector.cipher_suite} unsupported here: ${why}`;
          skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
          t.skip(reason);
          return;
        }
        mock.timers.enable({ apis: ['Date'], now: clock });
        try {
          await runVector(mls, vector, wireFormats);
          passed++;
          epochs += vector.epochs.length;
        } finally {
          mock.timers.reset();
        }
      });
    });

    test('summary', (t) => {
      for (const [reason, count] of skipped) t.diagnostic(`skipped ${count}: ${reason}`);
      t.diagnostic(`passed ${passed} of ${vectors.length}, following ${epochs} epochs`);
      for (const [format, count] of wireFormats) t.diagnostic(`verified ${count}: ${format}`);
      assert.equal(passed + [...skipped.values()].reduce((a, b) => a + b, 0), vectors.length);
    });
  });
}

/** Counts what a message is on the wire: its format, content type and sender type. */
function countWireFormat(bytes: Uint8Array, counts: Map<string, number>): void {
  const received = decodeMessage(bytes);
  const key =
    received.kind === 'public-message'
      ? `public-message ${received.contentType} from ${received.senderType}`
      : received.kind === 'private-message'
        ? `private-message ${received.contentType}`
        : received.kind;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

async function runVector(
  mls: Mls,
  vector: PassiveClientVector,
  wireFormats: Map<string, number>,
): Promise<void> {
  const joined = await mls.joinGroup({
    welcome: fromHex(vector.welcome),
    keyPackage: {
      keyPackage: fromHex(vector.key_package),
      secrets: new KeyPackageSecrets({
        initPrivateKey: fromHex(vector.init_priv),
        hpkePrivateKey: fromHex(vector.encryption_priv),
        signaturePrivateKey: fromHex(vector.signature_priv),
      }),
    },
    ...(vector.ratchet_tree === null ? {} : { ratchetTree: fromHex(vector.ratchet_tree) }),
    externalPsks: vector.external_psks.map(({ psk_id, psk }) => ({
      id: fromHex(psk_id),
      secret: fromHex(psk),
    })),
  });
  assert.equal(joined.kind, 'joined', joined.kind === 'rejected' ? `${joined.reason}: ${joined.detail}` : '');
  if (joined.kind !== 'joined') return;
  const group = joined.group;
  assert.equal(toHex(group.epochAuthenticator), vector.initial_epoch_authenticator);

  for (const [number, epoch] of vector.epochs.entries()) {
    for (const proposal of epoch.proposals) {
      countWireFormat(fromHex(proposal), wireFormats);
      const result = await group.verify(fromHex(proposal));
      assert.equal(
        result.kind,
        'proposal',
        result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '',
      );
    }
    countWireFormat(fromHex(epoch.commit), wireFormats);
    const result = await group.verify(fromHex(epoch.commit));
    assert.equal(
      result.kind,
      'commit',
      result.kind === 'rejected' ? `${result.reason}: ${result.detail}` : '',
    );
    if (result.kind !== 'commit') return;
    assert.equal((await group.merge(result.staged)).kind, 'merged');
    assert.equal(toHex(group.epochAuthenticator), epoch.epoch_authenticator, `epoch ${number}`);
  }
}
