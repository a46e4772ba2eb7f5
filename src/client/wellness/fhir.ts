/**
 * Shared insights, reminders and check-ins as FHIR R4 resources (issue 16; types from @medplum/fhirtypes,
 * imported as types only): each insight an `Observation` with a category, a code (LOINC where one exists,
 * else umbra's own code system), a value, the period it covers and a `derivedFrom` reference naming the kind
 * of on-device source it was computed from — never the source data; a session reminder a
 * `CommunicationRequest`; a check-in a `Task`, answered by the same `Task` completed.
 *
 * No subject, performer or other identifier of a person is set: the MLS sender authenticates who shares,
 * and a supporter's app knows whose conversation it reads.
 */
import type {
  CodeableConcept,
  CommunicationRequest,
  Observation,
  ObservationComponent,
  Quantity,
  Reference,
  Task,
} from '@medplum/fhirtypes';
import type { Insights, Trend } from './insights.ts';
import type { InsightKind } from './roles.ts';

/** umbra's own code system, for what LOINC has no code for (the project has no domain: a URN names it). */
export const WELLNESS_SYSTEM = 'urn:umbra:fhir:wellness';
export const LOINC_SYSTEM = 'http://loinc.org';
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** The codes of shared Observations and the insight kind (roles.ts) each belongs to. */
export const OBSERVATION_CODES = {
  band: {
    system: WELLNESS_SYSTEM,
    code: 'fwi-band',
    kind: 'summary',
    display: 'Wellness summary (FWI band)',
  },
  fwi: {
    system: WELLNESS_SYSTEM,
    code: 'fwi',
    kind: 'fwi',
    display: 'Functional Wellness Index, 7-day mean (a wellness indicator, not a clinical score)',
  },
  trend: { system: WELLNESS_SYSTEM, code: 'fwi-trend', kind: 'trend', display: 'FWI trend' },
  adherence: {
    system: WELLNESS_SYSTEM,
    code: 'check-in-adherence',
    kind: 'adherence',
    display: 'Check-in adherence',
  },
  steps: {
    system: LOINC_SYSTEM,
    code: '41950-7',
    kind: 'pattern',
    display: 'Number of steps in 24 hour Measured',
  },
  exercise: { system: LOINC_SYSTEM, code: '55411-3', kind: 'pattern', display: 'Exercise duration' },
  sleep: { system: LOINC_SYSTEM, code: '93832-4', kind: 'pattern', display: 'Sleep duration' },
  mood: {
    system: WELLNESS_SYSTEM,
    code: 'mood-mean',
    kind: 'pattern',
    display: 'Mean self-rated mood (1-5)',
  },
  fruitVeg: {
    system: WELLNESS_SYSTEM,
    code: 'fruit-veg-servings',
    kind: 'pattern',
    display: 'Fruit and vegetable servings per day',
  },
} as const satisfies Record<string, { system: string; code: string; kind: InsightKind; display: string }>;

/** Where an insight came from, by kind of on-device source (docs/wellness.md lists them). */
export type SourceKind = 'activity-log' | 'sleep-log' | 'mood-log' | 'nutrition-log' | 'check-ins';
const SOURCE_DISPLAY: Readonly<Record<SourceKind, string>> = {
  'activity-log': 'on-device activity log',
  'sleep-log': 'on-device sleep log',
  'mood-log': 'on-device mood log',
  'nutrition-log': 'on-device nutrition log',
  'check-ins': 'check-ins answered on the device',
};
const FWI_SOURCES: readonly SourceKind[] = ['activity-log', 'sleep-log', 'mood-log', 'nutrition-log'];

/** The insight kind of an Observation's code, or undefined for a code umbra does not share. */
export function kindOf(code: CodeableConcept | undefined): InsightKind | undefined {
  const coding = code?.coding?.[0];
  for (const known of Object.values(OBSERVATION_CODES)) {
    if (coding?.system === known.system && coding.code === known.code) return known.kind;
  }
  return undefined;
}

type CodeName = keyof typeof OBSERVATION_CODES;

function concept(name: CodeName): CodeableConcept {
  const { system, code, display } = OBSERVATION_CODES[name];
  return { coding: [{ system, code, display }] };
}

function wellnessConcept(code: string): CodeableConcept {
  return { coding: [{ system: WELLNESS_SYSTEM, code }] };
}

function quantity(value: number, decimals: number, unit: string, code: string): Quantity {
  const scale = 10 ** decimals;
  return { value: Math.round(value * scale) / scale, unit, system: UCUM_SYSTEM, code };
}

/**
 * A logical reference to a kind of source, not to a resource: no data of it is shared. Logs are typed as
 * Observations; answered check-ins are Tasks, a type R4's derivedFrom does not list, so they carry none.
 */
function source(kind: SourceKind): Reference<Observation> {
  return {
    ...(kind === 'check-ins' ? {} : { type: 'Observation' }),
    identifier: { system: `${WELLNESS_SYSTEM}:source`, value: kind },
    display: SOURCE_DISPLAY[kind],
  };
}

/** What every shared Observation of one bundle has in common. */
interface Common {
  readonly id: () => string;
  readonly issued: string;
  readonly asOf: string;
  readonly start: (days: number) => string;
}

