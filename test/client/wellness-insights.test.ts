// The wellness layer's on-device parts without a network: the FWI formula of docs/wellness.md on hand-made
// days, trends, adherence and their determinism; the FHIR shapes of shared insights; raw entries in a real
// vault (not readable on disk); and the wellness item decoder on hostile input (only CodecError, ever).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Client } from '../../src/client/client.ts';
import { decodeEnvelope, encodeEnvelope } from '../../src/client/content.ts';
import type { RawEntry } from '../../src/client/wellness/entries.ts';
import { insightObservations, kindOf } from '../../src/client/wellness/fhir.ts';
import { computeInsights } from '../../src/client/wellness/insights.ts';
import { decodeWellnessItem, MAX_OBSERVATIONS, type WellnessItem } from '../../src/client/wellness/items.ts';
import { ArgumentError, CodecError } from '../../src/errors.ts';
import { clientOptions, removeTempDirs, tempDir } from './support.ts';

after(removeTempDirs);

let next = 0;
function entry(fields: Record<string, unknown>): RawEntry {
  return { id: `e${next++}`, loggedAt: 0, ...fields } as unknown as RawEntry;
}

/** A full day: every component at `level` of its target (0..1). */
function day(date: string, level: number): RawEntry[] {
  return [
    entry({ kind: 'activity', date, steps: 10_000 * level, activeMinutes: 30 * level }),
    entry({ kind: 'sleep', date, hours: 4 + 3 * level }),
    entry({ kind: 'mood', date, score: 1 + 4 * level }),
    entry({ kind: 'nutrition', date, fruitVegServings: 5 * level }),
  ];
}

describe('the Functional Wellness Index', () => {
  test('a day scores 100 × the weighted mean of its components', () => {
    const insights = computeInsights([...day('2025-01-01', 1), ...day('2025-01-02', 0.5)], [], '2025-01-02');
    const [first, second] = insights.daily.slice(-2);
    assert.equal(first?.fwi, 100);
    assert.equal(second?.fwi, 50);
    assert.deepEqual(second?.components, { activity: 0.5, sleep: 0.5, mood: 0.5, nutrition: 0.5 });
  });

  test('missing components re-weight the others; one component alone gives no FWI', () => {
    const entries = [
      entry({ kind: 'activity', date: '2025-01-01', steps: 10_000 }),
      entry({ kind: 'sleep', date: '2025-01-01', hours: 4 }),
      entry({ kind: 'mood', date: '2025-01-02', score: 5 }),
      entry({ kind: 'journal', date: '2025-01-02', text: 'never scored' }),
    ];
    const [first, second] = computeInsights(entries, [], '2025-01-02').daily.slice(-2);
    assert.equal(first?.fwi, 50); // 100 × (0.3 × 1 + 0.3 × 0) / 0.6
    assert.equal(second?.fwi, undefined);
  });

  test('sleep scores 1 from 7 to 9 hours and falls to 0 at 4 and at 12', () => {
    const at = (hours: number) =>
      computeInsights(
        [
          entry({ kind: 'sleep', date: '2025-01-01', hours }),
          entry({ kind: 'mood', date: '2025-01-01', score: 1 }),
        ],
        [],
        '2025-01-01',
      ).daily.at(-1)?.components.sleep;
    assert.deepEqual([at(3), at(5.5), at(7), at(9), at(10.5), at(12)], [0, 0.5, 1, 1, 0.5, 0]);
  });

  test('trends: the least-squares slope per week over 7 and 30 days, and its direction', () => {
    const entries = Array.from({ length: 30 }, (_, i) =>
      day(`2025-01-${String(i + 1).padStart(2, '0')}`, i / 29),
    ).flat();
    const insights = computeInsights(entries, [], '2025-01-30');
    assert.equal(insights.trend30?.covered, 30);
    assert.ok(Math.abs((insights.trend30?.slopePerWeek ?? 0) - (7 * 100) / 29) < 1e-9);
    assert.equal(insights.trend30?.direction, 'improving');
    assert.equal(insights.trend7?.days, 7);
    assert.equal(insights.band, 'very-good');
    const flat = computeInsights(
      Array.from({ length: 7 }, (_, i) => day(`2025-01-0${i + 1}`, 0.5)).flat(),
      [],
      '2025-01-07',
    );
    assert.deepEqual(
      [flat.trend7?.direction, flat.trend7?.slopePerWeek, flat.fwi, flat.band],
      ['steady', 0, 50, 'fair'],
    );
    // Fewer than three days with an FWI: no mean, no trend, nothing to share.
    const sparse = computeInsights([...day('2025-01-01', 1), ...day('2025-01-05', 1)], [], '2025-01-07');
    assert.deepEqual([sparse.trend7, sparse.fwi, sparse.band], [undefined, undefined, undefined]);
  });

  test('adherence counts check-ins due in the 30-day window, planned against completed', () => {
    const checkIns = [
      { dueDate: '2025-01-30', completed: true },
      { dueDate: '2025-01-10', completed: false },
      { dueDate: '2025-01-01', completed: true },
      { dueDate: '2024-12-31', completed: false }, // Before the window.
      { dueDate: '2025-01-31', completed: false }, // After it.
    ];
    assert.deepEqual(computeInsights([], checkIns, '2025-01-30').adherence, {
      planned: 3,
      completed: 2,
      percent: 67,
    });
    assert.equal(computeInsights([], [], '2025-01-30').adherence, undefined);
  });

  test('the same entries give the same insights, in whatever order they were logged', () => {
    const entries = Array.from({ length: 60 }, (_, i) =>
      day(new Date(Date.UTC(2025, 0, 1 + i)).toISOString().slice(0, 10), (i % 7) / 6),
    ).flat();
    const shuffled = [...entries].reverse();
    assert.deepEqual(computeInsights(entries, [], '2025-03-01'), computeInsights(shuffled, [], '2025-03-01'));
  });
});

