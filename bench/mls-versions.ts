// Measures ts-mls 1.6.4 against 2.0.0-rc.10 (the `ts-mls-2` alias) on the operations umbra's groups
// perform, with the default ciphersuite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, to choose the version
// the MLS facade is written against. Each library is driven through its own public API; the numbers are
// medians over several runs from the same starting state. Writes bench/results/mls-versions.md when both
// versions are installed; without `ts-mls-2` it prints the 1.6.4 rows only.
//
//   npx node bench/mls-versions.ts [sizes...]      (default: 10 100 500)
import * as v1 from 'ts-mls';
import { machine, median, pairedMedians, table, time, writeResult } from './lib.ts';

const SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const MESSAGE = new Uint8Array(1024).fill(7);

interface Timings {
  readonly createGroup: number;
  readonly addCreate: number;
  readonly addProcess: number;
  readonly removeCreate: number;
  readonly removeProcess: number;
  readonly removeHasPath: boolean;
  readonly updateCreate: number;
  readonly updateProcess: number;
  readonly encrypt: number;
  readonly decrypt: number;
  readonly commitBytes: number;
}

async function benchV1(size: number, runs: number): Promise<Timings> {
  const cs = await v1.getCiphersuiteImpl(v1.getCiphersuiteFromName(SUITE));
  const member = (name: string) =>
    v1.generateKeyPackage(
      { credentialType: 'basic', identity: new TextEncoder().encode(name) },
      v1.defaultCapabilities(),
      v1.defaultLifetime,
      [],
      cs,
    );
  const creator = await member('m0');
  const others = await Promise.all(Array.from({ length: size - 1 }, (_, i) => member(`m${i + 1}`)));
  const extra = await member('extra');
  const addOf = (kp: v1.KeyPackage): v1.Proposal => ({ proposalType: 'add', add: { keyPackage: kp } });

  const [created, createGroup] = await time(async () => {
    const group = await v1.createGroup(
      new TextEncoder().encode('bench'),
      creator.publicPackage,
      creator.privatePackage,
      [],
      cs,
    );
    return v1.createCommit(
      { state: group, cipherSuite: cs },
      { extraProposals: others.map((o) => addOf(o.publicPackage)) },
    );
  });
  const alice = created.newState;
  const bobPackage = others[0];
  if (!bobPackage || !created.welcome) throw new Error('group needs at least two members');
  const bob = await v1.joinGroup(
    created.welcome,
    bobPackage.publicPackage,
    bobPackage.privatePackage,
    v1.emptyPskIndex,
    cs,
    alice.ratchetTree,
  );

  const processCommit = async (commit: unknown) => {
    const message = commit as v1.MLSMessage;
    if (message.wireformat !== 'mls_private_message') throw new Error('expected a private message');
    return v1.processPrivateMessage(bob, message.privateMessage, v1.emptyPskIndex, cs);
  };
  const commitWith = (proposals: v1.Proposal[]) => async () =>
    (await v1.createCommit({ state: alice, cipherSuite: cs }, { extraProposals: proposals })).commit;

  const [addCreate, addProcess] = await pairedMedians(
    runs,
    commitWith([addOf(extra.publicPackage)]),
    processCommit,
  );
  const removeProposal: v1.Proposal = { proposalType: 'remove', remove: { removed: size - 1 } };
  const [removeCreate, removeProcess] = await pairedMedians(
    runs,
    commitWith([removeProposal]),
    processCommit,
  );
  const [updateCreate, updateProcess, updateCommit] = await pairedMedians(
    runs,
    commitWith([]),
    processCommit,
  );
  const removeHasPath = await v1RemoveHasPath(alice, size - 1, cs);

  let sender = alice;
  let receiver = bob;
  const [encrypt, decrypt] = await pairedMedians(
    Math.max(20, runs),
    async () => {
      const result = await v1.createApplicationMessage(sender, MESSAGE, cs);
      sender = result.newState;
      return result.privateMessage;
    },
    async (message) => {
      const result = await v1.processPrivateMessage(
        receiver,
        message as v1.PrivateMessage,
        v1.emptyPskIndex,
        cs,
      );
      receiver = result.newState;
    },
  );
  return {
    createGroup,
    addCreate,
    addProcess,
    removeCreate,
    removeProcess,
    removeHasPath,
    updateCreate,
    updateProcess,
    encrypt,
    decrypt,
    commitBytes: v1.encodeMlsMessage(updateCommit as v1.MLSMessage).byteLength,
  };
}

/** Whether a remove commit carries an UpdatePath: the same commit made as a PublicMessage shows its content. */
async function v1RemoveHasPath(
  state: v1.ClientState,
  removed: number,
  cs: v1.CiphersuiteImpl,
): Promise<boolean> {
  const { commit } = await v1.createCommit(
    { state, cipherSuite: cs },
    { wireAsPublicMessage: true, extraProposals: [{ proposalType: 'remove', remove: { removed } }] },
  );
  if (commit.wireformat !== 'mls_public_message') throw new Error('expected a public message');
  const content = commit.publicMessage.content;
  return content.contentType === 'commit' && content.commit.path !== undefined;
}

