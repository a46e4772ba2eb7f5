// MLS group operations as the client SDK performs them (src/mls facade: its authentication service, padding,
// outer seal and UpdatePath checks) beside raw ts-mls 1.6.4 driven through its public API with its defaults,
// in the same run, for groups of N members: create (N − 1 adds in one commit), add one, remove one, update
// (empty commit), and a 1 KiB application message; with the sizes of what goes on the wire. Reports the ratio
// to the seeds' budget (50 ms per message, 150 ms per group operation at 100 members).
//
//   npx node bench/run.ts mls [sizes...]      (default: 2 10 100 500 1000)
import * as raw from 'ts-mls';
import { constantTimeEqual, utf8 } from '../src/crypto/bytes.ts';
import type { AuthenticationService, MlsCredential, StagedCommit, Verified } from '../src/mls/index.ts';
import { decodeMessage, type Group, Mls, type OuterKind } from '../src/mls/index.ts';
import { machine, pairedMedians, table, time, writeResult } from './lib.ts';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const MESSAGE = new Uint8Array(1024).fill(7);
const MESSAGE_BUDGET_MS = 50;
const OPERATION_BUDGET_MS = 150;

interface Timings {
  readonly create: number;
  readonly addCreate: number;
  readonly addProcess: number;
  readonly removeCreate: number;
  readonly removeProcess: number;
  readonly updateCreate: number;
  readonly updateProcess: number;
  readonly encrypt: number;
  readonly decrypt: number;
  readonly welcomeBytes: number;
  readonly updateBytes: number;
  readonly messageBytes: number;
}

/** The client's authentication service once its handle → key cache is warm: a map lookup per credential. */
class KnownKeys implements AuthenticationService {
  readonly #keys = new Map<string, Uint8Array>();

  bind(handle: string, key: Uint8Array): void {
    this.#keys.set(handle, key);
  }

  async validateCredential(credential: MlsCredential, signaturePublicKey: Uint8Array): Promise<boolean> {
    if (credential.kind !== 'basic') return false;
    const bound = this.#keys.get(new TextDecoder().decode(credential.identity));
    return bound !== undefined && constantTimeEqual(bound, signaturePublicKey);
  }
}

function expectCommit(result: Verified): StagedCommit {
  if (result.kind !== 'commit') throw new Error(`expected a commit, got ${result.kind}`);
  return result.staged;
}

function expectStaged(result: Awaited<ReturnType<Group['commit']>>): StagedCommit {
  if (result.kind !== 'staged') throw new Error(`commit refused: ${result.reason} ${result.detail}`);
  return result.staged;
}

/** Through the facade and the outer seal, as the SDK sends and receives. */
async function benchFacade(size: number, runs: number): Promise<Timings> {
  const directory = new KnownKeys();
  const mls = new Mls({ authenticationService: directory });
  const generate = async (handle: string) => {
    const generated = await mls.generateKeyPackage({ identity: utf8(handle) });
    const decoded = decodeMessage(generated.keyPackage);
    if (decoded.kind !== 'key-package') throw new Error('expected a KeyPackage');
    directory.bind(handle, decoded.signaturePublicKey);
    return { ...generated, signaturePublicKey: decoded.signaturePublicKey };
  };
  const creator = await generate('m0');
  const others = await Promise.all(Array.from({ length: size - 1 }, (_, i) => generate(`m${i + 1}`)));
  const extra = await generate('extra');

  const [created, create] = await time(async () => {
    const group = await mls.createGroup({ keyPackage: creator });
    const staged = expectStaged(await group.commit({ add: others.map((o) => o.keyPackage) }));
    await group.merge(staged);
    return { group, staged };
  });
  const alice = created.group;
  const bobPackage = others[0];
  const welcome = created.staged.welcome;
  if (bobPackage === undefined || welcome === undefined) throw new Error('a group needs two members');
  const joined = await mls.joinGroup({ welcome, keyPackage: bobPackage });
  if (joined.kind !== 'joined') throw new Error(`join refused: ${joined.reason}`);
  const bob = joined.group;

  const routingId = await alice.routingId();
  const sealFor = async (group: Group, bytes: Uint8Array, kind: OuterKind) =>
    (await group.outerKey()).seal(bytes, { routingId, kind });
  const openFor = async (group: Group, sealed: Uint8Array, kind: OuterKind) =>
    (await group.outerKey()).open(sealed, { routingId, kind });

  const commitWith = (request: Parameters<Group['commit']>[0]) => async () => {
    const staged = expectStaged(await alice.commit(request));
    const sealed = await sealFor(alice, staged.commit, 'commit');
    alice.discard(staged);
    return sealed;
  };
  const processCommit = async (sealed: Uint8Array) => {
    // Verifying stages the commit without adopting it, so every run starts from the same state.
    expectCommit(await bob.verify(await openFor(bob, sealed, 'commit')));
  };
  const [addCreate, addProcess] = await pairedMedians(
    runs,
    commitWith({ add: [extra.keyPackage] }),
    processCommit,
  );
  const last = others.at(-1);
  if (last === undefined) throw new Error('a group needs two members');
  const [removeCreate, removeProcess] = await pairedMedians(
    runs,
    commitWith({ remove: [{ signaturePublicKey: last.signaturePublicKey }] }),
    processCommit,
  );
  const [updateCreate, updateProcess, updateSealed] = await pairedMedians(
    runs,
    commitWith({}),
    processCommit,
  );

  const [encrypt, decrypt, messageSealed] = await pairedMedians(
    Math.max(20, runs),
    async () => sealFor(alice, await alice.encrypt(MESSAGE), 'application'),
    async (sealed) => {
      const result = await bob.verify(await openFor(bob, sealed, 'application'));
      if (result.kind !== 'application') throw new Error('expected application data');
    },
  );
  return {
    create,
    addCreate,
    addProcess,
    removeCreate,
    removeProcess,
    updateCreate,
    updateProcess,
    encrypt,
    decrypt,
    welcomeBytes: welcome.length,
    updateBytes: updateSealed.length,
    messageBytes: messageSealed.length,
  };
}

