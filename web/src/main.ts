/**
 * The web app's entry point (bundled by `umbra up` into /app.js): reads /config.json, opens the vault in
 * IndexedDB, and shows sign-up, unlock or the chat screen. Everything the app does to messages happens in
 * this page: the SDK encrypts before anything reaches a socket, and the server's Content-Security-Policy
 * allows connections to this origin only.
 */
import { WEB_CONFIG_VERSION, type WebConfig } from 'umbra';
import { type AuthActions, signUpScreen, unlockScreen } from './auth.ts';
import { type ChatScreen, chatScreen } from './chat.ts';
import { errorText, h, replace } from './dom.ts';
import { IndexedDbStore } from './indexeddb-storage.ts';
import { openAccount, VAULT_DATABASE } from './sdk.ts';
import type { Session } from './session.ts';

async function loadConfig(): Promise<WebConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`the server did not give its configuration (HTTP ${response.status})`);
  const config = (await response.json()) as WebConfig;
  if (config.version !== WEB_CONFIG_VERSION) {
    throw new Error('this page and the server are from different umbra versions: reload the page');
  }
  return config;
}

async function start(root: HTMLElement): Promise<void> {
  const config = await loadConfig();
  let chat: ChatScreen | undefined;

  const show = (session: Session) => {
    chat = chatScreen(session, () => {
      chat?.dispose();
      chat = undefined;
      void boot();
    });
    replace(root, chat.element);
  };

  const actions: AuthActions = {
    signUp: (handle, passphrase, progress) => openAccount(config, passphrase, { create: handle, progress }),
    unlock: (passphrase, progress) => openAccount(config, passphrase, { progress }),
    forget: async () => {
      const store = new IndexedDbStore(VAULT_DATABASE);
      await store.destroy(await store.list());
    },
  };

  async function boot(): Promise<void> {
    const hasAccount = await IndexedDbStore.exists(VAULT_DATABASE);
    replace(root, hasAccount ? unlockScreen(actions, show) : signUpScreen(actions, show));
  }
  await boot();
}

const root = document.getElementById('root');
if (root !== null) {
  start(root).catch((error: unknown) => {
    replace(
      root,
      h(
        'main',
        { class: 'auth' },
        h('p', { class: 'card', role: 'alert' }, `umbra could not start: ${errorText(error)}`),
      ),
    );
  });
}