/**
 * The part of ts-mls 2.0.0-rc.10's API this bench drives, typed here so that the bench still compiles once
 * the `ts-mls-2` alias is uninstalled (the facade uses 1.6.4; 2.x is only measured).
 */
interface V2State {
  readonly ratchetTree: unknown;
}
interface V2Message {
  readonly wireformat: number;
  readonly publicMessage?: {
    readonly content: { readonly contentType: number; readonly commit?: { readonly path?: unknown } };
  };
}
interface V2Context {
  readonly cipherSuite: unknown;
  readonly authService: unknown;
}
interface V2Api {
  getCiphersuiteImpl(name: string): Promise<unknown>;
  readonly unsafeTestingAuthenticationService: unknown;
  readonly defaultCredentialTypes: { readonly basic: number };
  readonly defaultProposalTypes: { readonly add: number; readonly remove: number };
  readonly wireformats: { readonly mls_public_message: number };
  readonly contentTypes: { readonly commit: number };
  readonly mlsMessageEncoder: unknown;
  generateKeyPackage(params: {
    credential: { credentialType: number; identity: Uint8Array };
    cipherSuite: unknown;
  }): Promise<{ publicPackage: unknown; privatePackage: unknown }>;
  createGroup(params: {
    context: V2Context;
    groupId: Uint8Array;
    keyPackage: unknown;
    privateKeyPackage: unknown;
  }): Promise<V2State>;
  createCommit(params: {
    context: V2Context;
    state: V2State;
    extraProposals: unknown[];
    wireAsPublicMessage?: boolean;
  }): Promise<{ newState: V2State; welcome?: { welcome: unknown }; commit: V2Message }>;
  joinGroup(params: {
    context: V2Context;
    welcome: unknown;
    keyPackage: unknown;
    privateKeys: unknown;
    ratchetTree: unknown;
  }): Promise<V2State>;
  processMessage(params: {
    context: V2Context;
    state: V2State;
    message: unknown;
  }): Promise<{ newState: V2State }>;
  createApplicationMessage(params: {
    context: V2Context;
    state: V2State;
    message: Uint8Array;
  }): Promise<{ newState: V2State; message: V2Message }>;
  encode(encoder: unknown, value: unknown): Uint8Array;
}

const V2_PACKAGE: string = 'ts-mls-2';
const v2 = (await import(V2_PACKAGE).catch(() => undefined)) as V2Api | undefined;

async function benchV2(api: V2Api, size: number, runs: number): Promise<Timings> {
  const cipherSuite = await api.getCiphersuiteImpl(SUITE);
  const context: V2Context = { cipherSuite, authService: api.unsafeTestingAuthenticationService };
  const member = (name: string) =>
    api.generateKeyPackage({
      credential: {
        credentialType: api.defaultCredentialTypes.basic,
        identity: new TextEncoder().encode(name),
      },
      cipherSuite,
    });
  const creator = await member('m0');
  const others = await Promise.all(Array.from({ length: size - 1 }, (_, i) => member(`m${i + 1}`)));
  const extra = await member('extra');
  const addOf = (keyPackage: unknown) => ({
    proposalType: api.defaultProposalTypes.add,
    add: { keyPackage },
  });
  const removeOf = (removed: number) => ({
    proposalType: api.defaultProposalTypes.remove,
    remove: { removed },
  });

  const [created, createGroup] = await time(async () => {
    const group = await api.createGroup({
      context,
      groupId: new TextEncoder().encode('bench'),
      keyPackage: creator.publicPackage,
      privateKeyPackage: creator.privatePackage,
    });
    return api.createCommit({
      context,
      state: group,
      extraProposals: others.map((o) => addOf(o.publicPackage)),
    });
  });
  const alice = created.newState;
  const bobPackage = others[0];
  if (!bobPackage || !created.welcome) throw new Error('group needs at least two members');
  const bob = await api.joinGroup({
    context,
    welcome: created.welcome.welcome,
    keyPackage: bobPackage.publicPackage,
    privateKeys: bobPackage.privatePackage,
    ratchetTree: alice.ratchetTree,
  });

  const processCommit = (commit: unknown) => api.processMessage({ context, state: bob, message: commit });
  const commitWith = (proposals: unknown[]) => async () =>
    (await api.createCommit({ context, state: alice, extraProposals: proposals })).commit;

  const [addCreate, addProcess] = await pairedMedians(
    runs,
    commitWith([addOf(extra.publicPackage)]),
    processCommit,
  );
  const [removeCreate, removeProcess] = await pairedMedians(
    runs,
    commitWith([removeOf(size - 1)]),
    processCommit,
  );
  const [updateCreate, updateProcess, updateCommit] = await pairedMedians(
    runs,
    commitWith([]),
    processCommit,
  );
  // The same removal as a PublicMessage shows whether the commit carries an UpdatePath.
  const { commit: visible } = await api.createCommit({
    context,
    state: alice,
    wireAsPublicMessage: true,
    extraProposals: [removeOf(size - 1)],
  });
  if (visible.wireformat !== api.wireformats.mls_public_message) throw new Error('expected a public message');
  const content = visible.publicMessage?.content;
  const removeHasPath =
    content?.contentType === api.contentTypes.commit && content.commit?.path !== undefined;

  let sender = alice;
  let receiver = bob;
  const [encrypt, decrypt] = await pairedMedians(
    Math.max(20, runs),
    async () => {
      const result = await api.createApplicationMessage({ context, state: sender, message: MESSAGE });
      sender = result.newState;
      return result.message;
    },
    async (message) => {
      receiver = (await api.processMessage({ context, state: receiver, message })).newState;
    },
  );
  return {
    createGroup,
    addCreate,
    addProcess,
    removeCreate,
    removeProcess,
    removeHasPath,
    updateCreate,
    updateProcess,
    encrypt,
    decrypt,
    commitBytes: api.encode(api.mlsMessageEncoder, updateCommit).byteLength,
  };
}

