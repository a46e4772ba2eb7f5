/**
 * The signed-in screen: the conversation list, starting a 1:1 or group conversation by handle, the open
 * conversation with its members (add, remove, safety numbers) and its messages with their delivery state,
 * and the composer with the privacy indicator beside it. On "No privacy" the composer's Send is disabled and
 * the typed text stays where it is (per conversation, in this page's memory only) until privacy returns.
 * A conversation opens at its newest message and follows new ones while the user is at the bottom; a failure
 * shown under one action is cleared when the user starts the next one (send, start, add, remove). The
 * members list follows changes made by others; a member who was removed (or left) keeps the conversation,
 * read-only, with a notice saying so. The header switches between the chat and the wellness screens
 * (wellness.ts); care-team conversations are not in the chat's list.
 */
import { append, errorText, h, parseHandles, replace } from './dom.ts';
import { observerPanel } from './observer.ts';
import { privacyIndicator } from './privacy.ts';
import type { ConversationView, DeliveryState, MessageView, SafetyNumberView, Session } from './session.ts';
import { wellnessScreens } from './wellness.ts';

const STATE_LABELS: Readonly<Record<DeliveryState, string>> = {
  queued: 'queued',
  sent: 'sent',
  acknowledged: 'acknowledged',
  delivered: 'delivered',
  failed: 'not sent',
};

const STATE_HELP: Readonly<Record<DeliveryState, string>> = {
  queued: 'Kept on this device until it can be sent with the privacy this conversation requires',
  sent: 'Handed to the network',
  acknowledged: 'The delivery service stored it',
  delivered: 'Received',
  failed: 'Could not be sent; it is kept in the box below',
};

function conversationTitle(session: Session, conversation: ConversationView): string {
  const others = conversation.members.filter((member) => member !== session.handle);
  return others.length === 0 ? 'Only you' : others.join(', ');
}

function endedNotice(conversation: ConversationView): string {
  if (conversation.status === 'left') return 'You left this conversation. What was said before stays here.';
  const by = conversation.removedBy === undefined ? '' : ` by @${conversation.removedBy}`;
  return `You were removed from this conversation${by}. You can still read what was said before; nothing new reaches you.`;
}

/** What the open conversation's header shows, to redraw it only when it changes. */
function headerKey(conversation: ConversationView): string {
  return `${conversation.status} ${conversation.members.join(',')}`;
}

/** How close to the end (in CSS pixels) still counts as "at the newest message". */
const BOTTOM_SLACK_PX = 40;

