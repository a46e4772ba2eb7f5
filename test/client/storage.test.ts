// The SDK's storage seam: `vaultStorage` opens the vault in whatever BlobStore the app passes (creating it the
// first time, refusing a wrong passphrase afterwards), and `indexedDbStorage` refuses a nameless database
// before touching IndexedDB (the page's IndexedDB itself is exercised by test/browser/).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { utf8 } from '../../src/bytes.ts';
import { indexedDbStorage, vaultStorage } from '../../src/client/index.ts';
import { DirectoryStore } from '../../src/crypto/vault/directory-store.ts';
import { UNSAFE_TEST_KDF_PARAMETERS } from '../../src/crypto/vault.ts';
import { ArgumentError, VaultError } from '../../src/errors.ts';

test('vaultStorage creates the vault in the given store, then reopens it with the same passphrase only', async () => {
  const root = await mkdtemp(join(tmpdir(), 'umbra-client-storage-'));
  try {
    const store = new DirectoryStore(join(root, 'vault'));
    const storage = vaultStorage(store, { unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS });
    const first = await storage.open('open sesame');
    await first.put('client/identity', utf8('alice'));
    await first.close();
    assert.ok((await readdir(store.location)).includes('vault.header'));
    await assert.rejects(
      storage.open('not it'),
      (error) => error instanceof VaultError && error.reason === 'wrong_passphrase',
    );
    const again = await storage.open('open sesame');
    assert.deepEqual(await again.get('client/identity'), utf8('alice'));
    await again.close();
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('indexedDbStorage needs a database name', () => {
  assert.throws(() => indexedDbStorage(''), ArgumentError);
});
