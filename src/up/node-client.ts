/**
 * A client SDK instance in Node for `umbra demo` and `umbra client`: its vault in a directory, its carriers
 * from a deployment's `/config.json` (the SDK's `openCarriers`), exactly as the web app gets them in the
 * page. The vault is unlocked before any connection opens: Argon2id holds this thread for about a second, and
 * a connection opened before it would start with a second of no cover packets, which an observer of new
 * connections sees (issue 18).
 */
import {
  type Carriers,
  Client,
  deploymentEndpoints,
  directoryStorage,
  fetchWebConfig,
  openCarriers,
} from '../index.ts';
import type { WebConfig } from '../protocol/web-config.ts';

export interface NodeClient {
  readonly client: Client;
  readonly carriers: Carriers;
  readonly config: WebConfig;
  /** Closes the client (its vault stays) and its carriers. */
  close(): Promise<void>;
}

export async function openNodeClient(options: {
  readonly web: string;
  readonly dataDir: string;
  readonly passphrase: string;
  readonly config?: WebConfig;
}): Promise<NodeClient> {
  const config = options.config ?? (await fetchWebConfig(options.web));
  const vault = await directoryStorage(options.dataDir).open(options.passphrase);
  let carriers: Carriers;
  try {
    carriers = await openCarriers(config.privacy, deploymentEndpoints(config, options.web));
  } catch (error) {
    await vault.close();
    throw error;
  }
  let client: Client;
  try {
    client = await Client.open({
      storage: { open: async () => vault },
      passphrase: options.passphrase,
      carriers: carriers.all,
      privacy: config.privacy,
    });
  } catch (error) {
    await carriers.close();
    throw error;
  }
  return {
    client,
    carriers,
    config,
    close: async () => {
      await client.close();
      await carriers.close();
    },
  };
}

/** How a privacy state reads in a terminal: the same symbols and words as the web app. */
export function privacyText(state: {
  readonly level: 'full' | 'partial' | 'none';
  readonly reason: string;
}): string {
  const label = { full: '🟢 Full privacy', partial: '🟡 Partial privacy', none: '🔴 No privacy' }[
    state.level
  ];
  return `${label} (${state.reason})`;
}
