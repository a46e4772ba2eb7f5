// The vault: round trips on both backends and across them, file names that reveal nothing, a typed error
// and an unchanged directory for every refusal (wrong passphrase, tampered, moved or swapped records,
// unknown format, an Argon2id cost above the ceiling, refused before Argon2id runs), crash leftovers that are ignored, passphrase changes that rewrite only the header, the
// panic button, printed forms that never show a key or the passphrase, and any caller-supplied BlobStore
// (the browser's IndexedDB one) in place of a directory.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { format, inspect } from 'node:util';
import fc from 'fast-check';
import { concatBytes, toBase64Url, toHex, utf8 } from '../../src/bytes.ts';
import type { Argon2Parameters, CryptoBackend } from '../../src/crypto/backend.ts';
import type { BlobStore } from '../../src/crypto/vault/blob-store.ts';
import {
  DEFAULT_KDF_PARAMETERS,
  MAXIMUM_KDF_PARAMETERS,
  UNSAFE_TEST_KDF_PARAMETERS,
  VAULT_FORMAT_VERSION,
  Vault,
} from '../../src/crypto/vault.ts';
import { ArgumentError, VaultError, type VaultErrorReason } from '../../src/errors.ts';
import { backends, nodeBackend, portableBackend } from '../support/backends.ts';

const HEADER = 'vault.header';
const HEADER_LENGTH = 122;
const RECORD_FILE = /^[0-9a-f]{64}\.record$/;

let root = '';
let directories = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'umbra-vault-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A path inside the test's temporary root where no vault exists yet (the vault creates the directory). */
function freshDirectory(): string {
  directories += 1;
  return join(root, `vault-${directories}`);
}

/** Every file name and content hash in the directory, so a refusal can be shown to change nothing. */
async function snapshot(directory: string): Promise<string> {
  const entries = (await readdir(directory)).sort();
  const lines = await Promise.all(
    entries.map(
      async (entry) =>
        `${entry} ${createHash('sha256')
          .update(await readFile(join(directory, entry)))
          .digest('hex')}`,
    ),
  );
  return lines.join('\n');
}

