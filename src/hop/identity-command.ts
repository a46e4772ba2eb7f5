/**
 * `umbra identity --data-dir d`: a node's Ed25519 identity public key in hex, the value the directory
 * authority's `--allow` takes. It creates the identity (`d/identity/identity.key`, mode 0600) when the data
 * directory has none yet, exactly as `umbra mix` or `umbra gateway` would on its first start with the same
 * `--data-dir`, so an operator can send the key to the authority before the node first runs. A library
 * function, `runIdentity(argv)`, beside the hop's identity it reads; the `umbra` command (src/cli) runs it.
 */
import { toHex } from '../bytes.ts';
import { type ConfigSchema, loadConfig } from '../ops/config.ts';
import { printHelp } from '../ops/process.ts';
import { loadOrCreateNodeIdentity } from './directory-session.ts';

const IDENTITY_OPTIONS = {
  dataDir: {
    type: 'string',
    required: true,
    description: 'the data directory of the mix node or gateway (its identity is created if missing)',
  },
} as const satisfies ConfigSchema;

/** Prints the identity public key of the node whose data directory `argv` names; resolves with it. */
export async function runIdentity(argv: readonly string[]): Promise<string | undefined> {
  if (printHelp('umbra identity', IDENTITY_OPTIONS, argv)) return undefined;
  const { dataDir } = loadConfig(IDENTITY_OPTIONS, argv);
  const identity = await loadOrCreateNodeIdentity(dataDir);
  const hex = toHex(identity.publicKey);
  process.stdout.write(`${hex}\n`);
  return hex;
}
