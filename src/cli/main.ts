#!/usr/bin/env node
/**
 * The `umbra` command: one entry point for every role (`umbra <role> [options]`). It only dispatches: each
 * role's module is imported on demand (so `umbra directory` never loads the web bundler, and a role still
 * being built cannot break the others) and its `main(argv)` does the work. Server roles keep running after
 * `main` resolves and stop themselves on SIGINT/SIGTERM; one-shot commands (`demo`, `client`) resolve when
 * done and may report a failure through `process.exitCode`.
 *
 * Exit codes: 0 success, 1 failure, 2 bad configuration or usage (a `ConfigError`, an unknown command).
 */
import { ConfigError } from '../errors.ts';

type RoleMain = (argv: readonly string[]) => Promise<unknown>;

interface Command {
  readonly summary: string;
  readonly load: () => Promise<{ readonly main: RoleMain }>;
}

/**
 * A role's module, resolved next to this file. The specifier is computed rather than literal so that the
 * dispatcher type-checks whatever roles a checkout has; a missing role fails when it is asked for.
 */
function role(path: string): () => Promise<{ readonly main: RoleMain }> {
  return () => import(new URL(path, import.meta.url).href);
}

/** Every command, in the order `--help` lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  up: {
    summary: 'start a complete local network and the web app (what `npm start` runs)',
    load: role('../up/main.ts'),
  },
  demo: { summary: 'two scripted users converse through the local network', load: role('../up/demo.ts') },
  client: {
    summary: 'a terminal client: `run` keeps one connection; send, read, watch… ask it over a local socket',
    load: role('../up/client.ts'),
  },
  directory: {
    summary: 'the directory authority: signs the network document',
    load: role('../directory/main.ts'),
  },
  mix: { summary: 'a mix node of one layer', load: role('../mixnode/main.ts') },
  gateway: {
    summary: 'a gateway: entry and exit hop, client inboxes, services',
    load: role('../gateway/main.ts'),
  },
  delivery: {
    summary: 'the delivery service: key packages, group logs, mailboxes',
    load: role('../delivery/main.ts'),
  },
  identity: {
    summary:
      "print a mix node's or gateway's identity key (for the directory's --allow), creating it if needed",
    load: role('../mixnode/identity-main.ts'),
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
  let module: { readonly main: RoleMain };
  try {
    module = await command.load();
  } catch (error) {
    process.stderr.write(`umbra ${name}: this build cannot load the command: ${(error as Error).message}\n`);
    return EXIT_FAILURE;
  }
  try {
    await module.main(rest);
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
