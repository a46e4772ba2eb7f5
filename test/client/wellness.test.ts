// The wellness layer end to end (issue 16) over a devnet's three mix layers with the real delivery service:
// an owner (mixnet and direct carriers, policy 'mixnet-or-direct') and four supporters in three tiers. Each
// tier's client is checked against the visibility table, roles are changed and revoked, a coach's check-in
// is answered and feeds adherence, hostile items are dropped, every byte the owner hands a carrier and
// every message supporters decrypt is searched for raw entries, and with the mixnet down nothing wellness
// goes out, although the owner's policy lets chat fall back to direct.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from '../../src/client/client.ts';
import type { Conversation } from '../../src/client/conversation.ts';
import { checkInTask, kindOf, reminderRequest } from '../../src/client/wellness/fhir.ts';
import type { InsightKind } from '../../src/client/wellness/roles.ts';
import { VISIBLE_TO } from '../../src/client/wellness/roles.ts';
import type { SharedWithMe } from '../../src/client/wellness/wellness.ts';
import { ClientError, WellnessError } from '../../src/errors.ts';
import type {
  Carrier,
  CarrierKind,
  CarrierRequestOptions,
  CarrierStatus,
} from '../../src/protocol/carrier.ts';
import { decodeRequest } from '../../src/protocol/messages.ts';
import { DeliveryMixnet } from './mixnet-support.ts';
import { clientOptions, directCarrier, eventually, removeTempDirs, tempDir } from './support.ts';

/** Every request handed to a real carrier, kept before it is sent. */
class RecordingCarrier implements Carrier {
  readonly kind: CarrierKind;
  readonly requests: Uint8Array[] = [];
  readonly onPush?: Carrier['onPush'];
  readonly #inner: Carrier;

  constructor(inner: Carrier) {
    this.#inner = inner;
    this.kind = inner.kind;
    const push = inner.onPush?.bind(inner);
    if (push !== undefined) this.onPush = push;
  }

  request(request: Uint8Array, options?: CarrierRequestOptions): Promise<Uint8Array> {
    this.requests.push(request.slice());
    return this.#inner.request(request, options);
  }

  status(): CarrierStatus {
    return this.#inner.status();
  }