/** Raw ts-mls 1.6.4 with its defaults (accept-all authentication service, no outer seal). */
async function benchRaw(size: number, runs: number): Promise<Timings> {
  const cs = await raw.getCiphersuiteImpl(raw.getCiphersuiteFromName(SUITE));
  const generate = (name: string) =>
    raw.generateKeyPackage(
      { credentialType: 'basic', identity: utf8(name) },
      raw.defaultCapabilities(),
      raw.defaultLifetime,
      [],
      cs,
    );
  const creator = await generate('m0');
  const others = await Promise.all(Array.from({ length: size - 1 }, (_, i) => generate(`m${i + 1}`)));
  const extra = await generate('extra');
  const addOf = (keyPackage: raw.KeyPackage): raw.Proposal => ({ proposalType: 'add', add: { keyPackage } });

  const [created, create] = await time(async () => {
    const group = await raw.createGroup(utf8('bench'), creator.publicPackage, creator.privatePackage, [], cs);
    return raw.createCommit(
      { state: group, cipherSuite: cs },
      { extraProposals: others.map((o) => addOf(o.publicPackage)), ratchetTreeExtension: true },
    );
  });
  const alice = created.newState;
  const bobPackage = others[0];
  if (bobPackage === undefined || created.welcome === undefined) throw new Error('a group needs two members');
  const bob = await raw.joinGroup(
    created.welcome,
    bobPackage.publicPackage,
    bobPackage.privatePackage,
    raw.emptyPskIndex,
    cs,
  );

  const commitWith = (proposals: raw.Proposal[]) => async () =>
    (await raw.createCommit({ state: alice, cipherSuite: cs }, { extraProposals: proposals })).commit;
  const processCommit = async (commit: raw.MLSMessage) => {
    if (commit.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    await raw.processPrivateMessage(bob, commit.privateMessage, raw.emptyPskIndex, cs);
  };
  const [addCreate, addProcess] = await pairedMedians(
    runs,
    commitWith([addOf(extra.publicPackage)]),
    processCommit,
  );
  const [removeCreate, removeProcess] = await pairedMedians(
    runs,
    commitWith([{ proposalType: 'remove', remove: { removed: size - 1 } }]),
    processCommit,
  );
  const [updateCreate, updateProcess, updateCommit] = await pairedMedians(
    runs,
    commitWith([]),
    processCommit,
  );

  let sender = alice;
  let receiver = bob;
  const [encrypt, decrypt, message] = await pairedMedians(
    Math.max(20, runs),
    async () => {
      const result = await raw.createApplicationMessage(sender, MESSAGE, cs);
      sender = result.newState;
      return result.privateMessage;
    },
    async (privateMessage) => {
      receiver = (await raw.processPrivateMessage(receiver, privateMessage, raw.emptyPskIndex, cs)).newState;
    },
  );
  const encoded = (value: raw.MLSMessage) => raw.encodeMlsMessage(value).length;
  return {
    create,
    addCreate,
    addProcess,
    removeCreate,
    removeProcess,
    updateCreate,
    updateProcess,
    encrypt,
    decrypt,
    welcomeBytes: encoded({ version: 'mls10', wireformat: 'mls_welcome', welcome: created.welcome }),
    updateBytes: encoded(updateCommit),
    messageBytes: encoded({ version: 'mls10', wireformat: 'mls_private_message', privateMessage: message }),
  };
}

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

// Sizes follow the bench name under bench/run.ts, or the script itself when run directly.
const requested = process.argv
  .slice(process.argv[1]?.endsWith('run.ts') ? 3 : 2)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 2);