const ms = (value: number) =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

const sizes = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 2);
const groupSizes = sizes.length > 0 ? sizes : [10, 100, 500];
if (v2 === undefined) {
  console.error(
    `${V2_PACKAGE} (ts-mls 2.0.0-rc.10) is not installed: measuring 1.6.4 only, results not written`,
  );
}
const versions: [string, (size: number, runs: number) => Promise<Timings>][] = [['1.6.4', benchV1]];
if (v2 !== undefined) versions.push(['2.0.0-rc.10', (size, runs) => benchV2(v2, size, runs)]);

// A small untimed round first, so that no version pays the JIT warm-up inside the table.
for (const [, bench] of versions) await bench(4, 1);

/** Per field, the median of several rounds' medians. */
function combine(rounds: readonly Timings[]): Timings {
  const field = (pick: (t: Timings) => number) => median(rounds.map(pick));
  return {
    createGroup: field((t) => t.createGroup),
    addCreate: field((t) => t.addCreate),
    addProcess: field((t) => t.addProcess),
    removeCreate: field((t) => t.removeCreate),
    removeProcess: field((t) => t.removeProcess),
    removeHasPath: rounds.every((t) => t.removeHasPath),
    updateCreate: field((t) => t.updateCreate),
    updateProcess: field((t) => t.updateProcess),
    encrypt: field((t) => t.encrypt),
    decrypt: field((t) => t.decrypt),
    commitBytes: field((t) => t.commitBytes),
  };
}

// The versions take turns, ROUNDS times per size, so that a busy spell on a shared machine is spread over
// both rather than landing on one.
const ROUNDS = 3;
const rows: string[][] = [];
for (const size of groupSizes) {
  const runs = size >= 500 ? 3 : 5;
  const rounds = versions.map(() => [] as Timings[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, [, bench]] of versions.entries()) rounds[index]?.push(await bench(size, runs));
  }
  for (const [index, [label]] of versions.entries()) {
    const t = combine(rounds[index] ?? []);
    const row = [
      String(size),
      label,
      ms(t.createGroup),
      `${ms(t.addCreate)} / ${ms(t.addProcess)}`,
      `${ms(t.removeCreate)} / ${ms(t.removeProcess)}${t.removeHasPath ? '' : ' (no path!)'}`,
      `${ms(t.updateCreate)} / ${ms(t.updateProcess)}`,
      `${ms(t.encrypt)} / ${ms(t.decrypt)}`,
      String(t.commitBytes),
    ];
    console.log(row.join(' | '));
    rows.push(row);
  }
}

if (v2 !== undefined)
  writeResult(
    'mls-versions',
    `# ts-mls 1.6.4 vs 2.0.0-rc.10

${machine()}

Ciphersuite ${SUITE}; default crypto provider of each version; milliseconds; each cell is the median of 3 rounds (the versions taking turns), each round the median
of 5 runs (3 at N = 500) from the same starting state; 1 KiB messages: median of 20. "create / process": the committer creates the
commit, another member processes it. *Create group*: create the group and add the other N − 1 members in
one commit (Welcome included). *Remove*: one member removed; "(no path!)" marks a commit without an
UpdatePath (RFC 9420 §12.4 violation: the removed member can compute the next epoch). *Update*: an empty
commit (full UpdatePath). *Commit bytes*: the encoded update commit (MLSMessage, PrivateMessage).
Every commit is measured on the tree a single mass add leaves (all parent nodes blank), so an UpdatePath
is encrypted to each of the other N − 1 leaves: the worst case, which shrinks as members commit. The
machine is shared; repeated runs differ by up to about 30 %.

${table(
  [
    'N',
    'ts-mls',
    'create group',
    'add one: create / process',
    'remove one: create / process',
    'update: create / process',
    '1 KiB message: encrypt / decrypt',
    'commit bytes',
  ],
  rows,
)}

The facade is written against 1.6.4: 2.0.0-rc.10 is faster on commits but sends a commit that removes one
member without an UpdatePath, which its public API cannot be made to add. See docs/mls.md.
`,
  );