describe('shared insights as FHIR Observations', () => {
  const entries = Array.from({ length: 30 }, (_, i) =>
    day(`2025-01-${String(i + 1).padStart(2, '0')}`, 0.8),
  ).flat();
  const insights = computeInsights(entries, [{ dueDate: '2025-01-20', completed: true }], '2025-01-30');
  let id = 0;
  const made = insightObservations(
    insights,
    '2025-01-30T12:00:00.000Z',
    () => `o${id++}`,
    (days) => (days === 7 ? '2025-01-24' : '2025-01-01'),
  );

  test('each is of one insight kind, coded (LOINC where one exists), valued, dated and derived from a kind of source', () => {
    assert.deepEqual([...new Set(made.map((m) => m.kind))].sort(), [
      'adherence',
      'fwi',
      'pattern',
      'summary',
      'trend',
    ]);
    for (const { kind, observation } of made) {
      assert.equal(kindOf(observation.code), kind);
      assert.equal(observation.status, 'final');
      assert.ok((observation.category?.length ?? 0) >= 1);
      assert.ok(observation.valueQuantity !== undefined || observation.valueCodeableConcept !== undefined);
      assert.equal(observation.effectivePeriod?.end, '2025-01-30');
      assert.ok(
        observation.derivedFrom?.every((r) => r.identifier?.value !== undefined && r.reference === undefined),
      );
      // Shaped for the wire: the decoder accepts each as it is.
      decodeWellnessItem({
        kind: 'insights',
        tier: 'clinical',
        roles: {},
        asOf: '2025-01-30',
        observations: [observation],
      });
    }
    const loinc = made.filter((m) => m.observation.code.coding?.[0]?.system === 'http://loinc.org');
    assert.deepEqual(loinc.map((m) => m.observation.code.coding?.[0]?.code).sort(), [
      '41950-7',
      '55411-3',
      '93832-4',
    ]);
    const steps = loinc.find((m) => m.observation.code.coding?.[0]?.code === '41950-7')?.observation;
    assert.deepEqual(steps?.valueQuantity, {
      value: 8000,
      unit: 'steps/day',
      system: 'http://unitsofmeasure.org',
      code: '/d',
    });
  });
});

describe('raw entries in the vault', () => {
  test('are kept, listed by day and kind, deleted, and unreadable on disk', async () => {
    const dataDir = tempDir();
    const client = await Client.open(clientOptions(dataDir, []));
    const wellness = client.wellness;
    const secret = 'a journal line no file may show';
    await wellness.log({ kind: 'journal', date: '2025-02-01', text: secret });
    const sleep = await wellness.log({ kind: 'sleep', date: '2025-01-31', hours: 7.5, quality: 4 });
    await wellness.log({ kind: 'mood', date: '2025-02-02', score: 4 });
    assert.deepEqual(
      (await wellness.entries()).map((e) => e.kind),
      ['sleep', 'journal', 'mood'],
    );
    assert.deepEqual(
      (await wellness.entries({ from: '2025-02-01', kind: 'mood' })).map((e) => e.date),
      ['2025-02-02'],
    );
    await assert.rejects(wellness.log({ kind: 'mood', date: '2025-02-30', score: 4 }), ArgumentError);
    await assert.rejects(wellness.log({ kind: 'mood', date: '2025-02-03', score: 6 }), ArgumentError);
    assert.equal(await wellness.deleteEntry(sleep.id), true);
    assert.equal(await wellness.deleteEntry(sleep.id), false);
    await client.close();
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) =>
        statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : [join(dir, name)],
      );
    for (const file of files(dataDir)) assert.ok(!readFileSync(file).includes(secret));
    const again = await Client.open(clientOptions(dataDir, []));
    assert.deepEqual(
      (await again.wellness.entries()).map((e) => e.kind),
      ['journal', 'mood'],
    );
    await again.close();
  });
});