  onStatus(listener: (status: CarrierStatus) => void): () => void {
    return this.#inner.onStatus(listener);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

interface Person {
  readonly client: Client;
  readonly mixnet: RecordingCarrier;
  readonly direct: RecordingCarrier | undefined;
}

const ASOF = '2025-03-30';
const CHECK_IN_DUE = Date.parse('2025-03-29T09:00:00.000Z');
const REMINDER_AT = Date.parse('2025-03-31T08:00:00.000Z');
/** Raw values logged by the owner that no carrier and no supporter may ever see. */
const SECRETS = ['JOURNAL-7f3a-zebra-quasar', '123457', '1.2345'];
/** Waits for one step over the mix layers; generous, for a loaded 2-core machine (a step took 143 s once). */
const LONG = 300_000;
/** Per test: a role change waits for several such steps. */
const TEST = { timeout: 900_000 };

let network: DeliveryMixnet;
const clients: Client[] = [];
/** Closed after the clients; the network closes the mixnet carriers it made. */
const directCarriers: Carrier[] = [];
let owner: Person;
let fred: Person; // friend
let fay: Person; // family, then trainer, then revoked
let carla: Person; // coach
let cleo: Person; // clinician

before(async () => {
  // Short rounds: the steps below are sequential mixnet round trips (about half a second each at 20 ms
  // rounds, a second at 50 ms); λ stays at 20, so the constant-rate traffic costs no more CPU.
  network = await DeliveryMixnet.start(tempDir(), { roundPeriodMs: 20 });
});

after(async () => {
  for (const client of clients) await client.close();
  for (const carrier of directCarriers) await carrier.close();
  await network?.stop();
  removeTempDirs();
});

async function person(handle: string, direct = false): Promise<Person> {
  const mixnet = new RecordingCarrier(await network.carrier());
  const directRecorder = direct ? new RecordingCarrier(await directCarrier(network.server)) : undefined;
  if (directRecorder !== undefined) directCarriers.push(directRecorder);
  const carriers = directRecorder === undefined ? [mixnet] : [mixnet, directRecorder];
  const client = await Client.open(
    clientOptions(tempDir(), carriers, {
      privacy: direct ? 'mixnet-or-direct' : 'mixnet',
      pollIntervalMs: 500,
      keyPackages: 2,
    }),
  );
  clients.push(client);
  await client.register(handle);
  return { client, mixnet, direct: directRecorder };
}

/** What `who` sees of the owner's sharing, once `ready` holds of it. */
function sharedBy(
  who: Person,
  ready: (shared: SharedWithMe) => boolean,
  what: string,
): Promise<SharedWithMe> {
  return eventually(
    () => who.client.wellness.sharedWithMe().find((s) => s.owner === 'olivia' && s.active && ready(s)),
    what,
    LONG,
  );
}

function kinds(shared: SharedWithMe): InsightKind[] {
  return [...new Set(shared.observations.map((o) => kindOf(o.code) as InsightKind))].sort();
}

function tierConversations(): Conversation[] {
  return owner.client.conversations().filter((c) => c.policy === 'mixnet');
}

test('the owner logs raw entries and invites a care team; each supporter learns its role', {
  timeout: TEST.timeout,
}, async () => {
  [owner, fred, fay, carla, cleo] = await Promise.all([
    person('olivia', true),
    person('fred'),
    person('fay'),
    person('carla', true),
    person('cleo'),
  ]);
  const wellness = owner.client.wellness;
  // A month at once (one vault write), as an import would: 121 writes each took seconds on a busy machine.
  await wellness.logMany(
    Array.from({ length: 30 }, (_, index) => {
      const day = index + 1;
      const date = `2025-03-${String(day).padStart(2, '0')}`;
      return [
        { kind: 'activity', date, steps: day === 12 ? 123457 : 6000 + 100 * day },
        { kind: 'sleep', date, hours: 7, quality: 4 },
        { kind: 'mood', date, score: 3 + (day % 2) },
        { kind: 'nutrition', date, fruitVegServings: 4, ...(day === 5 ? { waterLitres: 1.2345 } : {}) },
      ] as const;
    }).flat(),
  );
  await wellness.log({ kind: 'journal', date: ASOF, text: `today: ${SECRETS[0]}` });
  assert.equal((await wellness.entries({ from: ASOF, to: ASOF })).length, 5);

  // All at once: the tiers' invitations overlap; the circle's two take turns in its one conversation. A
  // second invitation of a handle whose first is under way is refused at once.
  const invited = Promise.all([
    wellness.invite('fred', 'friend'),
    wellness.invite('fay', 'family'),
    wellness.invite('carla', 'coach'),
    wellness.invite('cleo', 'clinician'),
  ]);
  await assert.rejects(
    wellness.invite('fred', 'coach'),
    (e: unknown) => e instanceof WellnessError && e.reason === 'already_in_team',
  );
  await invited;
  await assert.rejects(
    wellness.invite('fred', 'coach'),
    (e: unknown) => e instanceof WellnessError && e.reason === 'already_in_team',
  );
  assert.deepEqual(
    wellness
      .team()
      .map((s) => [s.handle, s.role, s.tier, s.status])
      .sort(),
    [
      ['carla', 'coach', 'coaching', 'active'],
      ['cleo', 'clinician', 'clinical', 'active'],
      ['fay', 'family', 'circle', 'active'],
      ['fred', 'friend', 'circle', 'active'],
    ],
  );
  // One conversation per tier, each pinned to the mixnet, whatever the client's own policy.
  assert.equal(tierConversations().length, 3);
  for (const [who, role, tier] of [
    [fred, 'friend', 'circle'],
    [fay, 'family', 'circle'],
    [carla, 'coach', 'coaching'],
    [cleo, 'clinician', 'clinical'],
  ] as const) {
    const shared = await sharedBy(who, (s) => s.role === role, `${role} to learn its role`);
    assert.equal(shared.tier, tier);
    assert.equal(who.client.conversation(shared.conversationId)?.policy, 'mixnet');
  }
});

test('a coach schedules a check-in and a reminder; a friend may not', TEST, async () => {
  await carla.client.wellness.schedule('olivia', {
    kind: 'check-in',
    at: CHECK_IN_DUE,
    text: 'How did the week go?',
  });
  const reminder = await carla.client.wellness.schedule('olivia', {
    kind: 'reminder',
    at: REMINDER_AT,
    text: 'Session at 9',
  });
  assert.equal(reminder.resourceType, 'CommunicationRequest');
  await assert.rejects(
    fred.client.wellness.schedule('olivia', { kind: 'reminder', at: REMINDER_AT, text: 'hi' }),
    (e: unknown) => e instanceof WellnessError && e.reason === 'not_allowed',
  );
  const checkIn = await eventually(() => owner.client.wellness.checkIns()[0], 'the check-in to arrive', LONG);
  assert.deepEqual(
    [checkIn.from, checkIn.due, checkIn.question, checkIn.answer],
    ['carla', CHECK_IN_DUE, 'How did the week go?', undefined],
  );
  assert.equal(checkIn.task.resourceType, 'Task');
  const arrived = await eventually(
    () => owner.client.wellness.reminders()[0],
    'the reminder to arrive',
    LONG,
  );
  assert.deepEqual([arrived.from, arrived.at, arrived.text], ['carla', REMINDER_AT, 'Session at 9']);
});

test('one share, one message per tier; each tier receives exactly its row of the table', {
  timeout: TEST.timeout,
}, async () => {
  const results = await owner.client.wellness.share(ASOF);
  assert.deepEqual(
    results.map((r) => [r.tier, r.sent]),
    [
      ['circle', true],
      ['coaching', true],
      ['clinical', true],
    ],
  );
  const at = (who: Person) => sharedBy(who, (s) => s.asOf === ASOF, 'the insights');
  const [atFred, atFay, atCarla, atCleo] = await Promise.all([at(fred), at(fay), at(carla), at(cleo)]);
  assert.deepEqual(kinds(atFred), [...VISIBLE_TO.circle].sort());
  assert.deepEqual(kinds(atFay), [...VISIBLE_TO.circle].sort());
  assert.deepEqual(kinds(atCarla), [...VISIBLE_TO.coaching].sort());
  assert.deepEqual(kinds(atCleo), [...VISIBLE_TO.clinical].sort());
  assert.equal(atFred.observations.length, 1); // The band only: no FWI value, no trend.

  const code = (shared: SharedWithMe, value: string) =>
    shared.observations.find((o) => o.code.coding?.[0]?.code === value);
  const adherence = code(atCarla, 'check-in-adherence');
  assert.equal(adherence?.valueQuantity?.value, 0); // Due on the 29th, not answered yet.
  const steps = code(atCleo, '41950-7');
  assert.equal(steps?.code.coding?.[0]?.system, 'http://loinc.org');
  assert.deepEqual(steps?.effectivePeriod, { start: '2025-03-01', end: ASOF });
  assert.deepEqual(
    steps?.derivedFrom?.map((r) => r.identifier?.value),
    ['activity-log'],
  );
  assert.equal(code(atCleo, '93832-4')?.valueQuantity?.value, 7);
  const trends = atCarla.observations.filter((o) => o.code.coding?.[0]?.code === 'fwi-trend');
  assert.deepEqual(
    trends.map((o) => o.effectivePeriod?.start),
    ['2025-03-24', '2025-03-01'],
  );
});

test('an answered check-in reaches the coach who asked and counts as completed', {
  timeout: TEST.timeout,
}, async () => {
  const [checkIn] = owner.client.wellness.checkIns();
  assert.ok(checkIn);
  await owner.client.wellness.answer(checkIn.id, 'Good, slept well');
  const answer = await eventually(() => carla.client.wellness.answers()[0], 'the answer', LONG);
  assert.deepEqual(
    [answer.owner, answer.answer, answer.task.status],
    ['olivia', 'Good, slept well', 'completed'],
  );
  const insights = await owner.client.wellness.insights(ASOF);
  assert.deepEqual(insights.adherence, { planned: 1, completed: 1, percent: 100 });
});

test('a role changed across tiers moves the supporter: family to trainer', TEST, async () => {
  const before = await sharedBy(fay, (s) => s.tier === 'circle', 'the circle binding');
  const fredBefore = await sharedBy(fred, (s) => s.tier === 'circle', "fred's circle binding");
  await owner.client.wellness.changeRole('fay', 'trainer');
  // Both commits and the roster are out when changeRole resolves: share at once, and wait for everything
  // fay and fred should see together.
  await owner.client.wellness.share(ASOF);
  const [, , atFay, atFred] = await Promise.all([
    eventually(
      () => (fay.client.conversation(before.conversationId)?.status === 'removed' ? true : undefined),
      'fay removed from the circle',
      LONG,
    ),
    sharedBy(fay, (s) => s.role === 'trainer' && s.tier === 'coaching', 'the coaching binding'),
    sharedBy(fay, (s) => s.tier === 'coaching' && s.asOf === ASOF, 'coaching insights at fay'),
    sharedBy(fred, (s) => s.receivedAt !== fredBefore.receivedAt, 'the second circle bundle'),
  ]);
  assert.deepEqual(kinds(atFay), [...VISIBLE_TO.coaching].sort());
  assert.deepEqual(kinds(atFred), ['summary']);
  // What fay saw as family stays as it was: nothing of the circle reaches her any more.
  const old = fay.client.wellness.sharedWithMe().find((s) => s.conversationId === before.conversationId);
  assert.equal(old?.active, false);
});

test('a revoked supporter is removed from the conversation and receives no further insights', {
  timeout: TEST.timeout,
}, async () => {
  const bound = await sharedBy(fay, (s) => s.tier === 'coaching', 'fay in coaching');
  const carlaBefore = await sharedBy(carla, () => true, 'carla binding');
  await owner.client.wellness.revoke('fay');
  assert.equal(owner.client.wellness.team().find((s) => s.handle === 'fay')?.status, 'revoked');
  // The removal is committed when revoke resolves: the next share goes out at once, and fay sees herself
  // removed meanwhile.
  await owner.client.wellness.share(ASOF);
  await Promise.all([
    eventually(
      () => (fay.client.conversation(bound.conversationId)?.status === 'removed' ? true : undefined),
      'fay removed',
      LONG,
    ),
    sharedBy(carla, (s) => s.receivedAt !== carlaBefore.receivedAt, 'the third coaching bundle'),
  ]);
  await fay.client.sync();
  const atFay = fay.client.wellness.sharedWithMe().find((s) => s.conversationId === bound.conversationId);
  assert.equal(atFay?.active, false);
  assert.deepEqual(
    atFay?.observations.map((o) => o.id),
    bound.observations.map((o) => o.id),
  );
  await assert.rejects(
    owner.client.wellness.revoke('fay'),
    (e: unknown) => e instanceof WellnessError && e.reason === 'not_in_team',
  );
});

test('hostile items are dropped, counted and shown as nothing', TEST, async () => {
  const circle = fred.client.wellness.sharedWithMe().find((s) => s.active);
  assert.ok(circle);
  const fredCircle = fred.client.conversation(circle.conversationId);
  assert.ok(fredCircle);
  const request = reminderRequest(
    'a1',
    'from a friend',
    '2025-03-31T08:00:00.000Z',
    '2025-03-30T08:00:00.000Z',
  );
  const task = checkInTask('b2', 'outside the team?', '2025-03-29T09:00:00.000Z', '2025-03-28T09:00:00.000Z');
  await Promise.all([
    (async () => {
      // A modified friend's client posts a reminder, and claims the owner's role: both in the circle.
      await fredCircle.send({ wellness: { kind: 'reminder', request } });
      await fredCircle.send({ wellness: { kind: 'team', tier: 'circle', roles: { fred: 'friend' } } });
    })(),
    (async () => {
      // Meanwhile the coach posts a check-in in an ordinary chat, not the care team's conversation.
      const chat = await carla.client.createConversation(['olivia']);
      await chat.send({ wellness: { kind: 'check-in', task } });
    })(),
  ]);
  const dropped = await eventually(
    () => {
      const counts = owner.client.wellness.dropped;
      return counts.not_allowed === 1 && counts.not_owner === 1 && counts.not_in_team === 1
        ? counts
        : undefined;
    },
    'three drops',
    LONG,
  );
  assert.deepEqual(dropped, { not_allowed: 1, not_owner: 1, not_in_team: 1 });
  assert.equal(owner.client.wellness.reminders().length, 1);
  assert.equal(owner.client.wellness.checkIns().length, 1);
});

test('no raw entry reaches a carrier or a supporter', TEST, async () => {
  const contains = (bytes: Uint8Array, needle: string) => Buffer.from(bytes).includes(needle);
  const sent = [...owner.mixnet.requests, ...(owner.direct?.requests ?? [])];
  // The recorder sees plaintext requests: the registration names the owner's handle.
  assert.ok(sent.some((bytes) => contains(bytes, 'olivia')));
  for (const secret of SECRETS)
    assert.ok(!sent.some((bytes) => contains(bytes, secret)), 'a raw value reached a carrier');
  // Everything every supporter decrypted, as JSON: the shared patterns are there, no raw value is.
  const decrypted = [fred, fay, carla, cleo]
    .flatMap((who) => who.client.conversations().flatMap((c) => c.history()))
    .map((message) => JSON.stringify(message.content))
    .join('\n');
  assert.ok(decrypted.includes('41950-7'));
  for (const secret of SECRETS) assert.ok(!decrypted.includes(secret), 'a raw value reached a supporter');
});

test('with the mixnet down nothing wellness is sent, although chat falls back to direct', {
  timeout: TEST.timeout,
}, async () => {
  const direct = owner.direct;
  assert.ok(direct);
  await owner.mixnet.close();
  await eventually(
    () => (owner.client.privacy.level === 'partial' ? true : undefined),
    'the fallback to direct',
  );
  const postsBefore = direct.requests.length;
  await assert.rejects(owner.client.wellness.share(ASOF), (e: unknown) => {
    return (
      e instanceof ClientError &&
      e.reason === 'privacy_unavailable' &&
      e.message.includes('only over the mixnet')
    );
  });
  const [checkIn] = owner.client.wellness.checkIns();
  await assert.rejects(owner.client.wellness.answer(checkIn?.id ?? '', 'again'), ClientError);
  const tierRoutingIds = tierConversations().flatMap((c) =>
    c.routingId === undefined ? [] : [Buffer.from(c.routingId)],
  );
  // The ordinary chat with the coach goes over direct, as the owner's policy allows.
  const chat = owner.client.conversations().find((c) => c.policy === 'mixnet-or-direct');
  assert.ok(chat);
  await chat.send({ text: 'still here, over direct' });
  const posts = direct.requests.slice(postsBefore).map((bytes) => decodeRequest(bytes));
  assert.ok(posts.some((r) => r.kind === 'postToLog'));
  for (const request of posts) {
    if (request.kind !== 'postToLog' && request.kind !== 'fetchLog') continue;
    assert.ok(
      !tierRoutingIds.some((id) => id.equals(request.value.routingId)),
      'a tier conversation used direct',
    );
  }
  // The coach, whose mixnet is down too, cannot schedule either.
  await carla.mixnet.close();
  await eventually(
    () => (carla.client.privacy.level === 'partial' ? true : undefined),
    "the coach's fallback",
  );
  await assert.rejects(
    carla.client.wellness.schedule('olivia', { kind: 'reminder', at: REMINDER_AT, text: 'x' }),
    (e: unknown) => e instanceof ClientError && e.reason === 'privacy_unavailable',
  );
});
