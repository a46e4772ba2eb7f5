#!/usr/bin/env node
/**
 * The `umbra` command: one entry point for every role (`umbra <role> [options]`). It only dispatches: each
 * role's library module is imported when that role is asked for (so `umbra --help` and `umbra directory`
 * never load the web bundler), with a literal `import()`, so the type checker checks every role's run
 * function against what the dispatcher calls. Server roles keep running after it resolves and stop
 * themselves on SIGINT/SIGTERM; one-shot commands (`demo`, `client`) resolve when done and may report a
 * failure through `process.exitCode`.
 *
 * Exit codes: 0 success, 1 failure, 2 bad configuration or usage (a `ConfigError`, an unknown command).
 */
import { ConfigError } from '../errors.ts';

/** What each role exports to be run from a command line (its process entry, main.ts, calls the same). */
type RoleRun = (argv: readonly string[]) => Promise<unknown>;

interface Command {
  readonly summary: string;
  readonly load: () => Promise<RoleRun>;
}

/** Every command, in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  up: {
    summary: 'start a complete local network and the web app (what `npm start` runs)',
    load: async () => (await import('../up/role.ts')).runUp,
  },
  demo: {
    summary: 'two scripted users converse through the local network',
    load: async () => (await import('../up/demo.ts')).main,
  },
  client: {
    summary: 'a terminal client: `run` keeps one connection; send, read, watch… ask it over a local socket',
    load: async () => (await import('../up/client.ts')).main,
  },
  directory: {
    summary: 'the directory authority: signs the network document',
    load: async () => (await import('../directory/role.ts')).runDirectory,
  },
  mix: {
    summary: 'a mix node of one layer',
    load: async () => (await import('../mixnode/role.ts')).runMix,
  },
  gateway: {
    summary: 'a gateway: entry and exit hop, client inboxes, services',
    load: async () => (await import('../gateway/role.ts')).runGateway,
  },
  delivery: {
    summary: 'the delivery service: key packages, group logs, mailboxes',
    load: async () => (await import('../delivery/role.ts')).runDelivery,
  },
  identity: {
    summary:
      "print a mix node's or gateway's identity key (for the directory's --allow), creating it if needed",
    load: async () => (await import('../hop/identity-command.ts')).runIdentity,
  },
};

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return [
    'usage: umbra <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    "`umbra <command> --help` lists a command's options.",
    '',
  ].join('\n');
}

/**
 * Runs one command line and resolves with the exit code to use once the command is done (servers keep the
 * process alive after this resolves and exit on their own signal handling).
 */
export async function run(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT_CONFIG : EXIT_OK;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    process.stderr.write(`umbra: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT_CONFIG;
  }
  let runRole: RoleRun;
  try {
    runRole = await command.load();
  } catch (error) {
    process.stderr.write(`umbra ${name}: this build cannot load the command: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  try {
    await runRole(rest);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`umbra ${name}: ${error.message}\n`);
      return EXIT_CONFIG;
    }
    process.stderr.write(`umbra ${name}: failed: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
}

if (import.meta.main) {
  run(process.argv.slice(2)).then(
    (code) => {
      // A failed command exits at once (servers it started must not keep a broken process alive); a
      // successful one leaves the event loop to decide, so servers keep running.
      if (code !== EXIT_OK) process.exit(code);
    },
    (error: unknown) => {
      process.stderr.write(`umbra: ${(error as Error).message}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
