/**
 * Structured logs for every server role, written by `pino`: one JSON object per line, `{ level, time, role,
 * msg, fields }`, in the shape log shippers (Loki, Elasticsearch, journald's JSON mode) ingest without
 * parsing rules; or, for a person at a terminal (`umbra up` on a TTY), one short readable line per record.
 * Logs leave the machine, so they are treated as public. pino's own redaction works by path (`a.b.key`),
 * which cannot name "every field, at any depth, whose name contains a sensitive word", so redaction is the
 * log formatter pino runs on every record (`formatters.log`): every field whose name contains a word from the
 * redaction list (keys, packets, payloads, handles, routing IDs, addresses, ...) is printed as "[redacted]"
 * unless the operator reveals that name, byte arrays are printed only as their length whatever their name,
 * strings are truncated, and errors keep only their class, code, reason and message (the error catalog keeps
 * secrets out of messages). The message text itself is never inspected: callers pass a constant string and
 * put every variable part in `fields`.
 */
import { pino } from 'pino';
import { ArgumentError } from '../errors.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Words that mark a field as sensitive. A field is redacted when its name, split into words (camelCase,
 * snake_case, kebab-case), contains one of them or its plural: `secretKey`, `client_address` and `routingIds`
 * all are. Over-redacting a harmless field costs a little debugging; under-redacting leaks who talks to whom.
 */
export const DEFAULT_REDACTED_FIELDS: readonly string[] = [
  'key',
  'secret',
  'seed',
  'passphrase',
  'password',
  'token',
  'signature',
  'packet',
  'payload',
  'plaintext',
  'ciphertext',
  'body',
  'content',
  'text',
  'surb',
  'handle',
  'routingId',
  'mailbox',
  'inbox',
  'recipient',
  'sender',
  'user',
  'address',
  'ip',
];

export const REDACTED = '[redacted]';
const MAX_STRING_LENGTH = 1024;
const MAX_DEPTH = 6;

export interface LoggerOptions {
  /** The process's role: 'directory', 'gateway', 'mix', 'delivery'. */
  readonly role: string;
  /** Lowest level written; default 'info'. */
  readonly level?: LogLevel;
  /** Extra words to redact, on top of `DEFAULT_REDACTED_FIELDS`. */
  readonly redact?: readonly string[];
  /**
   * Field names or words the operator chooses to see, e.g. ['clientAddress'] for that field alone or
   * ['address'] for every address. Byte arrays stay hidden whatever is revealed.
   */
  readonly reveal?: readonly string[];
  /** Receives each line without its newline; default writes it to standard output. */
  readonly sink?: (line: string) => void;
  /** Readable lines (`prettyLine`) instead of JSON, for a person at a terminal. */
  readonly pretty?: boolean;
  /** Milliseconds since the Unix epoch; default Date.now. */
  readonly now?: () => number;
}

export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (a component name, a node id). */
  child(fields: LogFields): Logger;
}

