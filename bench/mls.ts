// MLS group operations as the client SDK performs them (src/mls facade: its authentication service, padding,
// outer seal and UpdatePath checks), on each MLS crypto provider (src/mls/crypto: native, the Node default,
// and portable, the browsers'), beside raw ts-mls 1.6.4 driven through its public API with its defaults, in
// the same run, for groups of N members: create (N − 1 adds in one commit), join from the Welcome, add one,
// remove one, update (empty commit), and a 1 KiB application message; with the sizes of what goes on the wire.
// Reports each SDK row's speed-up over raw ts-mls and the ratio to the seeds' budget (50 ms per message,
// 150 ms per group operation at 100 members).
//
//   npx node bench/run.ts mls [sizes...]      (default: 2 10 100 500 1000)
import { loadavg } from 'node:os';
import type { CryptoProvider } from 'ts-mls';
import * as raw from 'ts-mls-upstream';
import { constantTimeEqual, utf8 } from '../src/bytes.ts';
import { mlsCryptoProvider as nativeProvider } from '../src/mls/crypto/native.ts';
import { mlsCryptoProvider as portableProvider } from '../src/mls/crypto/portable.ts';
import type { AuthenticationService, MlsCredential, StagedCommit, Verified } from '../src/mls/index.ts';
import { decodeMessage, type Group, Mls, type OuterKind } from '../src/mls/index.ts';
import { machine, median, medianTime, pairedMedians, table, time, writeResult } from './lib.ts';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const MESSAGE = new Uint8Array(1024).fill(7);
const MESSAGE_BUDGET_MS = 50;
const OPERATION_BUDGET_MS = 150;

