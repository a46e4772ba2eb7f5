/**
 * Configuration for the server roles: a typed schema of options, a JSON config file, and command-line flags
 * that override it (defaults < file < flags). Flags are the kebab-case option names, as `--name value` or
 * `--name=value`; a boolean flag alone means true; a list option takes repeated flags or commas, and flags
 * replace the file's list rather than extend it. `--config <path>` names the file. Anything the schema does
 * not know, in the file or on the command line, is refused, because a misspelt option silently ignored is
 * how a node ends up in development mode in production. Every refusal is a `ConfigError` that names the
 * option, where it came from, and what was expected; values of `secret` options are never repeated.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

interface BaseSpec {
  readonly description: string;
  /** Never echo the value in errors (passwords, connection strings). */
  readonly secret?: boolean;
}

export interface StringSpec extends BaseSpec {
  readonly type: 'string';
  readonly default?: string;
  readonly required?: boolean;
  readonly choices?: readonly string[];
}

export interface NumberSpec extends BaseSpec {
  /** 'integer' accepts safe integers only. */
  readonly type: 'integer' | 'number';
  readonly default?: number;
  readonly required?: boolean;
  readonly min?: number;
  readonly max?: number;
}

export interface BooleanSpec extends BaseSpec {
  readonly type: 'boolean';
  /** Default false. */
  readonly default?: boolean;
}

export interface ListSpec extends BaseSpec {
  readonly type: 'list';
  /** Default empty. */
  readonly default?: readonly string[];
}

export type OptionSpec = StringSpec | NumberSpec | BooleanSpec | ListSpec;
export type ConfigSchema = Readonly<Record<string, OptionSpec>>;

type OptionValue<S extends OptionSpec> = S extends StringSpec
  ? S extends { readonly choices: readonly (infer C)[] }
    ? C
    : string
  : S extends NumberSpec
    ? number
    : S extends BooleanSpec
      ? boolean
      : readonly string[];

type AlwaysSet<S extends OptionSpec> = S extends BooleanSpec | ListSpec
  ? true
  : S extends { readonly default: unknown } | { readonly required: true }
    ? true
    : false;

/** The configuration a schema describes: options without a default and not required may be undefined. */
export type ConfigOf<Schema extends ConfigSchema> = {
  readonly [K in keyof Schema]: AlwaysSet<Schema[K]> extends true
    ? OptionValue<Schema[K]>
    : OptionValue<Schema[K]> | undefined;
};

export interface LoadConfigOptions {
  /** A config file to read when no `--config` flag is given. */
  readonly file?: string;
}

const CONFIG_FLAG = 'config';

/** `epochPeriodMs` → `epoch-period-ms`. */
export function flagName(option: string): string {
  return option.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function describeValue(spec: OptionSpec, value: unknown): string {
  if (spec.secret) return '';
  const text = JSON.stringify(value) ?? String(value);
  return `, got ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`;
}

function expectation(spec: OptionSpec): string {
  switch (spec.type) {
    case 'string':
      return spec.choices ? `one of ${spec.choices.join(', ')}` : 'a string';
    case 'integer':
    case 'number': {
      const kind = spec.type === 'integer' ? 'an integer' : 'a number';
      if (spec.min !== undefined && spec.max !== undefined) return `${kind} from ${spec.min} to ${spec.max}`;
      if (spec.min !== undefined) return `${kind} of at least ${spec.min}`;
      if (spec.max !== undefined) return `${kind} of at most ${spec.max}`;
      return kind;
    }
    case 'boolean':
      return 'true or false';
    case 'list':
      return 'a list of strings';
  }
}

/** Checks a value already of the right JavaScript type against the spec's range and choices. */
function checkValue(name: string, spec: OptionSpec, value: unknown, source: string): unknown {
  const invalid = () =>
    new ConfigError(
      'invalid_value',
      `${name} (${source}): expected ${expectation(spec)}${describeValue(spec, value)}`,
    );
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string' || (spec.choices && !spec.choices.includes(value))) throw invalid();
      return value;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid();
      if (spec.type === 'integer' && !Number.isSafeInteger(value)) throw invalid();
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw invalid();
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw invalid();
      return value;
    case 'list':
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw invalid();
      return Object.freeze([...value]);
  }
}

/** Turns a flag's text into the option's type; range checks follow in `checkValue`. */
function parseFlagValue(name: string, spec: OptionSpec, text: string): unknown {
  switch (spec.type) {
    case 'string':
      return text;
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : text;
    case 'number':
      return text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      return text;
    case 'list':
      throw new ConfigError('invalid_value', `${name}: lists are collected, not parsed`);
  }
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ConfigError(
      'unreadable_file',
      `cannot read the config file ${path}${code ? ` (${String(code)})` : ''}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the file's text, which may hold a secret: say where, not what.
    throw new ConfigError('malformed_file', `${path} is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('malformed_file', `${path} must hold a JSON object of options`);
  }
  return parsed as Record<string, unknown>;
}

