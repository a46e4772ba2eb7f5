/**
 * The privacy indicator (issue #6): a green dot and "Full privacy" (mixnet and end-to-end), an amber dot and
 * "Partial privacy" (end-to-end only: the delivery service sees this device connect), a red dot and "No
 * privacy" (nothing can be sent). The dot is drawn by CSS (`.privacy-dot`), not an emoji, so it shows on
 * systems without a colour emoji font, and the words carry the state on their own (for screen readers and
 * colour-blind users alike). The reason is in the tooltip on hover and shown in full on tap or Enter, for
 * touch screens and keyboards. The same component sits beside every place a message can be sent.
 */
import { h } from './dom.ts';
import { type PrivacyState, privacyLabel } from './session.ts';

export interface PrivacyIndicator {
  readonly element: HTMLElement;
  update(state: PrivacyState): void;
}

let nextId = 0;

export function privacyIndicator(initial: PrivacyState): PrivacyIndicator {
  const reasonId = `privacy-reason-${nextId++}`;
  const label = h('span', { class: 'privacy-label' });
  const reason = h('span', { id: reasonId, class: 'privacy-reason', role: 'status', hidden: true });
  const button = h(
    'button',
    {
      type: 'button',
      class: 'privacy',
      'aria-expanded': 'false',
      'aria-describedby': reasonId,
      'data-testid': 'privacy',
    },
    h('span', { class: 'privacy-dot', 'aria-hidden': 'true' }),
    label,
  );
  button.addEventListener('click', () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    reason.hidden = !open;
  });
  const element = h('span', { class: 'privacy-indicator' }, button, reason);

  function update(state: PrivacyState): void {
    label.textContent = privacyLabel(state.level);
    button.title = state.reason;
    button.dataset.level = state.level;
    reason.textContent = state.reason;
  }
  update(initial);
  return { element, update };
}
