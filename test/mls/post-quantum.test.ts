// The post-quantum option: the same group life in MLS_256_XWING_AES256GCM_SHA512_Ed25519, whose HPKE KEM is
// X-Wing. ts-mls loads X-Wing from its optional dependency @hpke/hybridkem-x-wing; without it the suite is
// reported unsupported and this test is skipped with that reason.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex, utf8 } from '../../src/bytes.ts';
import { ciphersuiteName, decodeMessage, Mls, POST_QUANTUM_CIPHERSUITE } from '../../src/mls/index.ts';
import { DirectoryAuthenticationService } from './helpers.ts';

test(`${POST_QUANTUM_CIPHERSUITE}: create, add, message, remove`, async (t) => {
  const directory = new DirectoryAuthenticationService();
  const mls = new Mls({ authenticationService: directory, defaultCiphersuite: POST_QUANTUM_CIPHERSUITE });
  if (!(await mls.supports(POST_QUANTUM_CIPHERSUITE))) {
    const why = await mls.generateKeyPackage({ identity: utf8('probe') }).catch(String);
    t.skip(`${POST_QUANTUM_CIPHERSUITE} is not available here: ${why}`);
    return;
  }
  const packages = await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => mls.generateKeyPackage({ identity: utf8(name) })),
  );
  const [alice, bob, carol] = packages;
  assert.ok(alice && bob && carol);
  for (const [index, name] of ['alice', 'bob', 'carol'].entries()) {
    const decoded = decodeMessage(packages[index]?.keyPackage ?? new Uint8Array());
    assert.equal(decoded.kind, 'key-package');
    if (decoded.kind !== 'key-package') return;
    assert.equal(decoded.ciphersuite, POST_QUANTUM_CIPHERSUITE);
    directory.bind(name, decoded.signaturePublicKey);
  }
  assert.equal(ciphersuiteName(83), POST_QUANTUM_CIPHERSUITE);

  const aliceGroup = await mls.createGroup({ keyPackage: alice });
  const add = await aliceGroup.commit({ add: [bob.keyPackage, carol.keyPackage] });
  if (add.kind !== 'staged' || !add.staged.welcome) throw new Error('add failed');
  await aliceGroup.merge(add.staged);
  const joins = await Promise.all(
    [bob, carol].map((kp) =>
      mls.joinGroup({ welcome: add.staged.welcome ?? new Uint8Array(), keyPackage: kp }),
    ),
  );
  const [bobJoin, carolJoin] = joins;
  if (bobJoin?.kind !== 'joined' || carolJoin?.kind !== 'joined') throw new Error('join failed');
  assert.equal(bobJoin.group.ciphersuite, POST_QUANTUM_CIPHERSUITE);
  assert.equal(toHex(bobJoin.group.epochAuthenticator), toHex(aliceGroup.epochAuthenticator));

  const message = await bobJoin.group.verify(await aliceGroup.encrypt(utf8('post-quantum hello')));
  assert.equal(
    message.kind === 'application' && new TextDecoder().decode(message.data),
    'post-quantum hello',
  );

  const removal = await aliceGroup.commit({
    remove: [{ signaturePublicKey: carolJoin.group.self.signaturePublicKey }],
  });
  if (removal.kind !== 'staged') throw new Error(removal.detail);
  const seen = await bobJoin.group.verify(removal.staged.commit);
  assert.equal(seen.kind, 'commit');
  if (seen.kind !== 'commit') return;
  await bobJoin.group.merge(seen.staged);
  await aliceGroup.merge(removal.staged);
  assert.equal(toHex(bobJoin.group.epochAuthenticator), toHex(aliceGroup.epochAuthenticator));
  const after = await carolJoin.group.verify(await aliceGroup.encrypt(utf8('carol is gone')));
  assert.equal(after.kind === 'rejected' && after.reason, 'wrong_epoch');
});
