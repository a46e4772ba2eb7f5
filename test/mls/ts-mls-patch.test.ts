// umbra's patch of ts-mls (patches/ts-mls+1.6.4.patch, applied at install by patch-package; docs/mls.md
// says what it changes and why). This test fails when the upstream code the patch was written against
// changes (another ts-mls version, or other bytes in any file the patch touches), when the patch is not
// applied, and when a patched function computes anything other than upstream's: the unpatched library is
// installed beside it as `ts-mls-upstream` (npm:ts-mls@1.6.4), and both run on the same inputs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultLifetime,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type Proposal,
  type RatchetTree,
} from 'ts-mls';
import { expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { consumeRatchet, createSecretTree, ratchetToGeneration } from 'ts-mls/secretTree.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { enumNumberToKey } from 'ts-mls/util/enumHelpers.js';
import { expandWithLabel as upstreamExpandWithLabel } from 'ts-mls-upstream/crypto/kdf.js';
import { encodeRatchetTree as upstreamEncodeRatchetTree } from 'ts-mls-upstream/ratchetTree.js';
import {
  consumeRatchet as upstreamConsumeRatchet,
  createSecretTree as upstreamCreateSecretTree,
  ratchetToGeneration as upstreamRatchetToGeneration,
} from 'ts-mls-upstream/secretTree.js';
import { treeHashRoot as upstreamTreeHashRoot } from 'ts-mls-upstream/treeHash.js';
import { enumNumberToKey as upstreamEnumNumberToKey } from 'ts-mls-upstream/util/enumHelpers.js';
import { toHex, utf8 } from '../../src/bytes.ts';
import { randomBytes } from '../../src/crypto/random.ts';

const root = new URL('../../', import.meta.url);
const path = (relative: string) => fileURLToPath(new URL(relative, root));

/** SHA-256 of each file the patch touches, as ts-mls 1.6.4 ships it. */
const UPSTREAM_SHA256: Record<string, string> = {
  'crypto/kdf.js': '3f3059ee090bf5de9e582856759089565ca4e9e9e0221c0677352ecb1fa0c3cb',
  'ratchetTree.js': '669956ceac1962bdd2bf74c296f9f93b37ba3397949f45c95b9c3036550cdf5c',
  'secretTree.js': '00faf2bf2892a70591f99cb520f54c1f1c257ad4bc09f9b72009883573854bc8',
  'treeHash.js': '722662a03c9fa03fb3038457a5a876c3c42249672a49dda78ea40d4c17df6f21',
  'util/enumHelpers.js': 'e470653ffc284e8ce2ae6ee561bc4c0b4a2d1cea808a21a61a519265996319fb',
};
const PATCH_VERSION = '1.6.4';

const version = (pkg: string) =>
  (JSON.parse(readFileSync(path(`node_modules/${pkg}/package.json`), 'utf8')) as { version: string }).version;

test('the patch is written against the installed ts-mls, whose patched files are unchanged upstream', () => {
  const patches = readdirSync(path('patches')).filter((file) => file.startsWith('ts-mls+'));
  assert.deepEqual(patches, [`ts-mls+${PATCH_VERSION}.patch`]);
  assert.equal(version('ts-mls'), PATCH_VERSION);
  assert.equal(version('ts-mls-upstream'), PATCH_VERSION);
  const patch = readFileSync(path(`patches/${patches[0]}`), 'utf8');
  const touched = [...patch.matchAll(/^diff --git a\/node_modules\/ts-mls\/dist\/src\/(\S+) /gm)].map(
    (match) => match[1],
  );
  assert.deepEqual(touched.sort(), Object.keys(UPSTREAM_SHA256).sort());
  for (const [file, sha256] of Object.entries(UPSTREAM_SHA256)) {
    const upstream = readFileSync(path(`node_modules/ts-mls-upstream/dist/src/${file}`));
    assert.equal(createHash('sha256').update(upstream).digest('hex'), sha256, `upstream ${file} changed`);
    const installed = readFileSync(path(`node_modules/ts-mls/dist/src/${file}`), 'utf8');
    assert.match(installed, /umbra patch \(patches\/ts-mls\+1\.6\.4\.patch\)/, `${file} is not patched`);
  }
});

const cs = await getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));

test('enum decoding gives upstream’s answers, for known and unknown values', () => {
  const enums: Record<string, number>[] = [{ a: 1, b: 2, c: 3 }, { only: 0 }, { x: 7, y: 7 }, {}];
  for (const values of enums) {
    const patched = enumNumberToKey(values);
    const upstream = upstreamEnumNumberToKey(values);
    for (const n of [-1, 0, 1, 2, 3, 4, 7, 8, 65535]) {
      assert.equal(patched(n), upstream(n), `${JSON.stringify(values)}[${n}]`);
      assert.equal(enumNumberToKey(values)(n), upstream(n), 'a second decoder of the same enum');
    }
  }
});

