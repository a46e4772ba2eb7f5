/**
 * `umbra client`: a scriptable terminal client over the SDK, against a running `umbra up` (its carriers come
 * from the deployment's /config.json, as the web app's do). The vault lives in `--data-dir`; the passphrase
 * comes from the UMBRA_PASSPHRASE environment variable or `--passphrase-file`, never from a flag (flags show
 * in `ps` and shell history).
 *
 *     umbra client register <handle>            create the identity and bind the handle
 *     umbra client send <handle> <text>         send in the 1:1 with <handle> (created if there is none)
 *     umbra client watch                        print messages as they arrive, until Ctrl-C
 *     umbra client conversations                list conversations and their members
 *     umbra client safety-number <handle>       print the safety number; --verify marks it verified
 *
 * Output is one line per event, or one JSON object per line with `--json`. Exit codes: 0 done, 1 failed
 * (including a message kept queued because the privacy policy allowed no carrier), 2 bad usage.
 */
import { readFile } from 'node:fs/promises';
import type { Conversation, Message } from '../client/index.ts';
import { ClientError, ConfigError } from '../errors.ts';
import { type ConfigOf, type ConfigSchema, describeOptions, loadConfig } from '../ops/config.ts';
import { type NodeClient, openNodeClient, privacyText } from './node-client.ts';

export const CLIENT_OPTIONS = {
  web: { type: 'string', default: 'http://localhost:8080', description: 'URL of the umbra up deployment' },
  dataDir: { type: 'string', required: true, description: "directory of this client's vault" },
  passphraseFile: { type: 'string', description: 'file holding the passphrase (default: $UMBRA_PASSPHRASE)' },
  verify: { type: 'boolean', description: 'safety-number: mark the contact verified' },
  json: { type: 'boolean', description: 'one JSON object per line' },
  timeoutMs: {
    type: 'integer',
    default: 120_000,
    min: 1_000,
    max: 3_600_000,
    description: 'longest wait for the network',
  },
} as const satisfies ConfigSchema;

type ClientOptions = ConfigOf<typeof CLIENT_OPTIONS>;

const COMMANDS: Readonly<Record<string, number>> = {
  register: 1,
  send: 2,
  watch: 0,
  conversations: 0,
  'safety-number': 1,
};

const USAGE = `usage: umbra client <command> [arguments] [options]

commands:
  register <handle>        create this client's identity and bind the handle
  send <handle> <text>     send in the 1:1 conversation with <handle> (created if needed)
  watch                    print messages as they arrive, until Ctrl-C
  conversations            list conversations and their members
  safety-number <handle>   print the safety number (--verify to mark it verified)

The passphrase comes from UMBRA_PASSPHRASE or --passphrase-file.

options:
${describeOptions(CLIENT_OPTIONS)}
`;

async function passphraseOf(options: ClientOptions): Promise<string> {
  if (options.passphraseFile !== undefined) {
    try {
      return (await readFile(options.passphraseFile, 'utf8')).replace(/\r?\n$/, '');
    } catch {
      throw new ConfigError('unreadable_file', `cannot read the passphrase file ${options.passphraseFile}`);
    }
  }
  const fromEnv = process.env.UMBRA_PASSPHRASE;
  if (fromEnv === undefined || fromEnv === '') {
    throw new ConfigError('missing_value', 'set UMBRA_PASSPHRASE or pass --passphrase-file');
  }
  return fromEnv;
}

function printer(json: boolean): (event: string, fields: Record<string, unknown>, text: string) => void {
  return (event, fields, text) => {
    process.stdout.write(json ? `${JSON.stringify({ event, ...fields })}\n` : `${text}\n`);
  };
}

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

function messageFields(message: Message): Record<string, unknown> {
  return {
    conversation: message.conversationId,
    from: message.sender,
    text: message.content.text,
    sentAt: message.sentAt,
  };
}

async function run(command: string, args: readonly string[], options: ClientOptions): Promise<void> {
  const print = printer(options.json);
  const user = await openNodeClient({
    web: options.web,
    dataDir: options.dataDir,
    passphrase: await passphraseOf(options),
  });
  try {
    const { client } = user;
    if (command === 'register') {
      const handle = args[0] as string;
      await client.register(handle);
      print('registered', { handle }, `registered as ${handle}; ${privacyText(client.privacy)}`);
      return;
    }
    if (client.handle === undefined)
      throw new ClientError('not_registered', 'run `umbra client register` first');
    await client.sync().catch(() => undefined);
    switch (command) {
      case 'send': {
        const [handle, text] = args as [string, string];
        const conversation = oneToOne(user, handle) ?? (await client.createConversation([handle]));
        const message = await conversation.send({ text });
        print(
          'acknowledged',
          { conversation: conversation.id, id: message.id, to: handle },
          `acknowledged by the delivery service; ${privacyText(conversation.privacy)}`,
        );
        return;
      }
      case 'conversations': {
        for (const conversation of client.conversations()) {
          print(
            'conversation',
            { id: conversation.id, members: conversation.members, status: conversation.status },
            `${conversation.id}  ${conversation.members.join(', ')}${conversation.status === 'active' ? '' : ` (${conversation.status})`}`,
          );
        }
        return;
      }
      case 'safety-number': {
        const handle = args[0] as string;
        const number = await client.safetyNumber(handle);
        if (options.verify) await client.markVerified(handle);
        const contact = client.contact(handle);
        print(
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
        const watchConversation = (conversation: Conversation) =>
          conversation.on('message', (message) =>
            print('message', messageFields(message), `${message.sender}: ${message.content.text}`),
          );
        client.conversations().forEach(watchConversation);
        client.on('conversation', (conversation) => {
          print(
            'conversation',
            { id: conversation.id, members: conversation.members },
            `joined a conversation with ${conversation.members.join(', ')}`,
          );
          watchConversation(conversation);
        });
        client.on('privacy', (state) => print('privacy', { ...state }, privacyText(state)));
        print('watching', { handle: client.handle }, `watching as ${client.handle}; Ctrl-C to stop`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        return;
      }
    }
  } finally {
    await user.close();
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || argv.includes('--help')) {
    process.stdout.write(USAGE);
    if (command === undefined) process.exitCode = 2;
    return;
  }
  const arity = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (arity === undefined)
    throw new ConfigError('unknown_option', `unknown command ${JSON.stringify(command)}`);
  const args = rest.slice(0, arity);
  if (args.length < arity || args.some((arg) => arg.startsWith('--'))) {
    throw new ConfigError('missing_value', `${command} takes ${arity} argument${arity === 1 ? '' : 's'}`);
  }
  const options = loadConfig(CLIENT_OPTIONS, rest.slice(arity));
  try {
    await run(command, args, options);
  } catch (error) {
    if (error instanceof ClientError && error.reason === 'privacy_unavailable') {
      process.stderr.write(`umbra client: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