function timeText(time: number): string {
  return new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export interface ChatScreen {
  readonly element: HTMLElement;
  dispose(): void;
}

export function chatScreen(session: Session, onWiped: () => void): ChatScreen {
  let current: string | undefined;
  const drafts = new Map<string, string>();
  /** Conversations whose draft the user asked to send as soon as privacy returns (this page's memory). */
  const sendWhenPrivate = new Set<string>();
  const disposers: (() => void)[] = [];
  /** Failures on screen, each with its text: the next action clears those still showing it. */
  const failures = new Map<HTMLElement, string>();

  function showFailure(line: HTMLElement, text: string): void {
    line.textContent = text;
    failures.set(line, text);
  }

  /** Called as every action starts: an old failure says nothing about the new attempt. */
  function clearFailures(): void {
    for (const [line, text] of failures) if (line.textContent === text) line.textContent = '';
    failures.clear();
  }

  // ── header ──────────────────────────────────────────────────────────────────────────────────────────
  const globalPrivacy = privacyIndicator(session.privacy());
  const observerToggle = h(
    'button',
    { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'observer-region' },
    'What an observer sees',
  );
  const panic = h('button', { type: 'button', class: 'danger', 'data-testid': 'panic' }, 'Panic: wipe');
  const wellness = wellnessScreens(session);
  const sections = h('nav', { class: 'sections', 'aria-label': 'Sections' });
  const header = h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'brand' }, 'umbra'),
    h('span', { class: 'whoami', 'data-testid': 'whoami' }, `@${session.handle}`),
    globalPrivacy.element,
    sections,
    h('span', { class: 'spacer' }),
    observerToggle,
    panic,
  );

  // ── conversation list and "new conversation" ────────────────────────────────────────────────────────
  const list = h('ul', { class: 'conversations', 'data-testid': 'conversation-list' });
  const newHandles = h('input', {
    id: 'new-conversation-handles',
    autocapitalize: 'none',
    spellcheck: 'false',
    placeholder: 'bob, or bob, carol',
    required: true,
    'aria-describedby': 'new-conversation-help',
  });
  const newStatus = h('p', { class: 'status', role: 'status' });
  const newForm = h(
    'form',
    { class: 'new-conversation' },
    h('label', { for: 'new-conversation-handles' }, 'Start a conversation with'),
    newHandles,
    h('p', { id: 'new-conversation-help', class: 'help' }, 'One handle for a 1:1, several for a group.'),
    h('button', { type: 'submit' }, 'Start'),
    newStatus,
  );
  newForm.addEventListener('submit', (event) => {
    event.preventDefault();
    clearFailures();
    const handles = parseHandles(newHandles.value).filter((handle) => handle !== session.handle);
    if (handles.length === 0) {
      showFailure(newStatus, 'Name at least one other person.');
      return;
    }
    newStatus.textContent = 'Starting…';
    newForm.setAttribute('aria-busy', 'true');
    session.createConversation(handles).then(
      (conversation) => {
        newForm.removeAttribute('aria-busy');
        newHandles.value = '';
        newStatus.textContent = '';
        open(conversation.id);
      },
      (error: unknown) => {
        newForm.removeAttribute('aria-busy');
        showFailure(newStatus, `Could not start it: ${errorText(error)}`);
      },
    );
  });
  const sidebar = h(
    'nav',
    { class: 'sidebar', 'aria-label': 'Conversations' },
    h('h2', {}, 'Conversations'),
    list,
    newForm,
  );

  // ── the open conversation ───────────────────────────────────────────────────────────────────────────
  const pane = h('section', { class: 'conversation', 'aria-label': 'Conversation' });
  const observerRegion = h('div', { id: 'observer-region', hidden: true });
  let observer: ReturnType<typeof observerPanel> | undefined;
  observerToggle.addEventListener('click', () => {
    const show = observerRegion.hidden;
    observerRegion.hidden = !show;
    observerToggle.setAttribute('aria-expanded', String(show));
    if (show) {
      observer = observerPanel(session);
      replace(observerRegion, observer.element);
    } else {
      observer?.stop();
      observer = undefined;
      replace(observerRegion);
    }
  });

  const safetyDialog = h('dialog', { class: 'safety', 'aria-labelledby': 'safety-title' });
  const panicDialog = panicConfirmation(session, onWiped);
  panic.addEventListener('click', () => panicDialog.showModal());

  function renderList(): void {
    const items = session.conversations().map((conversation) => {
      const button = h(
        'button',
        {
          type: 'button',
          class: 'conversation-link',
          'aria-current': conversation.id === current ? 'true' : undefined,
        },
        conversationTitle(session, conversation),
        conversation.status === 'active' ? false : h('span', { class: 'ended' }, ' · ended'),
      );
      button.addEventListener('click', () => open(conversation.id));
      return h('li', {}, button);
    });
    replace(list, ...(items.length > 0 ? items : [h('li', { class: 'empty' }, 'No conversations yet.')]));
  }

  function messageItem(message: MessageView): HTMLElement {
    return h(
      'li',
      {
        class: `message ${message.outgoing ? 'outgoing' : 'incoming'}`,
        'data-testid': 'message',
        'data-state': message.state,
      },
      h('span', { class: 'sender' }, message.outgoing ? 'You' : `@${message.sender}`),
      h('p', { class: 'text' }, message.text),
      h(
        'span',
        { class: 'meta' },
        h('time', { datetime: new Date(message.time).toISOString() }, timeText(message.time)),
        message.outgoing &&
          h(
            'span',
            { class: `state state-${message.state}`, title: STATE_HELP[message.state] },
            ` · ${STATE_LABELS[message.state]}`,
          ),
      ),
    );
  }

  let messagesList: HTMLOListElement | undefined;
  let composer: { refresh(): void; submit(): void } | undefined;
  /** The open conversation's header (title and members), redrawn in place when the members change. */
  let shownHeader: { key: string; title: HTMLElement; members: HTMLElement } | undefined;
  /**
   * Whether the open conversation follows its newest message: true when it opens, then whatever the user's
   * last scroll left (at the bottom or not). Kept as state, not measured at each render, because the list
   * may not be laid out yet (the screen is built before it is attached) or may change size.
   */
  let followNewest = true;
  const listResized = new ResizeObserver(() => showNewest());
  disposers.push(() => listResized.disconnect());

  function showNewest(): void {
    if (followNewest && messagesList !== undefined) messagesList.scrollTop = messagesList.scrollHeight;
  }

  function renderMessages(): void {
    if (current === undefined || messagesList === undefined) return;
    replace(messagesList, ...session.messages(current).map(messageItem));
    showNewest();
  }

  function open(conversationId: string): void {
    current = conversationId;
    renderList();
    const conversation = session.conversations().find((candidate) => candidate.id === conversationId);
    if (conversation === undefined) {
      replace(pane, h('p', { class: 'empty' }, 'You are no longer in this conversation.'));
      return;
    }
    const list = h('ol', {
      class: 'messages',
      role: 'log',
      'aria-live': 'polite',
      'aria-label': 'Messages',
      tabindex: '0',
      'data-testid': 'messages',
    });
    list.addEventListener('scroll', () => {
      followNewest = list.scrollHeight - list.scrollTop - list.clientHeight < BOTTOM_SLACK_PX;
    });
    if (messagesList !== undefined) listResized.unobserve(messagesList);
    listResized.observe(list);
    messagesList = list;
    followNewest = true;
    const title = h('h2', { class: 'conversation-title' }, conversationTitle(session, conversation));
    if (conversation.status !== 'active') {
      composer = undefined;
      shownHeader = { key: headerKey(conversation), title, members: h('span') };
      const notice = h(
        'p',
        { class: 'notice', role: 'status', 'data-testid': 'ended' },
        endedNotice(conversation),
      );
      replace(pane, title, notice, messagesList);
      renderMessages();
      return;
    }
    const members = membersPanel(conversation);
    shownHeader = { key: headerKey(conversation), title, members };
    const compose = composerFor(conversation);
    composer = compose;
    replace(pane, title, members, messagesList, compose.element);
    renderMessages();
    compose.focus();
  }

  /** Redraws the open conversation's header after a change by someone else; an ending reopens it read-only. */
  function refreshHeader(): void {
    const conversation = session.conversations().find((candidate) => candidate.id === current);
    if (conversation === undefined || shownHeader === undefined) return;
    const key = headerKey(conversation);
    if (key === shownHeader.key) return;
    if (conversation.status !== 'active') {
      if (current !== undefined) open(current);
      return;
    }
    const title = h('h2', { class: 'conversation-title' }, conversationTitle(session, conversation));
    const members = membersPanel(conversation);
    if (shownHeader.members.hasAttribute('open')) members.setAttribute('open', '');
    shownHeader.title.replaceWith(title);
    shownHeader.members.replaceWith(members);
    shownHeader = { key, title, members };
  }

  function membersPanel(conversation: ConversationView): HTMLElement {
    const others = conversation.members.filter((member) => member !== session.handle);
    const status = h('p', { class: 'status', role: 'status' });
    const rows = others.map((member) => {
      const safety = h('button', { type: 'button' }, 'Safety number');
      safety.addEventListener('click', () => showSafety(member));
      const remove = h('button', { type: 'button', class: 'danger' }, 'Remove');
      remove.setAttribute('aria-label', `Remove @${member}`);
      remove.addEventListener('click', () => {
        clearFailures();
        status.textContent = `Removing @${member}…`;
        session.removeMember(conversation.id, member).then(
          (outcome) => {
            if (outcome === 'done') open(conversation.id);
            else status.textContent = `Removing @${member} as soon as the network answers…`;
          },
          (error: unknown) => showFailure(status, `Could not remove @${member}: ${errorText(error)}`),
        );
      });
      const warning =
        session.keyChanged(member) &&
        h('span', { class: 'warning', 'data-testid': 'member-key-changed' }, '⚠ key changed');
      return h(
        'li',
        {},
        h('span', { class: 'member' }, `@${member}`),
        warning,
        safety,
        others.length > 1 && remove,
      );
    });
    const addInput = h('input', {
      id: `add-member-${conversation.id}`,
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
    });
    const addForm = h(
      'form',
      { class: 'add-member' },
      h('label', { for: addInput.id }, 'Add someone'),
      addInput,
      h('button', { type: 'submit' }, 'Add'),
    );
    addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      clearFailures();
      const [handle] = parseHandles(addInput.value);
      if (handle === undefined) return;
      status.textContent = `Adding @${handle}…`;
      session.addMember(conversation.id, handle).then(
        (outcome) => {
          if (outcome === 'done') open(conversation.id);
          else status.textContent = `Adding @${handle} as soon as the network answers…`;
        },
        (error: unknown) => showFailure(status, `Could not add @${handle}: ${errorText(error)}`),
      );
    });
    return h(
      'details',
      { class: 'members' },
      h('summary', {}, `Members (${conversation.members.length})`),
      h('ul', {}, ...rows),
      addForm,
      status,
    );
  }

  /**
   * Hands a draft to the SDK, which stores it (queued) at once and keeps it until it is sent, so the box is
   * cleared now; the text comes back only if the message was refused outright.
   */
  function submitDraft(
    conversationId: string,
    box: { take(): string; restore(text: string): void; report(text: string): void },
  ): void {
    clearFailures();
    const text = box.take();
    drafts.delete(conversationId);
    sendWhenPrivate.delete(conversationId);
    if (text === '') return;
    session.send(conversationId, text).catch((error: unknown) => {
      box.report(`Not sent: ${errorText(error)}`);
      box.restore(text);
      drafts.set(conversationId, text);
    });
  }

  /** Sends the drafts waiting for privacy in every conversation that has it back. */
  function sendWaitingDrafts(): void {
    for (const conversationId of [...sendWhenPrivate]) {
      if (session.privacy(conversationId).level === 'none') continue;
      if (conversationId === current && composer !== undefined) {
        composer.submit();
        continue;
      }
      const text = drafts.get(conversationId) ?? '';
      submitDraft(conversationId, { take: () => text, restore: () => {}, report: () => {} });
    }
  }

  function composerFor(conversation: ConversationView): {
    element: HTMLElement;
    refresh(): void;
    focus(): void;
    submit(): void;
  } {
    const indicator = privacyIndicator(session.privacy(conversation.id));
    const input = h('textarea', {
      id: 'composer-input',
      rows: 2,
      'data-testid': 'composer',
      'aria-describedby': 'composer-status',
    });
    input.value = drafts.get(conversation.id) ?? '';
    const send = h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send');
    // Shown only on "No privacy": nothing is sent now, but the user may ask for the text to go once privacy is back.
    const later = h(
      'button',
      { type: 'button', 'data-testid': 'send-later', 'aria-pressed': 'false', hidden: true },
      'Send when private again',
    );
    const status = h('p', { id: 'composer-status', class: 'status', role: 'status' });
    const form = h(
      'form',
      { class: 'composer' },
      h('label', { for: 'composer-input', class: 'visually-hidden' }, 'Message'),
      input,
      h('div', { class: 'composer-actions' }, indicator.element, h('span', { class: 'spacer' }), later, send),
      status,
    );
    const refresh = () => {
      const privacy = session.privacy(conversation.id);
      indicator.update(privacy);
      const blocked = privacy.level === 'none';
      const waiting = sendWhenPrivate.has(conversation.id);
      send.disabled = blocked;
      later.hidden = !blocked;
      later.setAttribute('aria-pressed', String(waiting));
      status.textContent = !blocked
        ? ''
        : waiting
          ? `Sending is paused: ${privacy.reason}. This message will be sent when privacy returns.`
          : `Sending is paused: ${privacy.reason}. What you type stays here until privacy returns.`;
    };
    input.addEventListener('input', () => {
      drafts.set(conversation.id, input.value);
      if (input.value.trim() === '') sendWhenPrivate.delete(conversation.id);
      refresh();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    later.addEventListener('click', () => {
      if (sendWhenPrivate.has(conversation.id)) sendWhenPrivate.delete(conversation.id);
      else if (input.value.trim() !== '') sendWhenPrivate.add(conversation.id);
      refresh();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (send.disabled) return;
      followNewest = true; // One's own message is shown, wherever the list was scrolled.
      submitDraft(conversation.id, {
        take: () => {
          const text = input.value.trim();
          input.value = '';
          return text;
        },
        restore: (text) => {
          if (input.value === '') input.value = text;
        },
        report: (text) => showFailure(status, text),
      });
    });
    refresh();
    return { element: form, refresh, focus: () => input.focus(), submit: () => form.requestSubmit() };
  }

  function showSafety(handle: string): void {
    replace(safetyDialog, h('p', {}, 'Computing…'));
    safetyDialog.showModal();
    session.safetyNumber(handle).then(
      (view) => renderSafety(view),
      (error: unknown) =>
        replace(safetyDialog, h('p', {}, `Could not compute it: ${errorText(error)}`), closeButton()),
    );
  }

  function closeButton(): HTMLButtonElement {
    const close = h('button', { type: 'button' }, 'Close');
    close.addEventListener('click', () => safetyDialog.close());
    return close;
  }

  function renderSafety(view: SafetyNumberView): void {
    const verify = h('button', { type: 'button', class: 'primary' }, 'Mark as verified');
    verify.addEventListener('click', () => {
      session.markVerified(view.handle).then(
        () => session.safetyNumber(view.handle).then(renderSafety),
        (error: unknown) => append(safetyDialog, h('p', { role: 'alert' }, errorText(error))),
      );
    });
    replace(
      safetyDialog,
      h('h2', { id: 'safety-title' }, `Safety number with @${view.handle}`),
      view.keyChanged &&
        h(
          'p',
          { class: 'warning', role: 'alert', 'data-testid': 'key-changed' },
          `@${view.handle}'s key has changed since you last verified it. Compare the new number before you trust this conversation again.`,
        ),
      h(
        'p',
        {},
        'Compare these digits with the ones on their device, in person or on a call. If they match, nobody is in the middle.',
      ),
      h('p', { class: 'digits', 'data-testid': 'safety-digits' }, view.digits),
      view.verified && !view.keyChanged
        ? h('p', { class: 'verified', 'data-testid': 'verified' }, '✔ Verified')
        : verify,
      closeButton(),
    );
  }

  const chatLayout = h('div', { class: 'layout' }, sidebar, pane);
  const views: readonly [string, HTMLElement][] = [
    ['Chat', chatLayout],
    ['My wellness', wellness.mine],
    ['Care team', wellness.team],
    ['Shared with me', wellness.shared],
  ];
  const sectionButtons = views.map(([name, view]) => {
    const button = h('button', { type: 'button', 'aria-pressed': String(view === chatLayout) }, name);
    button.addEventListener('click', () => {
      for (const [other, otherView] of views) otherView.hidden = other !== name;
      for (const b of sectionButtons) b.setAttribute('aria-pressed', String(b === button));
    });
    view.hidden = view !== chatLayout;
    return button;
  });
  replace(sections, ...sectionButtons);

  const main = h(
    'div',
    { class: 'app' },
    header,
    observerRegion,
    ...views.map(([, view]) => view),
    safetyDialog,
    panicDialog,
  );

  disposers.push(
    session.on((event) => {
      switch (event.type) {
        case 'privacy':
          globalPrivacy.update(session.privacy());
          composer?.refresh();
          sendWaitingDrafts();
          break;
        case 'conversations':
          renderList();
          if (current !== undefined && !session.conversations().some((c) => c.id === current)) open(current);
          else {
            refreshHeader();
            renderMessages();
          }
          break;
        case 'message':
          if (event.message.conversationId === current) renderMessages();
          else renderList();
          break;
        case 'wellness':
          wellness.refresh();
          renderList();
          // A conversation learned to be a care team's leaves the chat.
          if (current !== undefined && !session.conversations().some((c) => c.id === current)) {
            current = undefined;
            replace(
              pane,
              h('p', { class: 'empty' }, 'Choose a conversation, or start one by naming someone’s handle.'),
            );
          }
          break;
      }
    }),
  );

  renderList();
  replace(
    pane,
    h('p', { class: 'empty' }, 'Choose a conversation, or start one by naming someone’s handle.'),
  );
  const first = session.conversations()[0];
  if (first !== undefined) open(first.id);

  return {
    element: main,
    dispose() {
      observer?.stop();
      for (const dispose of disposers) dispose();
    },
  };
}

function panicConfirmation(session: Session, onWiped: () => void): HTMLDialogElement {
  const confirm = h(
    'button',
    { type: 'button', class: 'danger', 'data-testid': 'panic-confirm' },
    'Wipe now',
  );
  const cancel = h('button', { type: 'button' }, 'Cancel');
  const status = h('p', { class: 'status', role: 'status' });
  const dialog = h(
    'dialog',
    { class: 'panic', 'aria-labelledby': 'panic-title', 'aria-describedby': 'panic-text' },
    h('h2', { id: 'panic-title' }, 'Wipe this device?'),
    h(
      'p',
      { id: 'panic-text' },
      'This destroys your keys and every conversation stored on this device, at once and for good. People you talk to will not be told.',
    ),
    h('div', { class: 'dialog-actions' }, cancel, confirm),
    status,
  );
  cancel.addEventListener('click', () => dialog.close());
  confirm.addEventListener('click', () => {
    confirm.disabled = true;
    status.textContent = 'Wiping…';
    session.wipe().then(
      () => {
        dialog.close();
        onWiped();
      },
      (error: unknown) => {
        confirm.disabled = false;
        status.textContent = `Wipe failed: ${errorText(error)}`;
      },
    );
  });
  // Opening the dialog puts focus on Cancel, so Enter never wipes by accident.
  dialog.addEventListener('toggle', () => {
    if (dialog.open) cancel.focus();
  });
  return dialog;
}
