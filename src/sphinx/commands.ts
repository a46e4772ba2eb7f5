/**
 * Per-hop routing commands of the Sphinx header, encoded as Katzenpost encodes them
 * (`core/sphinx/commands` in katzenpost/katzenpost, §4.1.1 of the Sphinx specification): a one-byte type, then
 * a fixed-size body. next_node_hop (0x01) = node id ‖ MAC of the next header; recipient (0x02) = recipient id;
 * surb_reply (0x03) = SURB id; node_delay (0x80) = delay in milliseconds, big-endian u32. A zero byte is the
 * terminal null command, and everything after it must be zero, so zero padding is itself a valid encoding.
 */
import { SphinxError } from '../errors.ts';
import { MAC_LENGTH, NODE_ID_LENGTH, RECIPIENT_ID_LENGTH, SURB_ID_LENGTH } from './geometry.ts';

export type RoutingCommand =
  | { readonly type: 'next_node_hop'; readonly id: Uint8Array; readonly mac: Uint8Array }
  | { readonly type: 'recipient'; readonly id: Uint8Array }
  | { readonly type: 'surb_reply'; readonly id: Uint8Array }
  | { readonly type: 'node_delay'; readonly delay: number };

/** The commands a packet's creator chooses per hop; next_node_hop is written by header construction. */
export type HopCommand = Exclude<RoutingCommand, { readonly type: 'next_node_hop' }>;

const NULL = 0x00;
const NEXT_NODE_HOP = 0x01;
const RECIPIENT = 0x02;
const SURB_REPLY = 0x03;
const NODE_DELAY = 0x80;
const NODE_DELAY_LENGTH = 4;
const MAX_DELAY = 0xffff_ffff;

function invalid(message: string): SphinxError {
  return new SphinxError('invalid_command', message);
}

function checkedId(command: string, id: unknown, length: number): Uint8Array {
  if (!(id instanceof Uint8Array) || id.length !== length)
    throw invalid(`${command} id must be ${length} bytes`);
  return id;
}

export function encodedCommandLength(command: RoutingCommand): number {
  switch (command.type) {
    case 'next_node_hop':
      return 1 + NODE_ID_LENGTH + MAC_LENGTH;
    case 'recipient':
      return 1 + RECIPIENT_ID_LENGTH;
    case 'surb_reply':
      return 1 + SURB_ID_LENGTH;
    case 'node_delay':
      return 1 + NODE_DELAY_LENGTH;
  }
}

/** Writes `command` at `offset` in `out` and returns the offset after it. Throws `SphinxError` (invalid_command). */
export function writeCommand(command: RoutingCommand, out: Uint8Array, offset: number): number {
  switch (command.type) {
    case 'next_node_hop':
      out[offset] = NEXT_NODE_HOP;
      out.set(checkedId('next_node_hop', command.id, NODE_ID_LENGTH), offset + 1);
      out.set(checkedId('next_node_hop MAC', command.mac, MAC_LENGTH), offset + 1 + NODE_ID_LENGTH);
      break;
    case 'recipient':
      out[offset] = RECIPIENT;
      out.set(checkedId('recipient', command.id, RECIPIENT_ID_LENGTH), offset + 1);
      break;
    case 'surb_reply':
      out[offset] = SURB_REPLY;
      out.set(checkedId('surb_reply', command.id, SURB_ID_LENGTH), offset + 1);
      break;
    case 'node_delay': {
      const { delay } = command;
      if (!Number.isSafeInteger(delay) || delay < 0 || delay > MAX_DELAY) {
        throw invalid('node_delay must be an integer number of milliseconds in [0, 2^32)');
      }
      out[offset] = NODE_DELAY;
      new DataView(out.buffer, out.byteOffset + offset + 1, NODE_DELAY_LENGTH).setUint32(0, delay);
      break;
    }
    default:
      throw invalid(`unknown command type ${JSON.stringify((command as { type: unknown }).type)}`);
  }
  return offset + encodedCommandLength(command);
}

export function encodeCommand(command: RoutingCommand): Uint8Array {
  const out = new Uint8Array(encodedCommandLength(command));
  writeCommand(command, out, 0);
  return out;
}

/**
 * Parses one hop's command block (its full length: commands, then the terminal null command and its zero
 * padding, which may be absent when the commands fill the block). Throws `SphinxError` (invalid_command) on an
 * unknown type, a truncated body, non-zero padding, or a second next_node_hop or surb_reply.
 */
export function decodeCommands(block: Uint8Array): RoutingCommand[] {
  const commands: RoutingCommand[] = [];
  let seenNextHop = false;
  let seenSurbReply = false;
  let offset = 0;
  while (offset < block.length) {
    const type = block[offset] as number;
    const body = offset + 1;
    const remaining = block.length - body;
    let command: RoutingCommand;
    switch (type) {
      case NULL: {
        let padding = 0;
        for (let i = body; i < block.length; i++) padding |= block[i] as number;
        if (padding !== 0) throw invalid('non-zero bytes after the terminal null command');
        return commands;
      }
      case NEXT_NODE_HOP:
        if (remaining < NODE_ID_LENGTH + MAC_LENGTH) throw invalid('truncated next_node_hop');
        if (seenNextHop) throw invalid('more than one next_node_hop');
        seenNextHop = true;
        command = {
          type: 'next_node_hop',
          id: block.slice(body, body + NODE_ID_LENGTH),
          mac: block.slice(body + NODE_ID_LENGTH, body + NODE_ID_LENGTH + MAC_LENGTH),
        };
        break;
      case RECIPIENT:
        if (remaining < RECIPIENT_ID_LENGTH) throw invalid('truncated recipient');
        command = { type: 'recipient', id: block.slice(body, body + RECIPIENT_ID_LENGTH) };
        break;
      case SURB_REPLY:
        if (remaining < SURB_ID_LENGTH) throw invalid('truncated surb_reply');
        if (seenSurbReply) throw invalid('more than one surb_reply');
        seenSurbReply = true;
        command = { type: 'surb_reply', id: block.slice(body, body + SURB_ID_LENGTH) };
        break;
      case NODE_DELAY:
        if (remaining < NODE_DELAY_LENGTH) throw invalid('truncated node_delay');
        command = {
          type: 'node_delay',
          delay: new DataView(block.buffer, block.byteOffset + body, NODE_DELAY_LENGTH).getUint32(0),
        };
        break;
      default:
        throw invalid(`unknown command type 0x${type.toString(16).padStart(2, '0')}`);
    }
    commands.push(command);
    offset += encodedCommandLength(command);
  }
  return commands;
}
