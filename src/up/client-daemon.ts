/**
 * The `umbra client run` daemon and its local protocol: one long-lived SDK client (its vault open, its
 * mixnet carrier sending at the constant rate from start to stop) that the short `umbra client <command>`
 * invocations drive over a Unix domain socket, so that no command opens a network connection of its own —
 * a connection per command would tell a global observer when each command ran (issue 18). The model is
 * Katzenpost's client daemon with thin clients.
 *
 * The socket is `client.sock` in the client's data directory, mode 0600 (the vault's directory is 0700 too).
 * Protocol: newline-delimited JSON. A thin client writes one request line `{ command, args, verify }`; the
 * daemon answers with event lines `{ event, display, ...fields }` (`display`: the line for people) and ends
 * with `{ event: 'done' }` or
 * `{ event: 'error', code, reason, message }`, then closes; `watch` streams events until the thin client
 * hangs up. Commands: register, send, read, watch, conversations, safety-number, status, stop.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { type Conversation, isText, type Message } from '../client/index.ts';
import { ClientError, UmbraError } from '../errors.ts';
import { type NodeClient, privacyText } from './node-client.ts';

export const SOCKET_NAME = 'client.sock';

export function socketPath(dataDir: string): string {
  return join(dataDir, SOCKET_NAME);
}

export interface DaemonRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly verify: boolean;
}

/** One line from the daemon: what happened, for people (`display`) and for programs (the other fields). */
export interface DaemonEvent {
  readonly event: string;
  readonly display?: string;
  readonly [field: string]: unknown;
}

/** Which commands the daemon takes, and how many arguments each. */
export const DAEMON_COMMANDS: Readonly<Record<string, number>> = {
  register: 1,
  send: 2,
  read: 0,
  watch: 0,
  conversations: 0,
  'safety-number': 1,
  status: 0,
  stop: 0,
};

type Emit = (event: string, fields: Record<string, unknown>, display: string) => void;

/** The active 1:1 conversation with `handle`, if there is one. */
function oneToOne(user: NodeClient, handle: string): Conversation | undefined {
  const self = user.client.handle;
  return user.client
    .conversations()
    .find(
      (conversation) =>
        conversation.status === 'active' &&
        conversation.members.length === 2 &&
        conversation.members.includes(handle) &&
        conversation.members.includes(self ?? ''),
    );
}

function emitMessage(emit: Emit, message: Message): void {
  if (!isText(message.content)) return; // The terminal client shows chat only.
  emit(
    'message',
    {
      conversation: message.conversationId,
      from: message.sender,
      text: message.content.text,
      sentAt: message.sentAt,
    },
    `${message.sender}: ${message.content.text}`,
  );
}

export interface ClientDaemon {
  readonly path: string;
  /** Resolves once the daemon has stopped (a `stop` request, or `close`). */
  readonly stopped: Promise<void>;
  /** Stops listening and ends every open request, watches included. The SDK client is the caller's. */
  close(): Promise<void>;
}

/**
 * Listens on the data directory's socket for `user`. Refuses to start (`ClientError` 'already_running')
 * when another daemon answers there; a socket file left by a daemon that died is replaced.
 */
export async function startClientDaemon(user: NodeClient, dataDir: string): Promise<ClientDaemon> {
  const path = socketPath(dataDir);
  if (await answers(path)) {
    throw new ClientError('already_running', `an umbra client is already running on ${dataDir}`);
  }
  await unlink(path).catch(() => undefined);
  const sockets = new Set<Socket>();
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serve(user, socket, stop).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  if (user.client.handle !== undefined) await user.client.sync().catch(() => undefined);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.end();
      await closed;
    })();
    return closing;
  };
  stopped.then(close, close);
  return { path, stopped, close };
}

/** Whether a daemon answers on `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The first line the thin client writes; undefined if it hangs up first. Reading goes on after it. */
function firstLine(socket: Socket): Promise<string | undefined> {
  socket.setEncoding('utf8');
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end >= 0) finish(buffered.slice(0, end));
    };
    const finish = (line: string | undefined) => {
      socket.off('data', onData).off('close', onClose);
      resolve(line);
    };
    const onClose = () => finish(undefined);
    socket.on('data', onData).once('close', onClose);
  });
}