/** Lower-case words of a field name: 'clientIPAddress' → ['client', 'ip', 'address']. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}

function normalize(name: string): string {
  return words(name).join('');
}

class Redactor {
  readonly #terms: ReadonlySet<string>;
  readonly #revealed: ReadonlySet<string>;
  readonly #verdicts = new Map<string, boolean>();

  constructor(redact: readonly string[], reveal: readonly string[]) {
    this.#revealed = new Set(reveal.map(normalize));
    this.#terms = new Set(redact.map(normalize).filter((term) => term !== '' && !this.#revealed.has(term)));
  }

  hides(name: string): boolean {
    let verdict = this.#verdicts.get(name);
    if (verdict === undefined) {
      verdict = this.#decide(name);
      if (this.#verdicts.size < 10_000) this.#verdicts.set(name, verdict);
    }
    return verdict;
  }

  #decide(name: string): boolean {
    const parts = words(name);
    if (this.#revealed.has(parts.join(''))) return false;
    for (let start = 0; start < parts.length; start++) {
      let run = '';
      for (let end = start; end < parts.length; end++) {
        run += parts[end];
        if (this.#terms.has(run) || this.#terms.has(run.replace(/e?s$/, ''))) return true;
      }
    }
    return false;
  }

  /** A JSON-safe copy of `value` with sensitive fields replaced. */
  clean(value: unknown, depth: number, seen: Set<object>): unknown {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
    if (typeof value === 'string') {
      return value.length > MAX_STRING_LENGTH ? `${value.slice(0, MAX_STRING_LENGTH)}…[truncated]` : value;
    }
    if (typeof value === 'bigint') return value.toString();
    if (typeof value !== 'object') return value === undefined ? undefined : `[${typeof value}]`;
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
    if (seen.has(value)) return '[circular]';
    if (depth >= MAX_DEPTH) return '[nested]';
    seen.add(value);
    try {
      if (value instanceof Error) return this.#cleanError(value, depth, seen);
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
      if (value instanceof Map) return `[Map of ${value.size}]`;
      if (value instanceof Set) return `[Set of ${value.size}]`;
      if (Array.isArray(value)) return value.map((item) => this.clean(item, depth + 1, seen) ?? null);
      const source = hasToJSON(value) ? value.toJSON() : value;
      if (source !== value) return this.clean(source, depth + 1, seen);
      return this.cleanFields(value as Record<string, unknown>, depth + 1, seen);
    } finally {
      seen.delete(value);
    }
  }

  cleanFields(
    fields: Readonly<Record<string, unknown>>,
    depth: number,
    seen: Set<object>,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      out[name] = this.hides(name) ? REDACTED : this.clean(value, depth, seen);
    }
    return out;
  }

  #cleanError(error: Error, depth: number, seen: Set<object>): Record<string, unknown> {
    const described: Record<string, unknown> = { name: error.name, message: error.message };
    const record = error as Error & { code?: unknown; reason?: unknown; cause?: unknown };
    if (typeof record.code === 'string') described.code = record.code;
    if (typeof record.reason === 'string') described.reason = record.reason;
    if (record.cause !== undefined) described.cause = this.clean(record.cause, depth + 1, seen);
    return described;
  }
}

function hasToJSON(value: object): value is { toJSON(): unknown } {
  return typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** `12:03:04.567 INFO  mix: round forwarded round=7 size=32`, for a person at a terminal. */
export function prettyLine(json: string): string {
  const { time, level, role, msg, fields } = JSON.parse(json) as {
    time: string;
    level: string;
    role: string;
    msg: string;
    fields?: Record<string, unknown>;
  };
  const pairs = Object.entries(fields ?? {}).map(
    ([name, value]) => ` ${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
  return `${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${role}: ${msg}${pairs.join('')}`;
}

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) throw new ArgumentError('level', `expected one of ${LOG_LEVELS.join(', ')}`);
  if (typeof options.role !== 'string' || options.role === '') {
    throw new ArgumentError('role', 'expected a non-empty string');
  }
  const redactor = new Redactor(
    [...DEFAULT_REDACTED_FIELDS, ...(options.redact ?? [])],
    options.reveal ?? [],
  );
  const now = options.now ?? Date.now;
  const format = options.pretty ? prettyLine : (line: string) => line;
  const sink = options.sink;
  const destination =
    sink === undefined && !options.pretty
      ? pino.destination({ dest: 1, sync: true })
      : { write: (chunk: string) => (sink ?? writeLine)(format(chunk.slice(0, -1))) };
  const base = pino(
    {
      level,
      base: { role: options.role },
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date(now()).toISOString()}"`,
      formatters: {
        level: (label) => ({ level: label }),
        log: (record) => {
          const cleaned = redactor.cleanFields(record, 0, new Set());
          return Object.keys(cleaned).length > 0 ? { fields: cleaned } : {};
        },
      },
    },
    destination,
  );

  function build(bound: LogFields): Logger {
    const write = (lineLevel: LogLevel, msg: string, fields: LogFields | undefined) => {
      if (!base.isLevelEnabled(lineLevel)) return;
      base[lineLevel]({ ...bound, ...fields }, String(msg));
    };
    return {
      level,
      debug: (msg, fields) => write('debug', msg, fields),
      info: (msg, fields) => write('info', msg, fields),
      warn: (msg, fields) => write('warn', msg, fields),
      error: (msg, fields) => write('error', msg, fields),
      child: (fields) => build({ ...bound, ...fields }),
    };
  }
  return build({});
}

function writeLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A logger that drops everything: the default for library use and tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ role: 'silent', level: 'error', sink: () => {} });