const sizes = requested.length > 0 ? [...new Set(requested)] : [2, 10, 100, 500, 1000];
const layers: [string, (size: number, runs: number) => Promise<Timings>][] = [
  ['SDK (facade)', benchFacade],
  ['raw ts-mls', benchRaw],
];

// An untimed round first, so that neither layer pays the JIT warm-up inside the table.
for (const [, bench] of layers) await bench(4, 1);

const rows: string[][] = [];
const at100 = new Map<string, Timings>();
for (const size of sizes) {
  const runs = size >= 500 ? 3 : 5;
  for (const [label, bench] of layers) {
    const started = performance.now();
    const t = await bench(size, runs);
    if (size === 100) at100.set(label, t);
    const row = [
      String(size),
      label,
      ms(t.create),
      `${ms(t.addCreate)} / ${ms(t.addProcess)}`,
      `${ms(t.removeCreate)} / ${ms(t.removeProcess)}`,
      `${ms(t.updateCreate)} / ${ms(t.updateProcess)}`,
      `${ms(t.encrypt)} / ${ms(t.decrypt)}`,
      String(t.welcomeBytes),
      String(t.updateBytes),
      String(t.messageBytes),
    ];
    console.log(`${row.join(' | ')}   (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    rows.push(row);
  }
}

function budgetLines(): string {
  const lines: string[] = [];
  for (const [label, t] of at100) {
    const operation = Math.max(t.addCreate, t.addProcess, t.removeCreate, t.removeProcess, t.updateCreate);
    const message = Math.max(t.encrypt, t.decrypt);
    lines.push(
      `- ${label}: slowest group operation ${ms(operation)} ms = ${(operation / OPERATION_BUDGET_MS).toFixed(2)} × the ${OPERATION_BUDGET_MS} ms budget; ` +
        `1 KiB message ${ms(message)} ms = ${(message / MESSAGE_BUDGET_MS).toFixed(3)} × the ${MESSAGE_BUDGET_MS} ms budget.`,
    );
  }
  return lines.length > 0 ? lines.join('\n') : '- (N = 100 not measured in this run)';
}

writeResult(
  'mls',
  `# MLS group operations: the SDK's MLS layer beside raw ts-mls 1.6.4

${machine()}

Ciphersuite ${SUITE}; milliseconds, medians of 5 runs (3 at N ≥ 500) from the same starting state, 1 KiB
messages median of 20; "create / process": the committer creates the commit, another member processes it
(verifies and stages; not merged, so every run starts from the same state).

- **SDK (facade)**: \`src/mls\` as the client SDK drives it: its authentication service is asked about every
  credential (a warm handle → key cache here, as the SDK has after the first lookup), UpdatePath checks, padding
  of application messages to the outer bucket, and the outer seal (AES-256-GCM under the epoch's exporter key)
  on every commit and message.
- **raw ts-mls**: the library's own API with its defaults (accept-all authentication service, 256-byte
  padding), no outer seal.

*Create*: create the group and add the other N − 1 members in one commit (Welcome with the ratchet tree).
*Remove*: one member removed (with an UpdatePath in both). *Update*: an empty commit (full UpdatePath). Every
commit is measured on the tree a single mass add leaves (all parent nodes blank), so an UpdatePath is encrypted
to each of the other N − 1 leaves: the worst case. Sizes in bytes: the Welcome (with tree), the update commit and
the 1 KiB message as they go on the wire (sealed and bucketed for the SDK, bare MLSMessage for raw ts-mls). The
machine is shared; repeated runs differ by up to about 30 %.

${table(
  [
    'N',
    'layer',
    'create',
    'add one: create / process',
    'remove one: create / process',
    'update: create / process',
    '1 KiB message: encrypt / decrypt',
    'Welcome bytes',
    'update commit bytes',
    'message bytes',
  ],
  rows,
)}

## Against the seeds' budget at 100 members

${budgetLines()}
`,
);
