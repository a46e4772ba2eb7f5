/**
 * The two doors into the app: sign up (choose a handle and a passphrase, on a device without an account)
 * and unlock (the passphrase again, on return). The passphrase goes only into Argon2id, here in the page;
 * nothing leaves the device but the public keys the registration publishes.
 */
import { errorText, h } from './dom.ts';
import type { OpeningStep, Session } from './session.ts';

/** Handles the delivery service accepts: what `register` checks too, caught here before the slow work. */
const HANDLE_PATTERN = '[a-z0-9][a-z0-9_.\\-]{1,31}';
const MIN_PASSPHRASE_LENGTH = 8;

/** What the progress line says during each step (sdk.ts reports them as they start). */
const STEP_TEXT: Readonly<Record<OpeningStep, string>> = {
  deriving: 'Deriving your key from your passphrase…',
  connecting: 'Connecting to the network…',
  loading: 'Opening your account…',
  creating: 'Creating your keys…',
  publishing: 'Publishing your keys…',
};

export interface AuthActions {
  signUp(handle: string, passphrase: string, progress: (step: OpeningStep) => void): Promise<Session>;
  unlock(passphrase: string, progress: (step: OpeningStep) => void): Promise<Session>;
  /** Deletes the locked vault of a forgotten passphrase, so the device can sign up again. */
  forget(): Promise<void>;
}

function busy(form: HTMLFormElement, working: boolean, status: HTMLElement, text: string): void {
  for (const control of form.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button')) {
    control.disabled = working;
  }
  form.setAttribute('aria-busy', String(working));
  status.classList.toggle('working', working);
  status.textContent = text;
}

/** The status line while the account opens: the current step, by name (a spinner beside it, in CSS). */
function progressLine(status: HTMLElement): (step: OpeningStep) => void {
  return (step) => {
    status.textContent = STEP_TEXT[step];
  };
}

/** The status line: progress while working, then the outcome; `data-testid="auth-status"` for the tests. */
function statusLine(): HTMLParagraphElement {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite', 'data-testid': 'auth-status' });
}

export function signUpScreen(actions: AuthActions, done: (session: Session) => void): HTMLElement {
  const handle = h('input', {
    id: 'signup-handle',
    name: 'handle',
    autocomplete: 'username',
    required: true,
    pattern: HANDLE_PATTERN,
    autocapitalize: 'none',
    spellcheck: 'false',
    'aria-describedby': 'signup-handle-help',
  });
  const passphrase = h('input', {
    id: 'signup-passphrase',
    name: 'passphrase',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
    minlength: MIN_PASSPHRASE_LENGTH,
  });
  const confirm = h('input', {
    id: 'signup-confirm',
    name: 'confirm',
    type: 'password',
    autocomplete: 'new-password',
    required: true,
  });
  const status = statusLine();
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signup-title' },
    h('h1', { id: 'signup-title' }, 'Create your account'),
    h(
      'p',
      {},
      'Your keys are made and kept on this device, locked by your passphrase. Nobody can reset it: if you lose it, your messages are gone.',
    ),
    h('label', { for: 'signup-handle' }, 'Handle'),
    handle,
    h(
      'p',
      { id: 'signup-handle-help', class: 'help' },
      '2–32 characters: lower-case letters, digits, dot, dash, underscore. Others find you by it.',
    ),
    h('label', { for: 'signup-passphrase' }, 'Passphrase'),
    passphrase,
    h('label', { for: 'signup-confirm' }, 'Passphrase again'),
    confirm,
    h('button', { type: 'submit', class: 'primary' }, 'Create account'),
    status,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (passphrase.value !== confirm.value) {
      status.textContent = 'The two passphrases differ.';
      confirm.focus();
      return;
    }
    busy(form, true, status, STEP_TEXT.deriving);
    actions.signUp(handle.value.trim().toLowerCase(), passphrase.value, progressLine(status)).then(
      (session) => {
        passphrase.value = '';
        confirm.value = '';
        done(session);
      },
      (error: unknown) => {
        busy(form, false, status, `Could not create the account: ${errorText(error)}`);
      },
    );
  });
  queueMicrotask(() => handle.focus());
  return h('main', { class: 'auth' }, form);
}

export function unlockScreen(actions: AuthActions, done: (session: Session) => void): HTMLElement {
  const passphrase = h('input', {
    id: 'unlock-passphrase',
    name: 'passphrase',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const status = statusLine();
  const forget = h('button', { type: 'button', class: 'link danger' }, 'Forgot it? Erase this device');
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'unlock-title' },
    h('h1', { id: 'unlock-title' }, 'Unlock'),
    h('p', {}, 'Your account on this device is locked.'),
    h('label', { for: 'unlock-passphrase' }, 'Passphrase'),
    passphrase,
    h('button', { type: 'submit', class: 'primary' }, 'Unlock'),
    status,
    forget,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(form, true, status, STEP_TEXT.deriving);
    actions.unlock(passphrase.value, progressLine(status)).then(
      (session) => {
        passphrase.value = '';
        done(session);
      },
      (error: unknown) => {
        busy(form, false, status, `Could not unlock: ${errorText(error)}`);
        passphrase.select();
      },
    );
  });
  forget.addEventListener('click', () => {
    if (
      !window.confirm('Erase the locked account on this device? Its keys and messages cannot be recovered.')
    ) {
      return;
    }
    busy(form, true, status, 'Erasing…');
    actions.forget().then(
      () => window.location.reload(),
      (error: unknown) => busy(form, false, status, `Could not erase: ${errorText(error)}`),
    );
  });
  queueMicrotask(() => passphrase.focus());
  return h('main', { class: 'auth' }, form);
}
