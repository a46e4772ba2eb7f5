// Byte compatibility with Katzenpost: its published Sphinx vectors (1 to 5 hops, X25519, 103-byte payload)
// walked hop by hop on both backends — every forwarded packet compared byte for byte, every routing command,
// the final payload — and its routing-command encodings. The vectors are read from ../shared/vectors/katzenpost
// (never copied into the project); without them these tests skip visibly.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fromHex, toHex } from '../../src/bytes.ts';
import { decodeCommands, encodeCommand, Geometry, Sphinx } from '../../src/sphinx/index.ts';
import { backends } from '../support/backends.ts';

const VECTORS_DIRECTORY = new URL('../../../shared/vectors/katzenpost/', import.meta.url);
const FORWARD_VECTORS = new URL('sphinx_forward_vectors.json', VECTORS_DIRECTORY);
const COMMAND_VECTORS = new URL('sphinx_commands_vectors.json', VECTORS_DIRECTORY);

interface ForwardVector {
  Nodes: { ID: string; PrivateKey: string }[];
  Path: { ID: string; PublicKey: string; Commands: string[] }[];
  Packets: string[];
  Payload: string;
  Surb: string;
  SurbKeys: string;
}

interface CommandVector {
  NextHopID: string;
  NextHopMAC: string;
  NextHopCmdWant: string;
  RecipientID: string;
  RecipientCmdWant: string;
  SURBReplyID: string;
  SURBReplyCmdWant: string;
  NodeDelay: number;
  NodeDelayCmdWant: string;
}

function readJson<T>(url: URL): T | undefined {
  return existsSync(url) ? (JSON.parse(readFileSync(url, 'utf8')) as T) : undefined;
}

const forwardVectors = readJson<ForwardVector[]>(FORWARD_VECTORS);
const commandVectors = readJson<CommandVector>(COMMAND_VECTORS);

// Katzenpost generated these with GeometryFromUserForwardPayloadLength(x25519, 103, withSURB = false, 5).
const geometry = Geometry.create({
  scheme: 'x25519',
  userForwardPayloadLength: 103,
  withSurb: false,
  nrHops: 5,
});

for (const backend of backends) {
  describe(`Katzenpost forward vectors, unwrapped on the ${backend.name} backend`, () => {
    const sphinx = new Sphinx(geometry, backend);

    test('every hop of every vector: forwarded packet, commands, final payload', (t) => {
      if (!forwardVectors) return t.skip(`Katzenpost vectors not found at ${FORWARD_VECTORS.pathname}`);
      assert.equal(forwardVectors.length, 5);
      let hopsChecked = 0;
      for (const [index, vector] of forwardVectors.entries()) {
        assert.equal(vector.Surb, '', 'these vectors carry no SURB');
        assert.equal(vector.Nodes.length, index + 1);
        let packet = fromHex(vector.Packets[0] as string);
        assert.equal(packet.length, geometry.packetLength);
        for (const [hop, node] of vector.Nodes.entries()) {
          const context = `vector ${index}, hop ${hop}`;
          const result = sphinx.unwrap(fromHex(node.PrivateKey), packet);
          const wantCommands = vector.Path[hop]?.Commands ?? [];
          if (hop < vector.Nodes.length - 1) {
            assert.equal(result.kind, 'forward', context);
            if (result.kind !== 'forward') continue;
            assert.equal(toHex(result.packet), vector.Packets[hop + 1], context);
            assert.equal(toHex(result.nextHop), vector.Path[hop + 1]?.ID, context);
            // The creator's commands (a node_delay here), then the next_node_hop the header construction wrote.
            const [delay, next] = result.commands;
            assert.equal(result.commands.length, 2, context);
            assert.equal(delay && toHex(encodeCommand(delay)), wantCommands[0], context);
            assert.equal(delay?.type === 'node_delay' && delay.delay, result.delay, context);
            assert.equal(next?.type === 'next_node_hop' && toHex(next.id), vector.Path[hop + 1]?.ID, context);
            packet = result.packet;
          } else {
            assert.equal(result.kind, 'final', context);
            if (result.kind !== 'final') continue;
            assert.deepEqual(
              result.commands.map((command) => toHex(encodeCommand(command))),
              wantCommands,
              context,
            );
            assert.equal(toHex(result.payload), vector.Payload, context);
            assert.equal(toHex(result.recipient ?? new Uint8Array(0)), wantCommands[0]?.slice(2), context);
          }
          hopsChecked++;
        }
      }
      assert.equal(hopsChecked, 1 + 2 + 3 + 4 + 5);
    });
  });
}

describe('Katzenpost routing-command vectors', () => {
  test('next_node_hop, recipient, surb_reply and node_delay encode and decode as Katzenpost does', (t) => {
    if (!commandVectors) return t.skip(`Katzenpost vectors not found at ${COMMAND_VECTORS.pathname}`);
    const v = commandVectors;
    const cases = [
      {
        command: { type: 'next_node_hop', id: fromHex(v.NextHopID), mac: fromHex(v.NextHopMAC) },
        want: v.NextHopCmdWant,
      },
      { command: { type: 'recipient', id: fromHex(v.RecipientID) }, want: v.RecipientCmdWant },
      { command: { type: 'surb_reply', id: fromHex(v.SURBReplyID) }, want: v.SURBReplyCmdWant },
      { command: { type: 'node_delay', delay: v.NodeDelay }, want: v.NodeDelayCmdWant },
    ] as const;
    for (const { command, want } of cases) {
      assert.equal(toHex(encodeCommand(command)), want, command.type);
      assert.deepEqual(decodeCommands(fromHex(want)), [command], command.type);
    }
  });
});
