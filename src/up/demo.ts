/**
 * `umbra demo`: two scripted users hold a conversation through a local network and the demo prints what
 * happened — registration, the conversation, each message's delivery states with their timings, when the
 * other side read it, and the privacy state throughout. Without `--web` it starts its own deployment
 * (`umbra up` in this process, on free ports, over a temporary directory, removed afterwards); with
 * `--web http://localhost:8080` it uses a running `umbra up`. Exit code 0 when every message arrived.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../bytes.ts';
import { type Conversation, isText, type Message } from '../client/index.ts';
import { randomBytes } from '../crypto/random.ts';
import { type ConfigOf, type ConfigSchema, describeOptions, loadConfig } from '../ops/config.ts';
import { createLogger } from '../ops/logger.ts';
import { installShutdown } from '../ops/shutdown.ts';
import { type NodeClient, openNodeClient, privacyText } from './node-client.ts';
import { startUp, UP_OPTIONS, type Up } from './role.ts';

export const DEMO_OPTIONS = {
  web: { type: 'string', description: 'URL of a running umbra up (default: start one for the demo)' },
  messages: { type: 'integer', default: 2, min: 1, max: 50, description: 'messages each user sends' },
  up: { type: 'list', description: "options for the demo's own umbra up, e.g. --up=--send-rate=20" },
  timeoutMs: {
    type: 'integer',
    default: 120_000,
    min: 1_000,
    max: 3_600_000,
    description: 'longest wait for any one step',
  },
} as const satisfies ConfigSchema;

export type DemoOptions = ConfigOf<typeof DEMO_OPTIONS>;

const LINES = [
  'Hi! Is this channel private?',
  'Yes: end-to-end encrypted, and the mixnet hides that we are talking.',
  'Even the delivery service cannot tell who sent this?',
  'It sees a routing ID and a padded blob, nothing more.',
];

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves with the first message of `text` the conversation receives. */
function nextMessage(conversation: Conversation, text: string): Promise<Message> {
  return new Promise((resolve) => {
    const off = conversation.on('message', (message) => {
      if (isText(message.content) && message.content.text === text) {
        off();
        resolve(message);
      }
    });
  });
}

/** Runs the demo against the deployment at `web`, writing what happens. Returns the number of failures. */
export async function runDemo(
  web: string,
  options: DemoOptions,
  write: (text: string) => void,
  workDir: string,
): Promise<number> {
  const suffix = toHex(randomBytes(2));
  const names = [`alice-${suffix}`, `bob-${suffix}`] as const;
  const started = performance.now();
  const clock = () => `[${seconds(performance.now() - started).padStart(8)}]`;
  const say = (who: string, text: string) => write(`${clock()} ${who.padEnd(10)} ${text}\n`);
  const users: NodeClient[] = [];
  let failures = 0;
  try {
    for (const name of names) {
      const user = await openNodeClient({
        web,
        dataDir: join(workDir, name),
        passphrase: `${name} demo passphrase`,
        config: users[0]?.config,
      });
      users.push(user);
      user.client.on('privacy', (state) => say(name, `privacy now ${privacyText(state)}`));
      const t = performance.now();
      await within(user.client.register(name), options.timeoutMs, `${name}'s registration`);
      say(name, `registered in ${seconds(performance.now() - t)}; ${privacyText(user.client.privacy)}`);
    }
    const [alice, bob] = users as [NodeClient, NodeClient];
    const invited = new Promise<Conversation>((resolve) => bob.client.on('conversation', resolve));
    let t = performance.now();
    const aliceChat = await within(
      alice.client.createConversation([names[1]]),
      options.timeoutMs,
      'the conversation',
    );
    say(
      names[0],
      `created a conversation with ${names[1]} (an MLS group) in ${seconds(performance.now() - t)}`,
    );
    const bobChat = await within(invited, options.timeoutMs, `${names[1]}'s invitation`);
    say(
      names[1],
      `joined from the Welcome in his mailbox, ${seconds(performance.now() - t)} after it was sent`,
    );

    const turns = Array.from({ length: 2 * options.messages }, (_, index) => index);
    for (const turn of turns) {
      const [from, to, fromChat, toChat] =
        turn % 2 === 0
          ? ([names[0], names[1], aliceChat, bobChat] as const)
          : ([names[1], names[0], bobChat, aliceChat] as const);
      const text = LINES[turn % LINES.length] as string;
      const arrived = nextMessage(toChat, text);
      t = performance.now();
      const states: string[] = [];
      const off = fromChat.on('status', (message) => {
        if (isText(message.content) && message.content.text === text)
          states.push(`${message.state} +${seconds(performance.now() - t)}`);
      });
      say(from, `sends "${text}"`);
      try {
        await within(fromChat.send({ text }), options.timeoutMs, 'the acknowledgement');
        say(from, `delivery states: ${states.join(' → ')}`);
        await within(arrived, options.timeoutMs, `${to} to read it`);
        say(to, `read "${text}" ${seconds(performance.now() - t)} after it was sent`);
      } catch (error) {
        failures++;
        say(from, `FAILED: ${(error as Error).message}`);
      } finally {
        off();
      }
    }
    say(
      '',
      `done: ${turns.length - failures} of ${turns.length} messages delivered; ${privacyText(alice.client.privacy)}`,
    );
  } finally {
    for (const user of users) await user.client.wipe().catch(() => undefined);
    for (const user of users) await user.carriers.close();
  }
  return failures;
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(`usage: umbra demo [options]\n\n${describeOptions(DEMO_OPTIONS)}\n`);
    return;
  }
  const options = loadConfig(DEMO_OPTIONS, argv);
  const write = (text: string) => process.stdout.write(text);
  const workDir = await mkdtemp(join(tmpdir(), 'umbra-demo-'));
  let up: Up | undefined;
  // Ctrl-C or a SIGTERM mid-demo still stops the network it started and removes its temporary files.
  const shutdown = installShutdown({ logger: createLogger({ role: 'demo', level: 'warn' }) });
  shutdown.add('demo network', async () => {
    await up?.close();
    await rm(workDir, { recursive: true, force: true });
  });
  try {
    let web = options.web;
    if (web === undefined) {
      write('Starting a local umbra network for the demo…\n');
      up = await startUp(
        loadConfig(UP_OPTIONS, ['--data-dir', join(workDir, 'network'), '--port', '0', ...options.up]),
        write,
        { bundle: 'lazy' },
      );
      web = up.web.url;
      write('\n');
    }
    const failures = await runDemo(web, options, write, workDir);
    process.exitCode = failures === 0 ? 0 : 1;
  } finally {
    if (!shutdown.stopping) {
      shutdown.dispose();
      await up?.close();
      await rm(workDir, { recursive: true, force: true });
    }
  }
}
