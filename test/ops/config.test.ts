// Configuration loading: defaults < config file < flags, both flag spellings, booleans and lists, and every
// refusal as a ConfigError with its reason — unknown options (in the file or on the command line), missing
// and invalid values, unreadable and malformed files — with messages that name the option and its source
// and never repeat a secret value.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, type ConfigErrorReason } from '../../src/errors.ts';
import { type ConfigSchema, describeOptions, flagName, loadConfig } from '../../src/ops/config.ts';

const SCHEMA = {
  host: { type: 'string', default: '127.0.0.1', description: 'listen address' },
  port: { type: 'integer', default: 7700, min: 0, max: 65_535, description: 'listen port' },
  dataDir: { type: 'string', required: true, description: 'state directory' },
  devMode: { type: 'boolean', description: 'development mode' },
  withSurb: { type: 'boolean', default: true, description: 'reserve a SURB' },
  rate: { type: 'number', default: 2, min: 0.001, description: 'packets per second' },
  logLevel: {
    type: 'string',
    default: 'info',
    choices: ['debug', 'info', 'warn', 'error'],
    description: 'level',
  },
  allow: { type: 'list', description: 'allowed keys' },
  opsPort: { type: 'integer', min: 0, max: 65_535, description: 'ops port' },
  databasePassword: { type: 'string', secret: true, description: 'password' },
} as const satisfies ConfigSchema;

const directory = mkdtempSync(join(tmpdir(), 'umbra-config-'));
after(() => rmSync(directory, { recursive: true, force: true }));