interface Timings {
  readonly create: number;
  readonly join: number;
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

/** Through the facade and the outer seal, as the SDK sends and receives, on one MLS crypto provider. */
async function benchFacade(size: number, runs: number, cryptoProvider: CryptoProvider): Promise<Timings> {
  const directory = new KnownKeys();
  const mls = new Mls({ authenticationService: directory, cryptoProvider });
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
  const joinOnce = async () => {
    const joined = await mls.joinGroup({ welcome, keyPackage: bobPackage });
    if (joined.kind !== 'joined') throw new Error(`join refused: ${joined.reason}`);
    return joined.group;
  };
  const [bob, joinMs] = await medianTime(runs, joinOnce);

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
    join: joinMs,
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

/**
 * Raw ts-mls 1.6.4 as published (`ts-mls-upstream`, without umbra's patch) with its defaults (its default
 * provider, accept-all authentication service, no outer seal).
 */
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
  const { welcome } = created;
  const [bob, joinMs] = await medianTime(runs, () =>
    raw.joinGroup(welcome, bobPackage.publicPackage, bobPackage.privatePackage, raw.emptyPskIndex, cs),
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
    join: joinMs,
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
const RAW = 'raw ts-mls';
const ROUNDS = 3;
const layers: [string, (size: number, runs: number) => Promise<Timings>][] = [
  ['SDK (native provider)', (size, runs) => benchFacade(size, runs, nativeProvider)],
  ['SDK (portable provider)', (size, runs) => benchFacade(size, runs, portableProvider)],
  [RAW, benchRaw],
];

const loadAverage = () =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
const loadAtStart = loadAverage();

// An untimed round first, so that no layer pays the JIT warm-up inside the table.
for (const [, bench] of layers) await bench(4, 1);

const rows: string[][] = [];
const speedUps: string[][] = [];
const at100 = new Map<string, Timings>();
/** Field by field, the median of several rounds' timings. */
function medianTimings(rounds: readonly Timings[]): Timings {
  const [first] = rounds;
  if (first === undefined) throw new Error('no rounds');
  const keys = Object.keys(first) as (keyof Timings)[];
  return Object.fromEntries(
    keys.map((key) => [key, median(rounds.map((t) => t[key]))]),
  ) as unknown as Timings;
}

for (const size of sizes) {
  const runs = size >= 500 ? 3 : 5;
  // The layers take turns, round after round, so that a change in the machine's load falls on all of them.
  const rounds = new Map<string, Timings[]>(layers.map(([label]) => [label, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [label, bench] of layers) {
      const started = performance.now();
      rounds.get(label)?.push(await bench(size, runs));
      console.log(
        `N = ${size}, ${label}, round ${round}: ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  }
  const measured = new Map<string, Timings>();
  for (const [label, timings] of rounds) {
    const t = medianTimings(timings);
    measured.set(label, t);
    if (size === 100) at100.set(label, t);
    const row = [
      String(size),
      label,
      ms(t.create),
      ms(t.join),
      `${ms(t.addCreate)} / ${ms(t.addProcess)}`,
      `${ms(t.removeCreate)} / ${ms(t.removeProcess)}`,
      `${ms(t.updateCreate)} / ${ms(t.updateProcess)}`,
      `${ms(t.encrypt)} / ${ms(t.decrypt)}`,
      String(t.welcomeBytes),
      String(t.updateBytes),
      String(t.messageBytes),
    ];
    console.log(row.join(' | '));
    rows.push(row);
  }
  const reference = measured.get(RAW);
  for (const [label, t] of measured) {
    if (reference === undefined || label === RAW) continue;
    const ratio = (key: keyof Timings) => `${(reference[key] / t[key]).toFixed(2)}×`;
    speedUps.push([
      String(size),
      label,
      `${ratio('addCreate')} / ${ratio('addProcess')}`,
      ratio('join'),
      `${ratio('removeCreate')} / ${ratio('removeProcess')}`,
      `${ratio('updateCreate')} / ${ratio('updateProcess')}`,
      `${ratio('encrypt')} / ${ratio('decrypt')}`,
    ]);
  }
}
const loadAtEnd = loadAverage();

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
  `# MLS group operations: the SDK's MLS layer on each crypto provider beside raw ts-mls 1.6.4

${machine()}; load average (1, 5, 15 min) ${loadAtStart} at the start, ${loadAtEnd} at the end. The
machine's 2 cores are shared with other engineers' work, so the figures move between runs (up to about 30 %).

Ciphersuite ${SUITE}; milliseconds. Each figure is the median of ${ROUNDS} rounds in which the layers take
turns; within a round, the median of 5 runs (3 at N ≥ 500) from the same starting state, 1 KiB messages the
median of 20; "create / process": the committer creates the commit, another member processes it
(verifies and stages; not merged, so every run starts from the same state). *Join*: a member joins from the
Welcome of the group's creation (ratchet tree included), from the same state each run.

- **SDK (native provider)**: \`src/mls\` as the client SDK drives it on Node, with its native crypto provider
  (\`src/mls/crypto/native.ts\`: OpenSSL and libsodium): its authentication service is asked about every
  credential (a warm handle → key cache here, as the SDK has after the first lookup), UpdatePath checks,
  padding of application messages to the outer bucket, and the outer seal (AES-256-GCM under the epoch's
  exporter key) on every commit and message.
- **SDK (portable provider)**: the same, with the provider browsers get (\`src/mls/crypto/portable.ts\`:
  ts-mls's default, WebCrypto and @hpke/@noble), here running on Node's WebCrypto.
- **raw ts-mls**: ts-mls 1.6.4 as published (the \`ts-mls-upstream\` alias, without umbra's patch), through its
  own API with its defaults (its default provider, accept-all authentication service, 256-byte padding), no
  outer seal; its commits are PrivateMessages.

*Create*: create the group and add the other N − 1 members in one commit (Welcome with the ratchet tree).
*Remove*: one member removed (with an UpdatePath in both). *Update*: an empty commit (full UpdatePath). Every
commit is measured on the tree a single mass add leaves (all parent nodes blank), so an UpdatePath is encrypted
to each of the other N − 1 leaves: the worst case. Sizes in bytes: the Welcome (with tree), the update commit and
the 1 KiB message as they go on the wire (sealed and bucketed for the SDK, bare MLSMessage for raw ts-mls).

${table(
  [
    'N',
    'layer',
    'create',
    'join',
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

## Speed-up over raw ts-mls in the same run

Raw ts-mls's median divided by the SDK's (above 1: the SDK is faster). Issue 14's targets, openmls's own
ratios to raw ts-mls on this machine: add one ≥ 8× at N = 100 and ≥ 25× at N = 1000, join ≥ 12× at
N = 1000, the 1 KiB message ≥ 1×.

${table(
  [
    'N',
    'layer',
    'add one: create / process',
    'join',
    'remove one: create / process',
    'update: create / process',
    '1 KiB message: encrypt / decrypt',
  ],
  speedUps,
)}

## Against the seeds' budget at 100 members

${budgetLines()}
`,
);
