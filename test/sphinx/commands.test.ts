// The per-hop routing-command codec: round trips of any command list that fits a hop, the decoding rules
// (null terminator, zero padding, at most one next_node_hop and one surb_reply), and only SphinxError on
// arbitrary bytes. Katzenpost's own encodings are checked in katzenpost-vectors.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { fromHex } from '../../src/bytes.ts';
import { SphinxError } from '../../src/errors.ts';
import { decodeCommands, encodeCommand, type RoutingCommand } from '../../src/sphinx/index.ts';

const HOP_BLOCK = 82;

const command: fc.Arbitrary<RoutingCommand> = fc.oneof(
  fc
    .record({
      id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      mac: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    })
    .map(({ id, mac }) => ({ type: 'next_node_hop', id, mac }) as const),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((id) => ({ type: 'recipient', id }) as const),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((id) => ({ type: 'surb_reply', id }) as const),
  fc.nat(0xffff_ffff).map((delay) => ({ type: 'node_delay', delay }) as const),
);

function block(...commands: RoutingCommand[]): Uint8Array {
  const out = new Uint8Array(HOP_BLOCK);
  let offset = 0;
  for (const each of commands) {
    const encoded = encodeCommand(each);
    out.set(encoded, offset);
    offset += encoded.length;
  }
  return out;
}

function invalidCommand(bytes: Uint8Array): boolean {
  try {
    decodeCommands(bytes);
  } catch (error) {
    return error instanceof SphinxError && error.reason === 'invalid_command';
  }
  return false;
}

describe('routing commands', () => {
  test('any list that fits a hop, zero padded, decodes to itself', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 4 }), (commands) => {
        const unique = commands.filter(
          (each, index) =>
            (each.type !== 'next_node_hop' && each.type !== 'surb_reply') ||
            commands.findIndex((other) => other.type === each.type) === index,
        );
        const length = unique.reduce((sum, each) => sum + encodeCommand(each).length, 0);
        fc.pre(length <= HOP_BLOCK);
        assert.deepEqual(decodeCommands(block(...unique)), unique);
      }),
    );
  });

  test('commands may fill the block exactly, with no terminator', () => {
    const next = {
      type: 'next_node_hop',
      id: new Uint8Array(32).fill(1),
      mac: new Uint8Array(32).fill(2),
    } as const;
    const reply = { type: 'surb_reply', id: new Uint8Array(16).fill(3) } as const;
    assert.deepEqual(decodeCommands(block(next, reply)), [next, reply]);
  });

  test('refuses unknown types, truncated bodies, bytes after the terminator, and repeated singletons', () => {
    assert.ok(invalidCommand(fromHex('04')));
    assert.ok(invalidCommand(fromHex('7f00')));
    assert.ok(invalidCommand(fromHex('80000000')));
    assert.ok(invalidCommand(fromHex(`02${'00'.repeat(31)}`)));
    assert.ok(invalidCommand(fromHex('000001')));
    const surbReply = { type: 'surb_reply', id: new Uint8Array(16) } as const;
    assert.ok(invalidCommand(block(surbReply, surbReply)));
    const next = { type: 'next_node_hop', id: new Uint8Array(32), mac: new Uint8Array(32) } as const;
    assert.ok(invalidCommand(new Uint8Array([...encodeCommand(next), ...encodeCommand(next)])));
    const delay = { type: 'node_delay', delay: 7 } as const;
    assert.deepEqual(
      decodeCommands(block(delay, delay)),
      [delay, delay],
      'Katzenpost allows repeated delays',
    );
  });

  test('arbitrary bytes decode or fail with SphinxError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2 * HOP_BLOCK }), (bytes) => {
        try {
          decodeCommands(bytes);
        } catch (error) {
          assert.ok(error instanceof SphinxError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