test('ExpandWithLabel gives upstream’s bytes', async () => {
  for (const [label, context, length] of [
    ['tree', utf8('left'), 32],
    ['application', new Uint8Array(0), 32],
    ['key', randomBytes(4), 16],
    ['a label of some length'.repeat(4), randomBytes(300), 100],
  ] as const) {
    const secret = randomBytes(32);
    assert.equal(
      toHex(await expandWithLabel(secret, label, context, length, cs.kdf)),
      toHex(await upstreamExpandWithLabel(secret, label, context, length, cs.kdf)),
    );
  }
});

test('the secret tree, derived on demand, gives upstream’s keys and nonces, and consumes what it derives from', async () => {
  const config = { maximumForwardRatchetSteps: 200, retainKeysForGenerations: 10, retainKeysForEpochs: 2 };
  for (const leafWidth of [1, 2, 5, 8, 13]) {
    const encryptionSecret = randomBytes(32);
    let upstreamTree = await upstreamCreateSecretTree(leafWidth, encryptionSecret, cs.kdf);
    let tree = await createSecretTree(leafWidth, encryptionSecret, cs.kdf);
    assert.equal(tree.length, upstreamTree.length);
    // Leaves in an order that leaves siblings waiting, for both content types and a ratchet several steps on.
    const leaves = Array.from({ length: leafWidth }, (_, i) => (i * 5) % leafWidth);
    for (const [step, leafIndex] of leaves.entries()) {
      const contentType = step % 2 === 0 ? 'application' : 'commit';
      const reuseGuard = randomBytes(4) as Uint8Array & { length: 4 };
      const senderData = { leafIndex, generation: step % 3, reuseGuard };
      const patched = await ratchetToGeneration(tree, senderData, contentType, config, cs);
      const upstream = await upstreamRatchetToGeneration(upstreamTree, senderData, contentType, config, cs);
      assert.equal(toHex(patched.key), toHex(upstream.key), `leaf ${leafIndex} key`);
      assert.equal(toHex(patched.nonce), toHex(upstream.nonce), `leaf ${leafIndex} nonce`);
      tree = patched.newTree;
      upstreamTree = upstream.newTree;
    }
    const sent = await consumeRatchet(tree, 0, 'application', cs);
    const expected = await upstreamConsumeRatchet(upstreamTree, 0, 'application', cs);
    assert.equal(sent.generation, expected.generation);
    assert.equal(toHex(sent.key), toHex(expected.key));
    if (leafWidth === 2 || leafWidth === 8) {
      // Every leaf of the full tree was derived, so no parent keeps a tree secret.
      tree.forEach((node, index) => {
        if (index % 2 === 1) assert.equal(node.handshake.secret.length + node.application.secret.length, 0);
      });
    }
  }
});

test('tree hashes and encodings are upstream’s, also after leaves move or change and parents change (the caches)', async () => {
  const member = (name: string) =>
    generateKeyPackage(
      { credentialType: 'basic', identity: utf8(name) },
      defaultCapabilities(),
      defaultLifetime,
      [],
      cs,
    );
  const creator = await member('m0');
  const others = await Promise.all(Array.from({ length: 6 }, (_, i) => member(`m${i + 1}`)));
  const group = await createGroup(utf8('patch test'), creator.publicPackage, creator.privatePackage, [], cs);
  const adds: Proposal[] = others.map((o) => ({ proposalType: 'add', add: { keyPackage: o.publicPackage } }));
  const { newState } = await createCommit({ state: group, cipherSuite: cs }, { extraProposals: adds });
  const tree: RatchetTree = newState.ratchetTree;
  const expectSame = async (candidate: RatchetTree, what: string) => {
    assert.equal(
      toHex(await treeHashRoot(candidate, cs.hash)),
      toHex(await upstreamTreeHashRoot(candidate, cs.hash)),
      what,
    );
    assert.equal(toHex(encodeRatchetTree(candidate)), toHex(upstreamEncodeRatchetTree(candidate)), what);
  };
  await expectSame(tree, 'first hash');
  await expectSame(tree, 'second hash, from the cache');
  const moved = tree.slice();
  moved[2] = tree[4];
  moved[4] = tree[2];
  await expectSame(moved, 'two leaves swapped');
  const blanked = tree.slice();
  blanked[6] = undefined;
  await expectSame(blanked, 'a leaf blanked');
  const first = others[3];
  assert.ok(first !== undefined);
  const replaced = tree.slice();
  replaced[2] = { nodeType: 'leaf', leaf: first.publicPackage.leafNode };
  await expectSame(replaced, 'a leaf replaced by another object');
  // An UpdatePath gives the committer's path new parent nodes; then one of them is blanked again.
  const updated = (await createCommit({ state: newState, cipherSuite: cs }, {})).newState.ratchetTree;
  await expectSame(updated, 'parents set by an UpdatePath');
  const rootIndex = (updated.length - 1) / 2;
  assert.equal(updated[rootIndex]?.nodeType, 'parent');
  const blankedParent = updated.slice();
  blankedParent[rootIndex] = undefined;
  await expectSame(blankedParent, 'the root blanked');
  assert.notEqual(
    toHex(await treeHashRoot(replaced, cs.hash)),
    toHex(await treeHashRoot(tree, cs.hash)),
    'a changed tree hashes differently',
  );
});
