/**
 * The wellness layer's items inside application messages (content.ts, `"type": "wellness"`), and their strict
 * decoder. Everything received is untrusted: the decoder rebuilds each item from the fields umbra uses,
 * checked one by one (anything else is dropped), and throws `CodecError` — nothing else — on any input it
 * does not accept. The sender checks its own items with the same decoder (content.ts), so one definition of
 * the format serves both ends.
 *
 *     team             the owner names a tier conversation's tier and its members' roles (on invite, change)
 *     insights         the owner's derived insights for that tier: FHIR R4 Observations (fhir.ts)
 *     reminder         a coach's or clinician's session reminder: a FHIR CommunicationRequest
 *     check-in         a check-in request: a FHIR Task, requested
 *     check-in-answer  the owner's answer: that Task, completed
 */
import type {
  CodeableConcept,
  Coding,
  CommunicationRequest,
  Observation,
  ObservationComponent,
  Quantity,
  Reference,
  Task,
} from '@medplum/fhirtypes';
import { CodecError } from '../../errors.ts';
import { handleProblem } from '../../protocol/primitives.ts';
import { isSupporterRole, isTier, type SupporterRole, type Tier } from './roles.ts';

/** Largest item, as JSON in UTF-8: far above a bundle's few kilobytes, far below the message limit. */
export const MAX_WELLNESS_ITEM_BYTES = 64 * 1024;
/** Most Observations in one bundle, members named in one roster. */
export const MAX_OBSERVATIONS = 32;
export const MAX_ROSTER = 100;
/** Longest free text (a reminder, a question, an answer), in characters. */
export const MAX_ITEM_TEXT = 2000;

export type Roster = Readonly<Record<string, SupporterRole>>;

export type WellnessItem =
  | { readonly kind: 'team'; readonly tier: Tier; readonly roles: Roster }
  | {
      readonly kind: 'insights';
      readonly tier: Tier;
      readonly roles: Roster;
      readonly asOf: string;
      readonly observations: readonly Observation[];
    }
  | { readonly kind: 'reminder'; readonly request: CommunicationRequest }
  | { readonly kind: 'check-in'; readonly task: Task }
  | { readonly kind: 'check-in-answer'; readonly task: Task };

function fail(what: string): never {
  throw new CodecError('invalid_value', `wellness item: invalid ${what}`);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(what);
  return value as Record<string, unknown>;
}

function text(value: unknown, what: string, max = MAX_ITEM_TEXT): string {
  if (typeof value !== 'string' || value.length > max || !value.isWellFormed()) fail(what);
  return value;
}

function list(value: unknown, what: string, min: number, max: number): unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > max) fail(what);
  return value;
}

function literal<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) fail(what);
  return value as T;
}

/** FHIR's id type: 1 to 64 of A-Z a-z 0-9 - . */
function resourceId(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(value)) fail('id');
  return value;
}

/** The date and instant forms umbra writes: YYYY-MM-DD, or an ISO instant in UTC. */
function dateTime(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z)?$/.test(value)) {
    fail(what);
  }
  if (Number.isNaN(Date.parse(value))) fail(what);
  return value;
}

function finite(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(what);
  return value;
}

function integer(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value)) fail(what);
  return value as number;
}

/** `{ [name]: check(value) }` when present, `{}` when absent: optional fields stay absent. */
function optional<T>(
  record: Record<string, unknown>,
  name: string,
  check: (v: unknown) => T,
): Record<string, T> {
  return record[name] === undefined ? {} : { [name]: check(record[name]) };
}

function coding(value: unknown): Coding {
  const c = object(value, 'coding');
  return {
    system: text(c.system, 'coding.system', 200),
    code: text(c.code, 'coding.code', 64),
    ...optional(c, 'display', (v) => text(v, 'coding.display', 200)),
  };
}

function concept(value: unknown): CodeableConcept {
  const c = object(value, 'concept');
  return {
    coding: list(c.coding, 'concept.coding', 1, 4).map(coding),
    ...optional(c, 'text', (v) => text(v, 'concept.text', 200)),
  };
}

function quantity(value: unknown): Quantity {
  const q = object(value, 'quantity');
  return {
    value: finite(q.value, 'quantity.value'),
    unit: text(q.unit, 'quantity.unit', 64),
    system: text(q.system, 'quantity.system', 200),
    code: text(q.code, 'quantity.code', 64),
  };
}

function reference(value: unknown): Reference<Observation> {
  const r = object(value, 'reference');
  const identifier = object(r.identifier, 'reference.identifier');
  return {
    ...optional(r, 'type', (v) => literal(v, ['Observation'], 'reference.type')),
    identifier: {
      system: text(identifier.system, 'reference.identifier.system', 200),
      value: text(identifier.value, 'reference.identifier.value', 64),
    },
    display: text(r.display, 'reference.display', 200),
  };
}

