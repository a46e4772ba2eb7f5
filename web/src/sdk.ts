import type { WebConfig } from '../../src/up/web-config.ts';
import type { IndexedDbStore } from './indexeddb-storage.ts';
import type { Session } from './session.ts';
export const VAULT_DATABASE = 'umbra-vault';
export async function openAccount(
  _c: WebConfig,
  _s: IndexedDbStore,
  _p: string,
  _o: { create?: string },
): Promise<Session> {
  throw new Error('not yet');
}
