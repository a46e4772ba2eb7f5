/**
 * `umbra client`: a scriptable terminal client over the SDK, against a running `umbra up` (its carriers come
 * from the deployment's /config.json, as the web app's do). It is two things (client-daemon.ts): `umbra
 * client run`, a long-lived process that holds the vault open and keeps one constant-rate mixnet connection
 * from start to stop, and the short commands, which ask that process over its local socket and never open a
 * network connection themselves (a connection per command would show an observer when each one ran). The
 * vault lives in `--data-dir`; `run` takes the passphrase from the UMBRA_PASSPHRASE environment variable or
 * `--passphrase-file`, never from a flag (flags show in `ps` and shell history).
 *
 *     umbra client run                          start the client: connect, then serve the commands below
 *     umbra client register <handle>            create the identity and bind the handle
 *     umbra client send <handle> <text>         send in the 1:1 with <handle> (created if there is none)
 *     umbra client read                         print the messages kept, oldest first per conversation
 *     umbra client watch                        print messages as they arrive, until Ctrl-C
 *     umbra client conversations                list conversations and their members
 *     umbra client safety-number <handle>       print the safety number; --verify marks it verified
 *     umbra client status                       the handle and the privacy state
 *     umbra client stop                         stop the running client
 *
 * Output is one line per event, or one JSON object per line with `--json`. Exit codes: 0 done, 1 failed
 * (including no client running, and a message kept queued because the privacy policy allowed no carrier),
 * 2 bad usage.
 */
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { ClientError, ConfigError, UmbraError } from '../errors.ts';
import { type ConfigOf, type ConfigSchema, describeOptions, loadConfig } from '../ops/config.ts';
import {
  DAEMON_COMMANDS,
  type DaemonEvent,
  type DaemonRequest,
  socketPath,
  startClientDaemon,
} from './client-daemon.ts';
import { openNodeClient, privacyText } from './node-client.ts';

export const CLIENT_OPTIONS = {
  web: {
    type: 'string',
    default: 'http://localhost:8080',
    description: 'run: URL of the umbra up deployment',
  },
  dataDir: { type: 'string', required: true, description: "directory of this client's vault and socket" },
  passphraseFile: {
    type: 'string',
    description: 'run: file holding the passphrase (default: $UMBRA_PASSPHRASE)',
  },
  verify: { type: 'boolean', description: 'safety-number: mark the contact verified' },
  json: { type: 'boolean', description: 'one JSON object per line' },
  timeoutMs: {
    type: 'integer',
    default: 120_000,
    min: 1_000,
    max: 3_600_000,
    description: 'longest wait for an answer (not for watch)',
  },
} as const satisfies ConfigSchema;

type ClientOptions = ConfigOf<typeof CLIENT_OPTIONS>;

const COMMANDS: Readonly<Record<string, number>> = { run: 0, ...DAEMON_COMMANDS };

const USAGE = `usage: umbra client <command> [arguments] [options]

commands:
  run                      start this client: keep one constant-rate connection to the network and serve
                           the commands below over a local socket, until Ctrl-C or \`umbra client stop\`
  register <handle>        create this client's identity and bind the handle
  send <handle> <text>     send in the 1:1 conversation with <handle> (created if needed)
  read                     print the messages kept, per conversation
  watch                    print messages as they arrive, until Ctrl-C
  conversations            list conversations and their members
  safety-number <handle>   print the safety number (--verify to mark it verified)
  status                   print the handle and the privacy state
  stop                     stop the running client

\`run\` takes the passphrase from UMBRA_PASSPHRASE or --passphrase-file; the other commands need only
--data-dir, and open no network connection.

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

function print(json: boolean, event: DaemonEvent): void {
  const { display, ...fields } = event;
  process.stdout.write(json ? `${JSON.stringify(fields)}\n` : `${display}\n`);
}

/** `umbra client run`: the daemon, until SIGINT, SIGTERM or `umbra client stop`. */
async function runDaemon(options: ClientOptions): Promise<void> {
  const user = await openNodeClient({
    web: options.web,
    dataDir: options.dataDir,
    passphrase: await passphraseOf(options),
  });
  try {
    const daemon = await startClientDaemon(user, options.dataDir);
    const { client } = user;
    const offPrivacy = client.on('privacy', (state) =>
      print(options.json, { event: 'privacy', display: privacyText(state), ...state }),
    );
    // What the SDK could not do in the background (a read, a send, a refill) and will not retry by itself:
    // an operator sees it instead of a silent stall. Error messages carry no user data (errors.ts).
    const offError = client.on('error', (error) => {
      const code = error instanceof UmbraError ? error.code : 'UMBRA_INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      print(options.json, { event: 'error', display: `error: ${code}: ${message}`, code, message });
    });
    const onSignal = () => void daemon.close();
    process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
    print(options.json, {
      event: 'running',
      display: `running ${client.handle === undefined ? '(not registered)' : `as ${client.handle}`} on ${daemon.path}; ${privacyText(client.privacy)}`,
      handle: client.handle ?? null,
      socket: daemon.path,
    });
    await daemon.stopped;
    await daemon.close();
    offPrivacy();
    offError();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    print(options.json, { event: 'stopped', display: 'stopped' });
  } finally {
    await user.close();
  }
}

/**
 * A thin client: one request to the daemon on the data directory's socket, its events printed as they come.
 * Fails with `ClientError` 'not_running' when no daemon answers, and with the daemon's error when it fails.
 */
async function ask(request: DaemonRequest, options: ClientOptions): Promise<void> {
  const path = socketPath(options.dataDir);
  const socket = createConnection(path);
  const stop = () => socket.end();
  if (request.command === 'watch') process.once('SIGINT', stop).once('SIGTERM', stop);
  const timer =
    request.command === 'watch'
      ? undefined
      : setTimeout(
          () => socket.destroy(new ClientError('unreachable', 'no answer in time')),
          options.timeoutMs,
        );
  let failure: DaemonEvent | undefined;
  let buffered = '';
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
          const event = JSON.parse(buffered.slice(0, end)) as DaemonEvent;
          buffered = buffered.slice(end + 1);
          if (event.event === 'error') failure = event;
          else if (event.event !== 'done') print(options.json, event);
        }
      });
      socket.once('close', () => resolve());
      socket.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
            ? new ClientError(
                'not_running',
                `no umbra client runs on ${options.dataDir}: start \`umbra client run\``,
              )
            : error,
        ),
      );
    });
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
  if (failure !== undefined) {
    process.stderr.write(`umbra client: ${String(failure.message)}\n`);
    process.exitCode = 1;
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
  if (command === 'run') await runDaemon(options);
  else await ask({ command, args, verify: options.verify }, options);
}