function component(value: unknown): ObservationComponent {
  const c = object(value, 'component');
  return {
    code: concept(c.code),
    ...optional(c, 'valueQuantity', quantity),
    ...optional(c, 'valueCodeableConcept', concept),
    ...optional(c, 'valueInteger', (v) => integer(v, 'component.valueInteger')),
  };
}

function observation(value: unknown): Observation {
  const o = object(value, 'observation');
  literal(o.resourceType, ['Observation'], 'observation.resourceType');
  const period = object(o.effectivePeriod, 'observation.effectivePeriod');
  return {
    resourceType: 'Observation',
    id: resourceId(o.id),
    status: literal(o.status, ['final'], 'observation.status'),
    category: list(o.category, 'observation.category', 1, 4).map(concept),
    code: concept(o.code),
    effectivePeriod: {
      start: dateTime(period.start, 'observation.effectivePeriod.start'),
      end: dateTime(period.end, 'observation.effectivePeriod.end'),
    },
    issued: dateTime(o.issued, 'observation.issued'),
    ...optional(o, 'valueQuantity', quantity),
    ...optional(o, 'valueCodeableConcept', concept),
    ...optional(o, 'component', (v) => list(v, 'observation.component', 1, 8).map(component)),
    derivedFrom: list(o.derivedFrom, 'observation.derivedFrom', 1, 8).map(reference),
  };
}

function task(value: unknown, status: 'requested' | 'completed'): Task {
  const t = object(value, 'task');
  literal(t.resourceType, ['Task'], 'task.resourceType');
  const restriction = object(t.restriction, 'task.restriction');
  const period = object(restriction.period, 'task.restriction.period');
  const completed = status === 'completed';
  const output = completed ? object(list(t.output, 'task.output', 1, 1)[0], 'task.output') : undefined;
  return {
    resourceType: 'Task',
    id: resourceId(t.id),
    status: literal(t.status, [status], 'task.status'),
    intent: literal(t.intent, ['order'], 'task.intent'),
    code: concept(t.code),
    description: text(t.description, 'task.description'),
    authoredOn: dateTime(t.authoredOn, 'task.authoredOn'),
    restriction: { period: { start: dateTime(period.start, 'task.restriction.period.start') } },
    ...(output === undefined
      ? {}
      : {
          lastModified: dateTime(t.lastModified, 'task.lastModified'),
          output: [{ type: concept(output.type), valueString: text(output.valueString, 'task.output') }],
        }),
  };
}

function communicationRequest(value: unknown): CommunicationRequest {
  const r = object(value, 'request');
  literal(r.resourceType, ['CommunicationRequest'], 'request.resourceType');
  const payload = object(list(r.payload, 'request.payload', 1, 1)[0], 'request.payload');
  return {
    resourceType: 'CommunicationRequest',
    id: resourceId(r.id),
    status: literal(r.status, ['active'], 'request.status'),
    category: list(r.category, 'request.category', 1, 4).map(concept),
    payload: [{ contentString: text(payload.contentString, 'request.payload') }],
    occurrenceDateTime: dateTime(r.occurrenceDateTime, 'request.occurrenceDateTime'),
    authoredOn: dateTime(r.authoredOn, 'request.authoredOn'),
  };
}

function roster(value: unknown): Roster {
  const entries = Object.entries(object(value, 'roles'));
  if (entries.length > MAX_ROSTER) fail('roles');
  for (const [handle, role] of entries) {
    if (handleProblem(handle) !== undefined || !isSupporterRole(role)) fail('roles');
  }
  // fromEntries defines own properties: a handle such as "__proto__" cannot reach the prototype.
  return Object.fromEntries(entries) as Roster;
}

function tier(value: unknown): Tier {
  if (!isTier(value)) fail('tier');
  return value;
}

/** The item in `value` (parsed JSON), rebuilt from its checked fields; `CodecError` for anything else. */
export function decodeWellnessItem(value: unknown): WellnessItem {
  const item = object(value, 'item');
  switch (item.kind) {
    case 'team':
      return { kind: 'team', tier: tier(item.tier), roles: roster(item.roles) };
    case 'insights':
      return {
        kind: 'insights',
        tier: tier(item.tier),
        roles: roster(item.roles),
        asOf: dateTime(item.asOf, 'asOf'),
        observations: list(item.observations, 'observations', 0, MAX_OBSERVATIONS).map(observation),
      };
    case 'reminder':
      return { kind: 'reminder', request: communicationRequest(item.request) };
    case 'check-in':
      return { kind: 'check-in', task: task(item.task, 'requested') };
    case 'check-in-answer':
      return { kind: 'check-in-answer', task: task(item.task, 'completed') };
    default:
      return fail('kind');
  }
}