describe('raw entries logged together', () => {
  test('are checked first, kept in order across months, and each month is written once', async () => {
    // The vault as the client opens it, with its entry writes counted: the seam at the storage boundary.
    const options = clientOptions(tempDir(), []);
    const writes: string[] = [];
    const storage = {
      async open(passphrase: Parameters<typeof options.storage.open>[0]) {
        const vault = await options.storage.open(passphrase);
        return {
          ...vault,
          get: vault.get.bind(vault),
          delete: vault.delete.bind(vault),
          list: vault.list.bind(vault),
          wipe: vault.wipe.bind(vault),
          close: vault.close.bind(vault),
          put(name: string, value: Uint8Array) {
            if (name.startsWith('wellness/entries/')) writes.push(name);
            return vault.put(name, value);
          },
        };
      },
    };
    const client = await Client.open({ ...options, storage });
    const wellness = client.wellness;
    await wellness.log({ kind: 'mood', date: '2025-01-30', score: 2 });
    writes.length = 0;
    const batch = [
      { kind: 'sleep', date: '2025-01-31', hours: 8 },
      { kind: 'mood', date: '2025-02-01', score: 5 },
      { kind: 'activity', date: '2025-01-31', steps: 9000 },
    ] as const;
    // One bad entry anywhere in the batch: nothing of it is kept.
    await assert.rejects(
      wellness.logMany([...batch, { kind: 'mood', date: '2025-02-02', score: 9 }]),
      ArgumentError,
    );
    assert.equal((await wellness.entries()).length, 1);
    const stored = await wellness.logMany(batch);
    assert.deepEqual(
      stored.map((e) => [e.kind, e.date]),
      batch.map((e) => [e.kind, e.date]),
    );
    assert.equal(new Set(stored.map((e) => e.id)).size, 3);
    assert.deepEqual(
      (await wellness.entries()).map((e) => [e.kind, e.date]),
      [
        ['mood', '2025-01-30'],
        ['sleep', '2025-01-31'],
        ['activity', '2025-01-31'],
        ['mood', '2025-02-01'],
      ],
    );
    assert.deepEqual(writes.sort(), ['wellness/entries/2025-01', 'wellness/entries/2025-02']);
    await client.close();
  });
});

describe('wellness items on the wire', () => {
  const band = {
    resourceType: 'Observation',
    id: 'o1',
    status: 'final',
    category: [{ coding: [{ system: 'urn:umbra:fhir:wellness', code: 'derived-insight' }] }],
    code: { coding: [{ system: 'urn:umbra:fhir:wellness', code: 'fwi-band' }] },
    effectivePeriod: { start: '2025-01-24', end: '2025-01-30' },
    issued: '2025-01-30T12:00:00.000Z',
    valueCodeableConcept: { coding: [{ system: 'urn:umbra:fhir:wellness', code: 'good' }] },
    derivedFrom: [
      {
        identifier: { system: 'urn:umbra:fhir:wellness:source', value: 'mood-log' },
        display: 'on-device mood log',
      },
    ],
  };
  const item = {
    kind: 'insights',
    tier: 'circle',
    roles: { fred: 'friend' },
    asOf: '2025-01-30',
    observations: [band],
  };

  test('round trip through the envelope; fields umbra does not use are dropped', () => {
    const id = new Uint8Array(16).fill(7);
    const extra = { ...item, observations: [{ ...band, note: [{ text: 'raw data smuggled in' }] }] };
    const decoded = decodeEnvelope(
      encodeEnvelope({ id, sentAt: 1, content: { wellness: extra as unknown as WellnessItem } }),
    );
    assert.deepEqual(decoded.content, { wellness: item });
  });

  test('malformed or oversized items are CodecErrors when received and ArgumentErrors when sent', () => {
    const bad: unknown[] = [
      { ...item, kind: 'unknown' },
      { ...item, tier: 'everyone' },
      { ...item, roles: { fred: 'boss' } },
      { ...item, roles: JSON.parse('{"__proto__": "friend", "\\u0000": "friend"}') },
      { ...item, asOf: '30/01/2025' },
      { ...item, observations: [{ ...band, resourceType: 'Patient' }] },
      { ...item, observations: [{ ...band, id: 'has spaces' }] },
      { ...item, observations: Array.from({ length: MAX_OBSERVATIONS + 1 }, () => band) },
      { kind: 'check-in', task: { resourceType: 'Task', id: 't', status: 'completed' } },
      [item],
      null,
    ];
    for (const value of bad) {
      assert.throws(() => decodeWellnessItem(value), CodecError);
      assert.throws(
        () =>
          encodeEnvelope({ id: new Uint8Array(16), sentAt: 0, content: { wellness: value as WellnessItem } }),
        ArgumentError,
      );
    }
    const huge = `{"v":1,"id":"${'A'.repeat(22)}","sentAt":0,"type":"wellness","wellness":${JSON.stringify({ ...item, pad: 'x'.repeat(70_000) })}}`;
    assert.throws(
      () => decodeEnvelope(new TextEncoder().encode(huge)),
      (e: unknown) => e instanceof CodecError && e.reason === 'too_long',
    );
  });

  test('any JSON at all: the decoder returns an item or throws CodecError, nothing else', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom('team', 'insights', 'reminder', 'check-in', 'check-in-answer'),
        (value, kind) => {
          for (const input of [
            value,
            typeof value === 'object' && value !== null ? { ...value, kind } : value,
          ]) {
            try {
              decodeWellnessItem(input);
            } catch (error) {
              if (!(error instanceof CodecError)) throw error;
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