async function reasonOf(promise: Promise<unknown>): Promise<VaultErrorReason> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof VaultError, `expected VaultError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('expected the vault to refuse');
}

async function recordFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((entry) => RECORD_FILE.test(entry));
}

/** Puts a new record and returns the path of the file it created. */
async function putNew(vault: Vault, directory: string, name: string, value: Uint8Array): Promise<string> {
  const before = new Set(await recordFiles(directory));
  await vault.put(name, value);
  const created = (await recordFiles(directory)).filter((entry) => !before.has(entry));
  assert.equal(created.length, 1);
  return join(directory, created[0] as string);
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = (copy[index] as number) ^ 1;
  return copy;
}

/**
 * A backend that keeps a copy of every key it derives or is handed as key material (the Argon2id output,
 * HKDF inputs and outputs) and a live reference to the vault's own key arrays, and counts Argon2id calls.
 */
function spyOn(base: CryptoBackend) {
  const copies: Uint8Array[] = [];
  const live: Uint8Array[] = [];
  const argon2Calls: Argon2Parameters[] = [];
  const backend: CryptoBackend = {
    ...base,
    async argon2id(password, salt, parameters) {
      argon2Calls.push({ ...parameters });
      const key = await base.argon2id(password, salt, parameters);
      copies.push(key.slice());
      return key;
    },
    hkdfSha256(ikm, salt, info, length) {
      const out = base.hkdfSha256(ikm, salt, info, length);
      copies.push(ikm.slice(), out.slice());
      live.push(ikm, out);
      return out;
    },
  };
  return { backend, copies, live, argon2Calls };
}

const fast = { unsafeKdfForTests: UNSAFE_TEST_KDF_PARAMETERS };

for (const backend of backends) {
  describe(`vault on the ${backend.name} backend`, () => {
    const options = { ...fast, backend };
    const passphrase = 'correct horse battery staple';
    const create = (directory: string) => Vault.create(directory, passphrase, options);
    const open = (directory: string, secret: string | Uint8Array = passphrase) =>
      Vault.open(directory, secret, { backend });

    test('stores, replaces, lists and deletes records, and keeps them across close and reopen', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const large = Uint8Array.from({ length: 100_000 }, (_, i) => i % 251);
      await vault.put('identity/ed25519', utf8('secret key bytes'));
      await vault.put('группа/😀', new Uint8Array(0));
      await vault.put('history', large);
      await vault.put('identity/ed25519', utf8('replaced'));
      assert.deepEqual(await vault.get('identity/ed25519'), utf8('replaced'));
      assert.deepEqual(await vault.get('группа/😀'), new Uint8Array(0));
      assert.equal(await vault.get('never stored'), undefined);
      assert.deepEqual(await vault.list(), ['history', 'identity/ed25519', 'группа/😀']);
      assert.equal(await vault.delete('history'), true);
      assert.equal(await vault.delete('history'), false);
      assert.equal(await vault.get('history'), undefined);
      assert.equal((await recordFiles(directory)).length, 2);
      await vault.close();

      const reopened = await open(directory);
      assert.deepEqual(await reopened.list(), ['identity/ed25519', 'группа/😀']);
      assert.deepEqual(await reopened.get('identity/ed25519'), utf8('replaced'));
      await reopened.close();
    });

    test('operations on one instance run in call order, even when not awaited one by one', async () => {
      const vault = await create(freshDirectory());
      const calls = [
        vault.put('counter', Uint8Array.of(1)),
        vault.put('counter', Uint8Array.of(2)),
        vault.get('counter'),
        vault.delete('counter'),
        vault.get('counter'),
        vault.put('counter', Uint8Array.of(3)),
      ];
      const results = await Promise.all(calls);
      assert.deepEqual(results[2], Uint8Array.of(2));
      assert.equal(results[3], true);
      assert.equal(results[4], undefined);
      assert.deepEqual(await vault.get('counter'), Uint8Array.of(3));
      await vault.close();
    });

    test('file names and contents reveal neither record names nor values', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const name = 'contact/alice@example.org';
      const value = utf8('Alice lives at 12 Rue de la Paix');
      await vault.put(name, value);
      const entries = (await readdir(directory)).sort();
      assert.equal(entries.length, 2);
      assert.equal(entries[1], HEADER);
      assert.match(entries[0] as string, RECORD_FILE);
      const everything = Buffer.concat(
        await Promise.all(entries.map((entry) => readFile(join(directory, entry)))),
      );
      for (const needle of [utf8(name), value, utf8('alice'), utf8(toHex(utf8(name)))]) {
        assert.equal(everything.indexOf(needle), -1);
      }
      await vault.close();
    });

    test('a second create in the same directory fails with already_exists and changes nothing', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      await vault.put('a', utf8('1'));
      const before = await snapshot(directory);
      assert.equal(await reasonOf(create(directory)), 'already_exists');
      assert.equal(await reasonOf(Vault.create(directory, 'another passphrase', options)), 'already_exists');
      assert.equal(await snapshot(directory), before);

      // Record files alone (a header lost or removed) still count: a new vault must not adopt them.
      await rm(join(directory, HEADER));
      assert.equal(await reasonOf(create(directory)), 'already_exists');
      await vault.close();
    });

    test('opening a directory without a vault fails with not_found', async () => {
      assert.equal(await reasonOf(open(freshDirectory())), 'not_found');
      const empty = freshDirectory();
      await mkdir(empty);
      assert.equal(await reasonOf(open(empty)), 'not_found');
    });

    test('a wrong passphrase fails with wrong_passphrase and changes nothing on disk', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      await vault.put('a', utf8('1'));
      await vault.close();
      const before = await snapshot(directory);
      for (const wrong of ['correct horse battery stapler', 'Correct horse battery staple', utf8('x')]) {
        assert.equal(await reasonOf(open(directory, wrong)), 'wrong_passphrase');
      }
      assert.equal(await snapshot(directory), before);
    });

    test('an altered header is refused with a typed error (never opened) and nothing changes', async () => {
      const directory = freshDirectory();
      await (await create(directory)).close();
      const headerPath = join(directory, HEADER);
      const header = new Uint8Array(await readFile(headerPath));
      assert.equal(header.length, HEADER_LENGTH);
      const expected = (index: number): VaultErrorReason[] => {
        if (index <= 8) return ['unsupported_format']; // magic and version
        if (index >= 25 && index < 34) return ['wrong_passphrase', 'tampered']; // Argon2id parameters
        return ['wrong_passphrase'];
      };
      const refuse = async (bytes: Uint8Array): Promise<VaultErrorReason> => {
        await writeFile(headerPath, bytes);
        const before = await snapshot(directory);
        const reason = await reasonOf(open(directory));
        assert.equal(await snapshot(directory), before);
        return reason;
      };
      // Every byte on node; on portable (noble's Argon2id is slower) the first and last byte of each field.
      const indices =
        backend.name === 'node'
          ? header.keys()
          : [0, 7, 8, 9, 24, 25, 28, 29, 32, 33, 34, 49, 50, 73, 74, 121];
      for (const index of indices) {
        const reason = await refuse(flipBit(header, index));
        assert.ok(expected(index).includes(reason), `byte ${index}: ${reason}`);
      }
      for (const length of [0, 5, 9, 60, HEADER_LENGTH - 1]) {
        assert.equal(await refuse(header.subarray(0, length)), 'tampered');
      }
      assert.equal(await refuse(concatBytes(header, Uint8Array.of(0))), 'tampered');
      assert.equal(await refuse(utf8('{"some": "other file"}')), 'unsupported_format');
    });

    test('an unknown version is unsupported_format; absurd Argon2id settings are refused unrun', async () => {
      const directory = freshDirectory();
      await (await create(directory)).close();
      const headerPath = join(directory, HEADER);
      const header = new Uint8Array(await readFile(headerPath));
      assert.equal(header[8], VAULT_FORMAT_VERSION);
      const future = header.slice();
      future[8] = VAULT_FORMAT_VERSION + 1;
      await writeFile(headerPath, future);
      assert.equal(await reasonOf(open(directory)), 'unsupported_format');

      const spy = spyOn(backend);
      const greedy = header.slice();
      new DataView(greedy.buffer).setUint32(25, 0xffff_ffff); // 4 TiB of memory
      await writeFile(headerPath, greedy);
      assert.equal(await reasonOf(Vault.open(directory, passphrase, { backend: spy.backend })), 'tampered');
      assert.equal(spy.argon2Calls.length, 0);
    });

    test('a truncated or bit-flipped record gives tampered, never garbage, and changes nothing', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const file = await putNew(vault, directory, 'k', utf8('a value of some length'));
      const original = new Uint8Array(await readFile(file));
      const variants = [
        ...Array.from({ length: original.length }, (_, index) => flipBit(original, index)),
        ...Array.from({ length: original.length }, (_, length) => original.subarray(0, length)),
        concatBytes(original, Uint8Array.of(0)),
      ];
      for (const variant of variants) {
        await writeFile(file, variant);
        const before = await snapshot(directory);
        assert.equal(await reasonOf(vault.get('k')), 'tampered');
        assert.equal(await reasonOf(vault.list()), 'tampered');
        assert.equal(await snapshot(directory), before);
      }
      await writeFile(file, original);
      assert.deepEqual(await vault.get('k'), utf8('a value of some length'));
      await vault.close();
    });

    test('a record moved to another file name fails with tampered', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const fileA = await putNew(vault, directory, 'a', utf8('value of a'));
      const fileB = await putNew(vault, directory, 'b', utf8('value of b'));
      await copyFile(fileA, fileB);
      assert.equal(await reasonOf(vault.get('b')), 'tampered');
      assert.deepEqual(await vault.get('a'), utf8('value of a'));

      await rm(fileB);
      await rename(fileA, join(directory, `${'0'.repeat(64)}.record`));
      assert.equal(await vault.get('a'), undefined);
      assert.equal(await reasonOf(vault.list()), 'tampered');
      await vault.close();
    });

    test('a record swapped in from another vault (same passphrase and name) gives tampered', async () => {
      const directoryA = freshDirectory();
      const directoryB = freshDirectory();
      const vaultA = await create(directoryA);
      const vaultB = await create(directoryB);
      const fileA = await putNew(vaultA, directoryA, 'k', utf8('from A'));
      const fileB = await putNew(vaultB, directoryB, 'k', utf8('from B'));
      await copyFile(fileA, fileB);
      assert.equal(await reasonOf(vaultB.get('k')), 'tampered');
      await rm(fileB);
      await copyFile(fileA, join(directoryB, basename(fileA)));
      assert.equal(await reasonOf(vaultB.list()), 'tampered');
      await Promise.all([vaultA.close(), vaultB.close()]);
    });

    test('leftovers of an interrupted write are ignored by open, get and list', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const file = await putNew(vault, directory, 'kept', utf8('committed value'));
      const record = new Uint8Array(await readFile(file));
      await vault.close();
      // What a crash between writing the temporary file and renaming it leaves behind.
      await writeFile(`${file}.0123456789abcdef.tmp`, record.subarray(0, 10));
      await writeFile(join(directory, `${'a'.repeat(64)}.record.fedcba9876543210.tmp`), new Uint8Array(0));
      const header = await readFile(join(directory, HEADER));
      await writeFile(join(directory, `${HEADER}.00000000000000ff.tmp`), header.subarray(0, 50));

      const reopened = await open(directory);
      assert.deepEqual(await reopened.get('kept'), utf8('committed value'));
      assert.deepEqual(await reopened.list(), ['kept']);
      await reopened.put('new', utf8('still works'));
      assert.deepEqual(await reopened.list(), ['kept', 'new']);
      await reopened.wipe();
      await assert.rejects(readdir(directory), { code: 'ENOENT' });
    });

    test('changePassphrase rewrites only the header; the old passphrase stops working', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      await vault.put('a', utf8('1'));
      await vault.put('b', utf8('2'));
      const recordsBefore = (await snapshot(directory))
        .split('\n')
        .filter((line) => !line.startsWith(HEADER));

      await vault.changePassphrase(passphrase, 'a new passphrase');
      const recordsAfter = (await snapshot(directory)).split('\n').filter((line) => !line.startsWith(HEADER));
      assert.deepEqual(recordsAfter, recordsBefore);
      assert.deepEqual(await vault.get('a'), utf8('1'));
      await vault.close();

      assert.equal(await reasonOf(open(directory)), 'wrong_passphrase');
      const reopened = await open(directory, 'a new passphrase');
      assert.deepEqual(await reopened.list(), ['a', 'b']);
      assert.deepEqual(reopened.kdfParameters, UNSAFE_TEST_KDF_PARAMETERS);
      await reopened.close();
    });

    test('changePassphrase with a wrong old passphrase gives wrong_passphrase, changes nothing', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      await vault.put('a', utf8('1'));
      const before = await snapshot(directory);
      assert.equal(await reasonOf(vault.changePassphrase('not it', 'a new passphrase')), 'wrong_passphrase');
      assert.equal(await snapshot(directory), before);
      assert.deepEqual(await vault.get('a'), utf8('1'));
      await vault.close();
      await (await open(directory)).close();
    });

    test('changePassphrase refuses a header that belongs to another vault', async () => {
      const directory = freshDirectory();
      const other = freshDirectory();
      const vault = await create(directory);
      await (await Vault.create(other, 'other passphrase', options)).close();
      await copyFile(join(other, HEADER), join(directory, HEADER));
      const before = await snapshot(directory);
      assert.equal(await reasonOf(vault.changePassphrase('other passphrase', 'mine now')), 'tampered');
      assert.equal(await snapshot(directory), before);
      await vault.close();
    });

    test('wipe overwrites each vault file with noise and deletes it; nothing opens it again', async () => {
      const directory = freshDirectory();
      const spy = spyOn(backend);
      const vault = await Vault.create(directory, passphrase, { ...fast, backend: spy.backend });
      await vault.put('a', utf8('first value'));
      await vault.put('b', utf8('second value'));
      // Hard links outside the vault see the same inode, so they show what wipe wrote before unlinking.
      const witnesses = join(root, `witnesses-${directories}`);
      await mkdir(witnesses);
      const originals = new Map<string, Uint8Array>();
      for (const entry of await readdir(directory)) {
        originals.set(entry, new Uint8Array(await readFile(join(directory, entry))));
        await link(join(directory, entry), join(witnesses, entry));
      }
      assert.equal(originals.size, 3);
      assert.ok(spy.live.length >= 3);

      await vault.wipe();
      assert.equal(vault.state, 'wiped');
      for (const [entry, original] of originals) {
        const after = new Uint8Array(await readFile(join(witnesses, entry)));
        assert.equal(after.length, original.length);
        assert.notDeepEqual(after, original);
        assert.ok(
          after.some((byte) => byte !== 0),
          'overwritten with random bytes, not zeros',
        );
      }
      await assert.rejects(readdir(directory), { code: 'ENOENT' });
      assert.equal(await reasonOf(open(directory)), 'not_found');
      for (const key of spy.live)
        assert.ok(
          key.every((byte) => byte === 0),
          'keys in memory are zeroed',
        );
      for (const call of [
        vault.get('a'),
        vault.put('c', utf8('3')),
        vault.delete('a'),
        vault.list(),
        vault.changePassphrase(passphrase, 'x'),
        vault.wipe(),
      ]) {
        assert.equal(await reasonOf(call), 'wiped');
      }
      await vault.close();
      assert.equal(vault.state, 'wiped');
    });

    test('wipe leaves files it did not create, and their directory', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      await vault.put('a', utf8('1'));
      await writeFile(join(directory, 'notes.txt'), 'not part of the vault');
      await vault.wipe();
      assert.deepEqual(await readdir(directory), ['notes.txt']);
      assert.equal(await reasonOf(open(directory)), 'not_found');
    });

    test('close waits for pending operations, zeroes the keys; later calls fail with closed', async () => {
      const directory = freshDirectory();
      const spy = spyOn(backend);
      const vault = await Vault.create(directory, passphrase, { ...fast, backend: spy.backend });
      const pending = vault.put('late', utf8('written before close'));
      await vault.close();
      await pending;
      await vault.close();
      assert.equal(vault.state, 'closed');
      for (const key of spy.live) assert.ok(key.every((byte) => byte === 0));
      for (const call of [vault.get('late'), vault.put('x', utf8('1')), vault.list(), vault.wipe()]) {
        assert.equal(await reasonOf(call), 'closed');
      }
      const reopened = await open(directory);
      assert.deepEqual(await reopened.get('late'), utf8('written before close'));
      await reopened.close();
    });

    test('string passphrases are NFKC-normalized; byte passphrases are used as given', async () => {
      const directory = freshDirectory();
      // U+212B ANGSTROM SIGN and the ligature U+FB01 normalize to Å and "fi".
      await (await Vault.create(directory, '\u212B \uFB01le', options)).close();
      await (await open(directory, '\u00C5 file')).close();
      await (await open(directory, 'A\u030A file')).close();
      await (await open(directory, utf8('\u00C5 file'))).close();
      assert.equal(await reasonOf(open(directory, utf8('\u212B \uFB01le'))), 'wrong_passphrase');

      const binary = freshDirectory();
      const key = Uint8Array.of(0, 255, 128, 7);
      await (await Vault.create(binary, key, options)).close();
      await (await open(binary, key.slice())).close();
      assert.deepEqual(key, Uint8Array.of(0, 255, 128, 7), 'the caller’s bytes are not wiped');
    });

    test('bad arguments throw ArgumentError', async () => {
      const directory = freshDirectory();
      const vault = await create(directory);
      const bad: Array<() => Promise<unknown>> = [
        () => Vault.create('', passphrase, options),
        () => Vault.create(42 as unknown as string, passphrase, options),
        () => Vault.create({ location: 'half a store' } as unknown as BlobStore, passphrase, options),
        () => Vault.open(null as unknown as string, passphrase, { backend }),
        () => Vault.create(freshDirectory(), '', options),
        () => Vault.create(freshDirectory(), new Uint8Array(0), options),
        () => Vault.create(freshDirectory(), '\uD800', options),
        () => Vault.create(freshDirectory(), 7 as unknown as string, options),
        () => Vault.create(freshDirectory(), passphrase, null as unknown as object),
        () => Vault.create(freshDirectory(), passphrase, { backend: {} as CryptoBackend }),
        () => Vault.open(directory, passphrase, { backend: 'node' as unknown as CryptoBackend }),
        () => vault.put('', utf8('1')),
        () => vault.put('\uDC00', utf8('1')),
        () => vault.put('x'.repeat(1025), utf8('1')),
        () => vault.put(3 as unknown as string, utf8('1')),
        () => vault.put('a', 'text' as unknown as Uint8Array),
        () => vault.get(undefined as unknown as string),
        () => vault.delete(''),
        () => vault.changePassphrase(passphrase, ''),
        () => vault.changePassphrase('', 'new one'),
      ];
      for (const call of bad) await assert.rejects(call(), ArgumentError);
      await vault.put('x'.repeat(1024), utf8('the longest name fits'));
      await vault.close();
    });

    test('Argon2id parameters: a floor for kdf, unsafeKdfForTests for tests, never both', async () => {
      const tooWeak = [
        { memoryKiB: 19_455, iterations: 4, parallelism: 1 },
        { memoryKiB: 19_456, iterations: 1, parallelism: 1 },
        UNSAFE_TEST_KDF_PARAMETERS,
      ];
      for (const kdf of tooWeak) {
        await assert.rejects(Vault.create(freshDirectory(), passphrase, { backend, kdf }), ArgumentError);
      }
      const invalid = [
        { memoryKiB: 64, iterations: 0, parallelism: 1 },
        { memoryKiB: 64, iterations: 1, parallelism: 256 },
        { memoryKiB: 7, iterations: 1, parallelism: 1 },
        { memoryKiB: 1.5, iterations: 1, parallelism: 1 },
      ];
      for (const unsafeKdfForTests of invalid) {
        await assert.rejects(
          Vault.create(freshDirectory(), passphrase, { backend, unsafeKdfForTests }),
          ArgumentError,
        );
      }
      await assert.rejects(
        Vault.create(freshDirectory(), passphrase, { ...options, kdf: DEFAULT_KDF_PARAMETERS }),
        ArgumentError,
      );

      // The floor itself is accepted, stored, and used on open; a stand-in Argon2id keeps this test fast.
      const floor = { memoryKiB: 19_456, iterations: 2, parallelism: 1 };
      const standIn = spyOn({
        ...backend,
        argon2id: async (password, salt, parameters) =>
          backend.hmacSha256(salt, concatBytes(password, utf8(JSON.stringify(parameters)))),
      });
      const directory = freshDirectory();
      await (await Vault.create(directory, passphrase, { backend: standIn.backend, kdf: floor })).close();
      const reopened = await Vault.open(directory, passphrase, { backend: standIn.backend });
      assert.deepEqual(reopened.kdfParameters, floor);
      assert.deepEqual(standIn.argon2Calls, [floor, floor]);

      // changePassphrase keeps the parameters unless given new ones.
      const stronger = { memoryKiB: 131_072, iterations: 4, parallelism: 2 };
      await reopened.changePassphrase(passphrase, 'second');
      assert.deepEqual(standIn.argon2Calls.at(-1), floor);
      await reopened.changePassphrase('second', 'third', { kdf: stronger });
      assert.deepEqual(standIn.argon2Calls.at(-1), stronger);
      await reopened.close();
      const upgraded = await Vault.open(directory, 'third', { backend: standIn.backend });
      assert.deepEqual(upgraded.kdfParameters, stronger);
      assert.deepEqual(standIn.argon2Calls.at(-1), stronger);
      await upgraded.close();
    });

    test('printing the vault shows no key and no passphrase', async () => {
      const spy = spyOn(backend);
      const secretPassphrase = 'hunter2-but-much-longer';
      const directory = freshDirectory();
      const vault = await Vault.create(directory, secretPassphrase, { ...fast, backend: spy.backend });
      await vault.put('a', utf8('1'));
      assert.ok(spy.copies.length >= 4, 'the spy saw the key-encryption key, the data key and the subkeys');
      const printed = [
        inspect(vault),
        inspect(vault, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
        format('%s %o %O %j', vault, vault, vault, vault),
        JSON.stringify(vault),
        JSON.stringify({ nested: [vault] }),
        String(vault),
        `${vault}`,
        Object.keys(vault).join(),
      ].join('\n');
      assert.match(printed, /Vault/);
      assert.ok(!printed.includes(secretPassphrase));
      for (const key of spy.copies) {
        for (const encoding of [toHex(key), Buffer.from(key).toString('base64'), toBase64Url(key)]) {
          assert.ok(!printed.includes(encoding.slice(0, 16)), 'no key material in printed form');
        }
        assert.ok(!printed.includes(key.join(',')));
      }
      const error = await Vault.open(directory, `${secretPassphrase}!`, { backend }).catch(
        (caught) => caught,
      );
      assert.ok(error instanceof VaultError);
      assert.ok(!inspect(error).includes(secretPassphrase));
      await vault.close();
    });

    test('random sequences of puts and deletes match a map, before and after reopening', async () => {
      const name = fc.constantFrom('a', 'b', 'c', 'ключ', '🔑');
      const operation = fc.oneof(
        fc.record({ kind: fc.constant('put' as const), name, value: fc.uint8Array({ maxLength: 64 }) }),
        fc.record({ kind: fc.constant('delete' as const), name }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { maxLength: 12 }), async (operations) => {
          const directory = freshDirectory();
          const vault = await create(directory);
          const model = new Map<string, Uint8Array>();
          for (const step of operations) {
            if (step.kind === 'put') {
              await vault.put(step.name, step.value);
              model.set(step.name, step.value);
            } else {
              assert.equal(await vault.delete(step.name), model.delete(step.name));
            }
          }
          await vault.close();
          const reopened = await open(directory);
          assert.deepEqual(await reopened.list(), [...model.keys()].sort());
          for (const [key, value] of model) assert.deepEqual(await reopened.get(key), value);
          await reopened.wipe();
        }),
        { numRuns: backend.name === 'node' ? 30 : 10 },
      );
    });
  });
}

test('a vault made on the default backend opens on the portable backend and back', async () => {
  const directory = freshDirectory();
  const made = await Vault.create(directory, 'shared passphrase', fast);
  await made.put('state', utf8('group epoch 7'));
  await made.close();
  const opened = await Vault.open(directory, 'shared passphrase', { backend: portableBackend });
  assert.deepEqual(await opened.get('state'), utf8('group epoch 7'));
  await opened.put('state', utf8('group epoch 8'));
  await opened.close();
  const again = await Vault.open(directory, 'shared passphrase', { backend: nodeBackend });
  assert.deepEqual(await again.get('state'), utf8('group epoch 8'));
  await again.close();
});

test('by default Argon2id runs with 64 MiB, t = 3, p = 1, stored in the header', async () => {
  assert.deepEqual(DEFAULT_KDF_PARAMETERS, { memoryKiB: 65_536, iterations: 3, parallelism: 1 });
  const directory = freshDirectory();
  const spy = spyOn(nodeBackend);
  await (await Vault.create(directory, 'default strength', { backend: spy.backend })).close();
  const header = new Uint8Array(await readFile(join(directory, HEADER)));
  const view = new DataView(header.buffer, header.byteOffset);
  assert.deepEqual([view.getUint32(25), view.getUint32(29), view.getUint8(33)], [65_536, 3, 1]);
  const reopened = await Vault.open(directory, 'default strength', { backend: spy.backend });
  assert.deepEqual(reopened.kdfParameters, DEFAULT_KDF_PARAMETERS);
  assert.deepEqual(spy.argon2Calls, [DEFAULT_KDF_PARAMETERS, DEFAULT_KDF_PARAMETERS]);
  await reopened.close();
});

test('Argon2id above MAXIMUM_KDF_PARAMETERS: a tampered header is refused unrun, and never written', async () => {
  // A stand-in Argon2id that records its calls: the header bytes are real, the test fast, and "unrun" shown.
  const standIn = spyOn({
    ...nodeBackend,
    argon2id: async (password, salt, parameters) =>
      nodeBackend.hmacSha256(salt, concatBytes(password, utf8(JSON.stringify(parameters)))),
  });
  const { memoryKiB: maxMemory, memoryTimeKiB: maxMemoryTime } = MAXIMUM_KDF_PARAMETERS;
  const directory = freshDirectory();
  await (
    await Vault.create(directory, 'p', { backend: standIn.backend, kdf: DEFAULT_KDF_PARAMETERS })
  ).close();
  const headerPath = join(directory, HEADER);
  const header = new Uint8Array(await readFile(headerPath));
  const view = new DataView(header.buffer, header.byteOffset);
  assert.deepEqual([view.getUint32(25), view.getUint32(29)], [65_536, 3]);

  // Single bit flips that the backends would run (memory under 4 GiB, passes under 65,536) but that cost far
  // more than any vault may: 2 GiB + 64 MiB of memory; 32,771 passes; 259 passes of 64 MiB.
  const flips: [index: number, mask: number][] = [
    [26, 0x20],
    [31, 0x80],
    [31, 0x01],
  ];
  for (const [index, mask] of flips) {
    const tampered = header.slice();
    tampered[index] = (tampered[index] as number) ^ mask;
    const tamperedView = new DataView(tampered.buffer);
    const memoryKiB = tamperedView.getUint32(25);
    const iterations = tamperedView.getUint32(29);
    assert.ok(memoryKiB > maxMemory || memoryKiB * iterations > maxMemoryTime, `flip ${index}/${mask}`);
    await writeFile(headerPath, tampered);
    const before = await snapshot(directory);
    const calls = standIn.argon2Calls.length;
    const error = await Vault.open(directory, 'p', { backend: standIn.backend }).catch((caught) => caught);
    assert.ok(error instanceof VaultError && error.reason === 'tampered', String(error));
    assert.match(error.message, /MAXIMUM_KDF_PARAMETERS/);
    assert.equal(standIn.argon2Calls.length, calls, `Argon2id ran for flip ${index}/${mask}`);
    assert.equal(await snapshot(directory), before);
  }

  // The ceiling itself is accepted, written and opened: one GiB at full memory-time, and many passes of less.
  const atCeiling = [
    { memoryKiB: maxMemory, iterations: maxMemoryTime / maxMemory, parallelism: 4 },
    { memoryKiB: DEFAULT_KDF_PARAMETERS.memoryKiB, iterations: maxMemoryTime / 65_536, parallelism: 1 },
  ];
  for (const kdf of atCeiling) {
    const ceiling = freshDirectory();
    await (await Vault.create(ceiling, 'p', { backend: standIn.backend, kdf })).close();
    const opened = await Vault.open(ceiling, 'p', { backend: standIn.backend });
    assert.deepEqual(opened.kdfParameters, kdf);
    await opened.changePassphrase('p', 'q');
    await opened.close();
  }

  // Above it, create and changePassphrase refuse before Argon2id runs or anything is written.
  const aboveCeiling = [
    { memoryKiB: maxMemory + 1, iterations: 2, parallelism: 1 },
    { memoryKiB: maxMemory, iterations: maxMemoryTime / maxMemory + 1, parallelism: 1 },
    { memoryKiB: 65_536, iterations: maxMemoryTime / 65_536 + 1, parallelism: 1 },
  ];
  await writeFile(headerPath, header);
  const reopened = await Vault.open(directory, 'p', { backend: standIn.backend });
  for (const kdf of aboveCeiling) {
    const calls = standIn.argon2Calls.length;
    const unused = freshDirectory();
    await assert.rejects(Vault.create(unused, 'p', { backend: standIn.backend, kdf }), ArgumentError);
    await assert.rejects(
      Vault.create(unused, 'p', { backend: standIn.backend, unsafeKdfForTests: kdf }),
      ArgumentError,
    );
    await assert.rejects(reopened.changePassphrase('p', 'q', { kdf }), ArgumentError);
    assert.equal(standIn.argon2Calls.length, calls);
    await assert.rejects(readdir(unused), { code: 'ENOENT' });
  }
  assert.deepEqual(reopened.kdfParameters, DEFAULT_KDF_PARAMETERS);
  await reopened.close();
});

/** A `BlobStore` in memory, as a browser's would be: the vault must need nothing else. */
class MemoryStore implements BlobStore {
  readonly location = 'memory:test';
  readonly blobs = new Map<string, Uint8Array>();
  read(name: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.blobs.get(name)?.slice());
  }
  write(name: string, data: Uint8Array): Promise<void> {
    this.blobs.set(name, data.slice());
    return Promise.resolve();
  }
  writeNew(name: string, data: Uint8Array): Promise<boolean> {
    if (this.blobs.has(name)) return Promise.resolve(false);
    this.blobs.set(name, data.slice());
    return Promise.resolve(true);
  }
  remove(name: string): Promise<boolean> {
    return Promise.resolve(this.blobs.delete(name));
  }
  list(): Promise<string[]> {
    return Promise.resolve([...this.blobs.keys()]);
  }
  destroy(names: readonly string[]): Promise<void> {
    for (const name of names) this.blobs.delete(name);
    return Promise.resolve();
  }
}

test('a vault lives in any BlobStore it is given, and only there', async () => {
  const store = new MemoryStore();
  const made = await Vault.create(store, 'in memory', fast);
  await made.put('client/identity', utf8('alice'));
  await made.close();
  assert.deepEqual([...store.blobs.keys()].filter((name) => name !== HEADER).length, 1);
  assert.equal(store.blobs.get(HEADER)?.length, HEADER_LENGTH);
  assert.equal(await reasonOf(Vault.create(store, 'in memory', fast)), 'already_exists');
  assert.equal(await reasonOf(Vault.open(store, 'not it')), 'wrong_passphrase');
  const opened = await Vault.open(store, 'in memory', { backend: portableBackend });
  assert.deepEqual(await opened.list(), ['client/identity']);
  assert.deepEqual(await opened.get('client/identity'), utf8('alice'));
  assert.match(inspect(opened), /memory:test/);
  await opened.wipe();
  assert.equal(store.blobs.size, 0);
  assert.equal(await reasonOf(Vault.open(new MemoryStore(), 'in memory')), 'not_found');
});