async function serve(user: NodeClient, socket: Socket, stop: () => void): Promise<void> {
  const line = await firstLine(socket);
  if (line === undefined) return;
  const send = (event: DaemonEvent) => {
    if (!socket.writableEnded) socket.write(`${JSON.stringify(event)}\n`);
  };
  const emit: Emit = (event, fields, display) => send({ event, display, ...fields });
  try {
    await handle(user, JSON.parse(line) as DaemonRequest, emit, socket, stop);
    send({ event: 'done' });
  } catch (error) {
    send({
      event: 'error',
      code: error instanceof UmbraError ? error.code : 'UMBRA_INTERNAL',
      reason: (error as { reason?: unknown }).reason,
      message: (error as Error).message,
    });
  }
  socket.end();
}

async function handle(
  user: NodeClient,
  request: DaemonRequest,
  emit: Emit,
  socket: Socket,
  stop: () => void,
): Promise<void> {
  const { client } = user;
  const { command, args } = request;
  const arity = Object.hasOwn(DAEMON_COMMANDS, command) ? DAEMON_COMMANDS[command] : undefined;
  if (
    arity === undefined ||
    !Array.isArray(args) ||
    args.length !== arity ||
    args.some((arg) => typeof arg !== 'string')
  ) {
    throw new ClientError('bad_request', `no command ${JSON.stringify(command)} with these arguments`);
  }
  switch (command) {
    case 'status':
      emit(
        'status',
        { handle: client.handle ?? null, privacy: { ...client.privacy } },
        `${client.handle === undefined ? 'not registered' : `running as ${client.handle}`}; ${privacyText(client.privacy)}`,
      );
      return;
    case 'stop':
      emit('stopping', {}, 'stopping');
      stop();
      return;
    case 'register': {
      const handle = args[0] as string;
      await client.register(handle);
      emit('registered', { handle }, `registered as ${handle}; ${privacyText(client.privacy)}`);
      return;
    }
  }
  if (client.handle === undefined) {
    throw new ClientError('not_registered', 'run `umbra client register` first');
  }
  switch (command) {
    case 'send': {
      const [handle, text] = args as [string, string];
      const conversation = oneToOne(user, handle) ?? (await client.createConversation([handle]));
      const message = await conversation.send({ text });
      emit(
        'acknowledged',
        { conversation: conversation.id, id: message.id, to: handle },
        `acknowledged by the delivery service; ${privacyText(conversation.privacy)}`,
      );
      return;
    }
    case 'conversations':
      for (const conversation of client.conversations()) {
        emit(
          'conversation',
          { id: conversation.id, members: conversation.members, status: conversation.status },
          `${conversation.id}  ${conversation.members.join(', ')}${conversation.status === 'active' ? '' : ` (${conversation.status})`}`,
        );
      }
      return;
    case 'read':
      for (const conversation of client.conversations()) {
        for (const message of conversation.history()) emitMessage(emit, message);
      }
      return;
    case 'safety-number': {
      const handle = args[0] as string;
      const number = await client.safetyNumber(handle);
      if (request.verify) await client.markVerified(handle);
      const contact = client.contact(handle);
      emit(
        'safety-number',
        {
          handle,
          digits: number.digits,
          verified: contact?.verified ?? false,
          keyChanged: contact?.keyChanged ?? false,
        },
        `${number.display}${contact?.verified ? '  (verified)' : ''}${contact?.keyChanged ? '  WARNING: their key changed' : ''}`,
      );
      return;
    }
    case 'watch': {
      const unsubscribe: (() => void)[] = [];
      const watchConversation = (conversation: Conversation) =>
        unsubscribe.push(conversation.on('message', (message) => emitMessage(emit, message)));
      client.conversations().forEach(watchConversation);
      unsubscribe.push(
        client.on('conversation', (conversation) => {
          emit(
            'conversation',
            { id: conversation.id, members: conversation.members },
            `joined a conversation with ${conversation.members.join(', ')}`,
          );
          watchConversation(conversation);
        }),
        client.on('privacy', (state) => emit('privacy', { ...state }, privacyText(state))),
      );
      emit('watching', { handle: client.handle }, `watching as ${client.handle}; Ctrl-C to stop`);
      socket.resume();
      await new Promise<void>((resolve) => socket.once('close', resolve).once('end', resolve));
      for (const off of unsubscribe) off();
      return;
    }
  }
}
