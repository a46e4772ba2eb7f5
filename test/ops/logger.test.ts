// The structured logger (pino): one JSON object per line with time, level, role, msg and fields, on standard
// output by default (a real process's output parsed back); the readable form for terminals; level filtering;
// child loggers; and the redaction rules — sensitive field names (any case style, nested, in arrays) print
// "[redacted]", byte arrays print only their length whatever their name, secret holders print no secret,
// errors keep class, code, reason and message — proven by capturing every line and searching it for the
// secrets that were logged.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { toBase64Url, toHex } from '../../src/bytes.ts';
import { nodeBackend } from '../../src/crypto/backends/node.ts';
import { DirectoryError } from '../../src/errors.ts';
import { createLogger, type LoggerOptions, prettyLine, REDACTED } from '../../src/ops/logger.ts';

function capture(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const logger = createLogger({ role: 'mix', sink: (line) => lines.push(line), now: () => 0, ...options });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, parsed };
}

describe('logger', () => {
  test('writes one JSON object per line with time, level, role, msg and fields', () => {
    const { logger, lines, parsed } = capture();
    logger.info('round forwarded', { round: 7, size: 32 });
    logger.warn('no fields');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(!line.includes('\n'));
    assert.deepEqual(parsed(), [
      {
        time: '1970-01-01T00:00:00.000Z',
        level: 'info',
        role: 'mix',
        msg: 'round forwarded',
        fields: { round: 7, size: 32 },
      },
      { time: '1970-01-01T00:00:00.000Z', level: 'warn', role: 'mix', msg: 'no fields' },
    ]);
  });

  test('without a sink, pino writes the lines to standard output', () => {
    const script = `import { createLogger } from ${JSON.stringify(new URL('../../src/ops/logger.ts', import.meta.url).href)};
      const logger = createLogger({ role: 'gateway' });
      logger.info('listening', { port: 7000, secretKey: 'SECRET' });
      logger.child({ component: 'links' }).warn('peer gone', { peerFingerprint: 'ab12' });`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    const lines = output
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      lines.map(({ time, ...rest }) => {
        assert.match(String(time), /^\d{4}-\d\d-\d\dT/);
        return rest;
      }),
      [
        { level: 'info', role: 'gateway', msg: 'listening', fields: { port: 7000, secretKey: REDACTED } },
        {
          level: 'warn',
          role: 'gateway',
          msg: 'peer gone',
          fields: { component: 'links', peerFingerprint: 'ab12' },
        },
      ],
    );
  });

  test('pretty lines are readable, one per record, redacted alike', () => {
    const { logger, lines } = capture({ pretty: true });
    logger.info('round forwarded', { round: 7, handle: 'SECRET-alice', frame: new Uint8Array(5) });
    assert.deepEqual(lines, [
      '00:00:00.000 INFO  mix: round forwarded round=7 handle=[redacted] frame=[5 bytes]',
    ]);
    assert.equal(
      prettyLine('{"level":"warn","time":"1970-01-01T00:00:01.000Z","role":"up","msg":"m"}'),
      '00:00:01.000 WARN  up: m',
    );
  });

  test('drops lines below the configured level', () => {
    const { logger, parsed } = capture({ level: 'warn' });
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    assert.deepEqual(
      parsed().map((line) => line.level),
      ['warn', 'error'],
    );
  });

  test('child loggers add their fields to every line; call fields override them', () => {
    const { logger, parsed } = capture();
    const child = logger.child({ component: 'egress', layer: 2 });
    child.info('sent', { layer: 3 });
    assert.deepEqual(parsed()[0]?.fields, { component: 'egress', layer: 3 });
  });

  test('no secret that was logged appears in the output', () => {
    const { logger, lines, parsed } = capture();
    const secretKey = nodeBackend.x25519.generateKeyPair();
    const packet = new Uint8Array(64).fill(0xab);
    logger.info('everything sensitive', {
      key: 'SECRET-key',
      secretKey: 'SECRET-secretKey',
      identity_keys: ['SECRET-k1', 'SECRET-k2'],
      packet: 'SECRET-packet',
      payload: { text: 'SECRET-payload' },
      handle: 'SECRET-handle',
      routingId: 'SECRET-routing',
      routing_ids: ['SECRET-routing-2'],
      'client-address': 'SECRET-203.0.113.9',
      clientIPAddress: 'SECRET-198.51.100.7',
      remoteAddress: 'SECRET-192.0.2.1',
      nested: { deeper: [{ recipient: 'SECRET-recipient' }, { mailboxId: 'SECRET-mailbox' }] },
      keyPair: secretKey,
      harmlessName: packet,
      buffer: Buffer.from('SECRET-buffer'),
      view: new DataView(new Uint8Array(8).buffer),
      count: 3,
    });
    const output = lines.join('\n');
    assert.doesNotMatch(output, /SECRET/);
    for (const bytes of [secretKey.secretKey, packet]) {
      assert.ok(!output.includes(toHex(bytes)));
      assert.ok(!output.includes(toBase64Url(bytes)));
    }
    assert.ok(!output.includes(String(0xab)), 'no byte values printed as an array');
    const fields = parsed()[0]?.fields as Record<string, unknown>;
    for (const name of ['key', 'secretKey', 'identity_keys', 'packet', 'payload', 'handle', 'routingId']) {
      assert.equal(fields[name], REDACTED, name);
    }
    for (const name of ['routing_ids', 'client-address', 'clientIPAddress', 'remoteAddress', 'keyPair']) {
      assert.equal(fields[name], REDACTED, name);
    }
    assert.deepEqual(fields.nested, { deeper: [{ recipient: REDACTED }, { mailboxId: REDACTED }] });
    assert.equal(fields.harmlessName, '[64 bytes]');
    assert.equal(fields.buffer, '[13 bytes]');
    assert.equal(fields.view, '[8 bytes]');
    assert.equal(fields.count, 3);
  });

  test('objects that hold secrets print only their public view, whatever the field name', () => {
    const { logger, lines } = capture();
    const pair = nodeBackend.ed25519.generateKeyPair();
    logger.info('loaded', { holder: pair });
    assert.ok(!lines.join('').includes(toHex(pair.secretKey)));
    assert.match(lines.join(''), /\[redacted\]/);
  });

  test('the operator can reveal a field by its exact name or every field of a word', () => {
    const one = capture({ reveal: ['clientAddress'] });
    one.logger.info('connected', { clientAddress: '203.0.113.9', remoteAddress: '192.0.2.1' });
    assert.deepEqual(one.parsed()[0]?.fields, { clientAddress: '203.0.113.9', remoteAddress: REDACTED });

    const all = capture({ reveal: ['address'] });
    all.logger.info('connected', { clientAddress: '203.0.113.9', remote_address: '192.0.2.1', key: 'k' });
    assert.deepEqual(all.parsed()[0]?.fields, {
      clientAddress: '203.0.113.9',
      remote_address: '192.0.2.1',
      key: REDACTED,
    });
  });

  test('a revealed field still never prints raw bytes', () => {
    const { logger, parsed } = capture({ reveal: ['packet'] });
    logger.info('sample', { packet: new Uint8Array([1, 2, 3]) });
    assert.deepEqual(parsed()[0]?.fields, { packet: '[3 bytes]' });
  });

  test('extra redaction words apply on top of the defaults', () => {
    const { logger, parsed } = capture({ redact: ['conversation'] });
    logger.info('x', { conversationTitle: 'secret plans', round: 1 });
    assert.deepEqual(parsed()[0]?.fields, { conversationTitle: REDACTED, round: 1 });
  });

  test('errors print class, code, reason and message, never their stack', () => {
    const { logger, lines, parsed } = capture();
    logger.error('refused', { error: new DirectoryError('conflict', 'keys differ') });
    assert.deepEqual(parsed()[0]?.fields, {
      error: {
        name: 'DirectoryError',
        message: 'conflict: keys differ',
        code: 'UMBRA_DIRECTORY',
        reason: 'conflict',
      },
    });
    assert.ok(!lines[0]?.includes('logger.test.ts'), 'no stack trace');
  });

  test('odd values stay printable: bigint, non-finite numbers, cycles, dates, maps, long strings', () => {
    const { logger, parsed } = capture();
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    logger.info('odd', {
      big: 2n ** 70n,
      nan: Number.NaN,
      cycle,
      at: new Date(0),
      map: new Map([[1, 2]]),
      long: 'x'.repeat(5000),
      skipped: undefined,
    });
    const fields = parsed()[0]?.fields as Record<string, unknown>;
    assert.equal(fields.big, (2n ** 70n).toString());
    assert.equal(fields.nan, 'NaN');
    assert.deepEqual(fields.cycle, { name: 'loop', self: '[circular]' });
    assert.equal(fields.at, '1970-01-01T00:00:00.000Z');
    assert.equal(fields.map, '[Map of 1]');
    assert.ok((fields.long as string).length < 1100);
    assert.ok(!('skipped' in fields));
  });
});