function writeConfig(name: string, content: unknown): string {
  const path = join(directory, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function refusedWith(reason: ConfigErrorReason, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.reason, reason);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('loadConfig', () => {
  test('applies defaults; options without one are undefined, booleans false, lists empty', () => {
    const config = loadConfig(SCHEMA, ['--data-dir', '/var/lib/umbra']);
    assert.deepEqual(
      { ...config },
      {
        host: '127.0.0.1',
        port: 7700,
        dataDir: '/var/lib/umbra',
        devMode: false,
        withSurb: true,
        rate: 2,
        logLevel: 'info',
        allow: [],
      },
    );
    assert.equal(config.opsPort, undefined);
  });

  test('the file overrides defaults and flags override the file', () => {
    const file = writeConfig('layered.json', {
      dataDir: '/from/file',
      port: 8000,
      host: '0.0.0.0',
      allow: ['a', 'b'],
      devMode: true,
    });
    const config = loadConfig(SCHEMA, ['--config', file, '--port=9000', '--allow', 'c,d', '--allow=e']);
    assert.equal(config.dataDir, '/from/file');
    assert.equal(config.host, '0.0.0.0', 'from the file');
    assert.equal(config.port, 9000, 'the flag wins');
    assert.deepEqual(config.allow, ['c', 'd', 'e'], 'list flags replace the file’s list');
    assert.equal(config.devMode, true);
  });

  test('the file can also come from the options, and --config overrides it', () => {
    const one = writeConfig('one.json', { dataDir: '/one' });
    const two = writeConfig('two.json', { dataDir: '/two' });
    assert.equal(loadConfig(SCHEMA, [], { file: one }).dataDir, '/one');
    assert.equal(loadConfig(SCHEMA, [`--config=${two}`], { file: one }).dataDir, '/two');
  });

  test('booleans: alone means true, an explicit true or false is read, =false works', () => {
    const base = ['--data-dir', 'd'];
    assert.equal(loadConfig(SCHEMA, [...base, '--dev-mode']).devMode, true);
    assert.equal(loadConfig(SCHEMA, ['--dev-mode', '--data-dir', 'd']).devMode, true);
    assert.equal(loadConfig(SCHEMA, [...base, '--dev-mode', 'false']).devMode, false);
    assert.equal(loadConfig(SCHEMA, [...base, '--with-surb=false']).withSurb, false);
    assert.throws(
      () => loadConfig(SCHEMA, [...base, '--dev-mode=yes']),
      refusedWith('invalid_value', /devMode/),
    );
  });

  test('numbers: integers and decimals parsed, ranges and kinds enforced', () => {
    const base = ['--data-dir', 'd'];
    assert.equal(loadConfig(SCHEMA, [...base, '--rate', '0.25']).rate, 0.25);
    assert.equal(loadConfig(SCHEMA, [...base, '--ops-port', '0']).opsPort, 0);
    assert.throws(
      () => loadConfig(SCHEMA, [...base, '--port', 'eighty']),
      refusedWith('invalid_value', /port \(--port\)/),
    );
    assert.throws(() => loadConfig(SCHEMA, [...base, '--port', '1.5']), refusedWith('invalid_value'));
    assert.throws(
      () => loadConfig(SCHEMA, [...base, '--port', '70000']),
      refusedWith('invalid_value', /0 to 65535/),
    );
    assert.throws(
      () => loadConfig(SCHEMA, [...base, '--rate', '0']),
      refusedWith('invalid_value', /at least 0.001/),
    );
    assert.throws(() => loadConfig(SCHEMA, [...base, '--rate', '']), refusedWith('invalid_value'));
  });

  test('choices are enforced', () => {
    assert.equal(loadConfig(SCHEMA, ['--data-dir', 'd', '--log-level', 'debug']).logLevel, 'debug');
    assert.throws(
      () => loadConfig(SCHEMA, ['--data-dir', 'd', '--log-level', 'loud']),
      refusedWith('invalid_value', /one of debug, info, warn, error/),
    );
  });

  test('unknown options are refused on the command line and in the file', () => {
    assert.throws(
      () => loadConfig(SCHEMA, ['--data-dir', 'd', '--dev']),
      refusedWith('unknown_option', /--dev /),
    );
    assert.throws(
      () => loadConfig(SCHEMA, ['--data-dir', 'd', '--dataDir', 'x']),
      refusedWith('unknown_option'),
    );
    assert.throws(() => loadConfig(SCHEMA, ['stray']), refusedWith('unknown_option', /stray/));
    const file = writeConfig('typo.json', { dataDir: 'd', devmode: true });
    assert.throws(
      () => loadConfig(SCHEMA, ['--config', file]),
      refusedWith('unknown_option', /devmode \(in .*typo\.json\)/),
    );
  });

  test('missing values and required options are refused', () => {
    assert.throws(() => loadConfig(SCHEMA, []), refusedWith('missing_value', /--data-dir.*"dataDir"/));
    assert.throws(
      () => loadConfig(SCHEMA, ['--data-dir']),
      refusedWith('missing_value', /--data-dir needs a value/),
    );
    assert.throws(() => loadConfig(SCHEMA, ['--port', '--data-dir', 'd']), refusedWith('missing_value'));
    assert.throws(() => loadConfig(SCHEMA, ['--config']), refusedWith('missing_value'));
  });

  test('file values must have the JSON type of the option', () => {
    const file = writeConfig('types.json', { dataDir: 'd', port: '7700' });
    assert.throws(
      () => loadConfig(SCHEMA, ['--config', file]),
      refusedWith('invalid_value', /port \(in .*types\.json\)/),
    );
    const list = writeConfig('list.json', { dataDir: 'd', allow: 'a,b' });
    assert.throws(() => loadConfig(SCHEMA, ['--config', list]), refusedWith('invalid_value', /allow/));
  });

  test('unreadable and malformed files are refused, without quoting their content', () => {
    assert.throws(
      () => loadConfig(SCHEMA, ['--config', join(directory, 'absent.json')]),
      refusedWith('unreadable_file', /absent\.json \(ENOENT\)/),
    );
    const broken = writeConfig('broken.json', '{ "databasePassword": "hunter2" ');
    assert.throws(
      () => loadConfig(SCHEMA, ['--config', broken]),
      (error: unknown) =>
        refusedWith('malformed_file')(error) && !(error as Error).message.includes('hunter2'),
    );
    const array = writeConfig('array.json', '[1, 2]');
    assert.throws(() => loadConfig(SCHEMA, ['--config', array]), refusedWith('malformed_file'));
  });

  test('secret values are never repeated in errors', () => {
    const file = writeConfig('secret.json', { dataDir: 'd', databasePassword: 12_345_678 });
    assert.throws(
      () => loadConfig(SCHEMA, ['--config', file]),
      (error: unknown) =>
        refusedWith('invalid_value', /databasePassword/)(error) &&
        !(error as Error).message.includes('12345678'),
    );
    assert.throws(
      () => loadConfig(SCHEMA, ['--data-dir', 'd', '--port', 'abc']),
      refusedWith('invalid_value', /got "abc"/),
      'non-secret values are shown to help the operator',
    );
  });

  test('the result is frozen', () => {
    const config = loadConfig(SCHEMA, ['--data-dir', 'd', '--allow', 'a']);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.allow));
  });

  test('flag names and help text', () => {
    assert.equal(flagName('epochPeriodMs'), 'epoch-period-ms');
    const help = describeOptions(SCHEMA);
    assert.match(help, /--config <path>/);
    assert.match(help, /--data-dir <string>\s+state directory \(required\)/);
    assert.match(help, /--dev-mode\s+development mode/);
    assert.match(help, /--port <integer>\s+listen port \(default 7700\)/);
  });
});