interface Flag {
  readonly name: string;
  readonly value: string | undefined;
  readonly display: string;
}

/** Splits argv into flags, pairing `--name value` where the option takes a value. */
function splitFlags(
  schema: ConfigSchema,
  byFlag: ReadonlyMap<string, string>,
  argv: readonly string[],
): Flag[] {
  const flags: Flag[] = [];
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    if (!argument.startsWith('--') || argument === '--') {
      throw new ConfigError('unknown_option', `unexpected argument ${JSON.stringify(argument)}`);
    }
    const equals = argument.indexOf('=');
    const flag = equals === -1 ? argument.slice(2) : argument.slice(2, equals);
    const display = `--${flag}`;
    const option = flag === CONFIG_FLAG ? CONFIG_FLAG : byFlag.get(flag);
    if (option === undefined) throw new ConfigError('unknown_option', `${display} is not an option`);
    if (equals !== -1) {
      flags.push({ name: option, value: argument.slice(equals + 1), display });
      continue;
    }
    const next = argv[index + 1];
    const takesValue = option === CONFIG_FLAG || schema[option]?.type !== 'boolean';
    const nextIsValue = next !== undefined && !next.startsWith('--');
    if (takesValue && !nextIsValue) throw new ConfigError('missing_value', `${display} needs a value`);
    if (!takesValue && (next === 'true' || next === 'false')) {
      flags.push({ name: option, value: next, display });
      index++;
      continue;
    }
    flags.push({ name: option, value: takesValue ? next : undefined, display });
    if (takesValue) index++;
  }
  return flags;
}

/** Defaults, then the config file, then the flags in `argv`; every value checked against `schema`. */
export function loadConfig<S extends ConfigSchema>(
  schema: S,
  argv: readonly string[],
  options: LoadConfigOptions = {},
): ConfigOf<S> {
  if (Object.hasOwn(schema, CONFIG_FLAG)) {
    throw new ConfigError('unknown_option', `"${CONFIG_FLAG}" is reserved for the config file flag`);
  }
  const byFlag = new Map(Object.keys(schema).map((name) => [flagName(name), name]));
  const flags = splitFlags(schema, byFlag, argv);

  const values = new Map<string, unknown>();
  for (const [name, spec] of Object.entries(schema)) {
    if (spec.default !== undefined) values.set(name, checkValue(name, spec, spec.default, 'default'));
    else if (spec.type === 'boolean') values.set(name, false);
    else if (spec.type === 'list') values.set(name, Object.freeze([]));
  }

  const file = flags.findLast((flag) => flag.name === CONFIG_FLAG)?.value ?? options.file;
  if (file !== undefined) {
    for (const [name, value] of Object.entries(readConfigFile(file))) {
      const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
      if (spec === undefined)
        throw new ConfigError('unknown_option', `${name} (in ${file}) is not an option`);
      values.set(name, checkValue(name, spec, value, `in ${file}`));
    }
  }

  const listsFromFlags = new Map<string, string[]>();
  for (const { name, value, display } of flags) {
    if (name === CONFIG_FLAG) continue;
    const spec = schema[name] as OptionSpec;
    if (spec.type === 'list') {
      const items = (value ?? '').split(',').map((item) => item.trim());
      const list = listsFromFlags.get(name) ?? [];
      list.push(...items.filter((item) => item !== ''));
      listsFromFlags.set(name, list);
      continue;
    }
    const parsed = value === undefined ? true : parseFlagValue(name, spec, value);
    values.set(name, checkValue(name, spec, parsed, display));
  }
  for (const [name, list] of listsFromFlags) values.set(name, Object.freeze(list));

  for (const [name, spec] of Object.entries(schema)) {
    if ((spec.type === 'string' || spec.type === 'integer' || spec.type === 'number') && spec.required) {
      if (!values.has(name)) {
        throw new ConfigError(
          'missing_value',
          `${name} is required: pass --${flagName(name)} or set "${name}" in a config file`,
        );
      }
    }
  }
  return Object.freeze(Object.fromEntries(values)) as ConfigOf<S>;
}

/** One line per option, for `--help`. */
export function describeOptions(schema: ConfigSchema): string {
  const rows = Object.entries(schema).map(([name, spec]) => {
    const flag = `--${flagName(name)}${spec.type === 'boolean' ? '' : ` <${spec.type === 'list' ? 'a,b,…' : spec.type}>`}`;
    const notes: string[] = [];
    if ('required' in spec && spec.required) notes.push('required');
    if (spec.default !== undefined && !spec.secret) notes.push(`default ${JSON.stringify(spec.default)}`);
    if (spec.type === 'string' && spec.choices) notes.push(`one of ${spec.choices.join(', ')}`);
    return { flag, text: `${spec.description}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}` };
  });
  rows.unshift({ flag: '--config <path>', text: 'a JSON file of options; flags override it' });
  const width = Math.max(...rows.map((row) => row.flag.length));
  return rows.map((row) => `  ${row.flag.padEnd(width)}  ${row.text}`).join('\n');
}