function observation(
  common: Common,
  name: CodeName,
  days: number,
  sources: readonly SourceKind[],
  value: Pick<Observation, 'valueQuantity' | 'valueCodeableConcept' | 'component'>,
): Observation {
  const fhirCategory = OBSERVATION_CODES[name].kind === 'pattern' && name !== 'mood' ? 'activity' : 'survey';
  return {
    resourceType: 'Observation',
    id: common.id(),
    status: 'final',
    category: [
      { coding: [{ system: OBSERVATION_CATEGORY_SYSTEM, code: fhirCategory }] },
      wellnessConcept('derived-insight'),
    ],
    code: concept(name),
    effectivePeriod: { start: common.start(days), end: common.asOf },
    issued: common.issued,
    ...value,
    derivedFrom: sources.map(source),
  };
}

function trendObservation(common: Common, trend: Trend): Observation {
  const components: ObservationComponent[] = [
    { code: wellnessConcept('fwi-mean'), valueQuantity: quantity(trend.mean, 1, 'score', '{score}') },
    { code: wellnessConcept('direction'), valueCodeableConcept: wellnessConcept(trend.direction) },
    { code: wellnessConcept('days-covered'), valueInteger: trend.covered },
  ];
  return observation(common, 'trend', trend.days, FWI_SOURCES, {
    valueQuantity: quantity(trend.slopePerWeek, 1, 'score/week', '{score}/wk'),
    component: components,
  });
}

/**
 * Every shareable Observation of `insights`, each with its insight kind; what is missing (too few days
 * logged, no check-in due) is left out rather than sent empty.
 */
export function insightObservations(
  insights: Insights,
  issued: string,
  id: () => string,
  start: (days: number) => string,
): { kind: InsightKind; observation: Observation }[] {
  const common: Common = { id, issued, asOf: insights.asOf, start };
  const made: [CodeName, Observation | undefined][] = [];
  const { fwi, band, trend7, trend30, adherence, patterns } = insights;
  if (band !== undefined) {
    made.push([
      'band',
      observation(common, 'band', 7, FWI_SOURCES, { valueCodeableConcept: wellnessConcept(band) }),
    ]);
  }
  if (fwi !== undefined) {
    made.push([
      'fwi',
      observation(common, 'fwi', 7, FWI_SOURCES, { valueQuantity: quantity(fwi, 1, 'score', '{score}') }),
    ]);
  }
  for (const trend of [trend7, trend30])
    if (trend !== undefined) made.push(['trend', trendObservation(common, trend)]);
  if (adherence !== undefined) {
    made.push([
      'adherence',
      observation(common, 'adherence', 30, ['check-ins'], {
        valueQuantity: quantity(adherence.percent, 0, '%', '%'),
        component: [
          { code: wellnessConcept('planned'), valueInteger: adherence.planned },
          { code: wellnessConcept('completed'), valueInteger: adherence.completed },
        ],
      }),
    ]);
  }
  const pattern = (
    name: CodeName,
    value: number | undefined,
    sourceKind: SourceKind,
    q: (v: number) => Quantity,
  ) => {
    if (value !== undefined)
      made.push([name, observation(common, name, 30, [sourceKind], { valueQuantity: q(value) })]);
  };
  pattern('steps', patterns.stepsPerDay, 'activity-log', (v) => quantity(v, 0, 'steps/day', '/d'));
  pattern('exercise', patterns.activeMinutesPerDay, 'activity-log', (v) =>
    quantity(v, 0, 'min/day', 'min/d'),
  );
  pattern('sleep', patterns.sleepHoursPerDay, 'sleep-log', (v) => quantity(v, 1, 'h/day', 'h/d'));
  pattern('mood', patterns.moodMean, 'mood-log', (v) => quantity(v, 1, 'score', '{score}'));
  pattern('fruitVeg', patterns.fruitVegPerDay, 'nutrition-log', (v) =>
    quantity(v, 1, 'servings/day', '{serving}/d'),
  );
  return made.flatMap(([name, obs]) =>
    obs === undefined ? [] : [{ kind: OBSERVATION_CODES[name].kind, observation: obs }],
  );
}

/** A session reminder from a coach or clinician, shown to the owner at `at`. */
export function reminderRequest(
  id: string,
  text: string,
  at: string,
  authoredOn: string,
): CommunicationRequest {
  return {
    resourceType: 'CommunicationRequest',
    id,
    status: 'active',
    category: [wellnessConcept('session-reminder')],
    payload: [{ contentString: text }],
    occurrenceDateTime: at,
    authoredOn,
  };
}

/** A check-in request: a question for the owner, due at `due`. */
export function checkInTask(id: string, question: string, due: string, authoredOn: string): Task {
  return {
    resourceType: 'Task',
    id,
    status: 'requested',
    intent: 'order',
    code: wellnessConcept('check-in'),
    description: question,
    authoredOn,
    restriction: { period: { start: due } },
  };
}

/** The owner's answer: the same Task, completed, with the answer as its output. */
export function answeredTask(task: Task, answer: string, answeredAt: string): Task {
  return {
    ...task,
    status: 'completed',
    lastModified: answeredAt,
    output: [{ type: wellnessConcept('check-in-answer'), valueString: answer }],
  };
}
