/**
 * The wellness screens (issue 16; docs/wellness.md): "My wellness" — log entries, the Functional Wellness
 * Index with a 30-day chart, the trends and adherence, all computed in this page, and the reminders and
 * check-ins the care team sent (a check-in is answered here); "Care team" — invite by handle with a role,
 * change a role, revoke, share today's insights; "Shared with me" — what each person this user supports
 * shares with them, by the role they gave (coaches, trainers and clinicians also send reminders and
 * check-ins from here). Plain DOM over `Session.wellness`, like the chat screen.
 */
import { append, errorText, h, parseHandles, replace } from './dom.ts';
import type { Insights, NewEntry, RawEntry, Session, SupporterRole } from './session.ts';

const ROLES: readonly SupporterRole[] = ['friend', 'family', 'colleague', 'coach', 'trainer', 'clinician'];

/** The form's fields per entry kind: label, entry field, and the input's bounds. */
const FIELDS = {
  activity: [
    ['Steps', 'steps', 0, 200_000, 1],
    ['Active minutes', 'activeMinutes', 0, 1440, 1],
  ],
  sleep: [
    ['Hours slept', 'hours', 0, 24, 0.25],
    ['Sleep quality (1–5)', 'quality', 1, 5, 1],
  ],
  mood: [['Mood (1–5)', 'score', 1, 5, 1]],
  nutrition: [
    ['Fruit and vegetable servings', 'fruitVegServings', 0, 50, 1],
    ['Water (litres)', 'waterLitres', 0, 20, 0.1],
  ],
  journal: [],
} as const satisfies Record<NewEntry['kind'], readonly (readonly [string, string, number, number, number])[]>;

type Kind = keyof typeof FIELDS;

function dateTimeText(time: number): string {
  return new Date(time).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function entryText(entry: RawEntry): string {
  switch (entry.kind) {
    case 'activity':
      return [
        entry.steps === undefined ? '' : `${entry.steps} steps`,
        entry.activeMinutes === undefined ? '' : `${entry.activeMinutes} active minutes`,
      ]
        .filter((part) => part !== '')
        .join(', ');
    case 'sleep':
      return `${entry.hours} h sleep${entry.quality === undefined ? '' : `, quality ${entry.quality}/5`}`;
    case 'mood':
      return `mood ${entry.score}/5`;
    case 'nutrition':
      return [
        entry.fruitVegServings === undefined
          ? ''
          : `${entry.fruitVegServings} servings of fruit and vegetables`,
        entry.waterLitres === undefined ? '' : `${entry.waterLitres} l water`,
      ]
        .filter((part) => part !== '')
        .join(', ');
    case 'journal':
      return 'journal';
  }
}

const SVG = 'http://www.w3.org/2000/svg';

/** The daily FWI of the last 30 days as a line (days without one are gaps), 0 to 100. */
function trendChart(insights: Insights): SVGSVGElement {
  const width = 300;
  const height = 100;
  const days = insights.daily;
  const step = days.length > 1 ? width / (days.length - 1) : width;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'fwi-chart');
  svg.setAttribute('role', 'img');
  const scored = days.filter((day) => day.fwi !== undefined).length;
  svg.setAttribute('aria-label', `Daily FWI over the last ${days.length} days: ${scored} days with a score`);
  svg.setAttribute('data-testid', 'fwi-chart');
  let path = '';
  let drawing = false;
  days.forEach((day, index) => {
    if (day.fwi === undefined) {
      drawing = false;
      return;
    }
    const x = (index * step).toFixed(1);
    const y = (height - day.fwi).toFixed(1);
    path += `${drawing ? 'L' : 'M'}${x} ${y} `;
    drawing = true;
  });
  for (const level of [40, 60, 80]) {
    const line = document.createElementNS(SVG, 'line');
    for (const [name, value] of [
      ['x1', '0'],
      ['x2', String(width)],
      ['y1', String(height - level)],
      ['y2', String(height - level)],
      ['class', 'band-line'],
    ])
      line.setAttribute(name as string, value as string);
    svg.appendChild(line);
  }
  const line = document.createElementNS(SVG, 'path');
  line.setAttribute('d', path.trim());
  line.setAttribute('class', 'fwi-line');
  svg.appendChild(line);
  return svg;
}

function trendText(label: string, trend: Insights['trend7']): string {
  if (trend === undefined) return `${label}: not enough days logged yet`;
  const sign = trend.slopePerWeek > 0 ? '+' : '';
  return `${label}: ${trend.direction} (${sign}${trend.slopePerWeek.toFixed(1)} points a week, mean ${trend.mean.toFixed(0)}, ${trend.covered} days)`;
}

export interface WellnessScreens {
  readonly mine: HTMLElement;
  readonly team: HTMLElement;
  readonly shared: HTMLElement;
  /** Redraws what the care team or the people this user supports changed. */
  refresh(): void;
}

export function wellnessScreens(session: Session): WellnessScreens {
  const wellness = session.wellness;

  // ── My wellness ────────────────────────────────────────────────────────────────────────────────────
  const kind = h(
    'select',
    { id: 'entry-kind' },
    ...(Object.keys(FIELDS) as Kind[]).map((k) => h('option', { value: k }, k)),
  );
  const date = h('input', { id: 'entry-date', type: 'date', required: true });
  date.value = new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
  const fields = h('div', { class: 'entry-fields' });
  const journal = h('textarea', { id: 'entry-text', rows: 3, maxlength: 20_000 });
  const logStatus = h('p', { class: 'status', role: 'status' });
  const numbers = new Map<string, HTMLInputElement>();
  function showFields(): void {
    numbers.clear();
    const chosen = kind.value as Kind;
    const inputs = FIELDS[chosen].map(([label, field, min, max, step]) => {
      const input = h('input', { id: `entry-${field}`, type: 'number', min, max, step });
      numbers.set(field, input);
      return h('p', {}, h('label', { for: input.id }, label), input);
    });
    replace(
      fields,
      ...inputs,
      chosen === 'journal' &&
        h(
          'p',
          {},
          h('label', { for: 'entry-text' }, 'Journal (stays on this device, never shared)'),
          journal,
        ),
    );
  }
  kind.addEventListener('change', showFields);
  showFields();
  const logForm = h(
    'form',
    { class: 'log-entry', 'aria-label': 'Log an entry' },
    h('p', {}, h('label', { for: 'entry-kind' }, 'Kind'), kind),
    h('p', {}, h('label', { for: 'entry-date' }, 'Day'), date),
    fields,
    h('button', { type: 'submit', class: 'primary' }, 'Log'),
    logStatus,
  );
  logForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const entry: Record<string, unknown> = { kind: kind.value, date: date.value };
    for (const [field, input] of numbers) if (input.value !== '') entry[field] = Number(input.value);
    if (kind.value === 'journal') entry.text = journal.value;
    logStatus.textContent = 'Saving…';
    wellness.log(entry as unknown as NewEntry).then(
      () => {
        logStatus.textContent = 'Saved on this device.';
        for (const input of numbers.values()) input.value = '';
        journal.value = '';
        void drawMine();
      },
      (error: unknown) => {
        logStatus.textContent = `Not saved: ${errorText(error)}`;
      },
    );
  });

  const summary = h('section', { class: 'fwi', 'aria-label': 'Your wellness index' });
  const entriesList = h('ul', { class: 'entries', 'aria-label': 'Recent entries' });
  const remindersList = h('ul', { class: 'reminders', 'aria-label': 'Reminders' });
  const checkInsList = h('ul', { class: 'check-ins', 'aria-label': 'Check-ins' });

  async function drawMine(): Promise<void> {
    const [insights, entries] = await Promise.all([wellness.insights(), wellness.entries()]);
    replace(
      summary,
      h(
        'p',
        { class: 'fwi-value', 'data-testid': 'fwi' },
        insights.fwi === undefined
          ? 'Functional Wellness Index: log two kinds on at least three days to see it'
          : `Functional Wellness Index: ${insights.fwi.toFixed(0)} (${insights.band})`,
      ),
      trendChart(insights),
      h('p', { 'data-testid': 'trend-7' }, trendText('Last 7 days', insights.trend7)),
      h('p', { 'data-testid': 'trend-30' }, trendText('Last 30 days', insights.trend30)),
      h(
        'p',
        { 'data-testid': 'adherence' },
        insights.adherence === undefined
          ? 'Check-ins: none due in the last 30 days'
          : `Check-ins answered: ${insights.adherence.completed} of ${insights.adherence.planned} (${insights.adherence.percent} %)`,
      ),
      h('p', { class: 'help' }, 'A wellness indicator computed on this device, not a clinical score.'),
    );
    replace(
      entriesList,
      ...(entries.length === 0
        ? [h('li', { class: 'empty' }, 'Nothing logged in the last 30 days.')]
        : entries.slice(0, 20).map((entry) => h('li', {}, `${entry.date}: ${entryText(entry)}`))),
    );
  }

  function drawReminders(): void {
    const now = Date.now();
    const reminders = wellness.reminders();
    replace(
      remindersList,
      ...(reminders.length === 0
        ? [h('li', { class: 'empty' }, 'No reminders.')]
        : reminders.map((r) =>
            h(
              'li',
              { 'data-testid': 'reminder' },
              h('strong', {}, r.at <= now ? 'Now: ' : 'Upcoming: '),
              `${r.text} — @${r.from}, ${dateTimeText(r.at)}`,
            ),
          )),
    );
    const checkIns = wellness.checkIns();
    replace(
      checkInsList,
      ...(checkIns.length === 0
        ? [h('li', { class: 'empty' }, 'No check-ins.')]
        : checkIns.map((c) => {
            const item = h(
              'li',
              { 'data-testid': 'check-in' },
              h('p', {}, `@${c.from} asks (${dateTimeText(c.due)}): ${c.question}`),
            );
            if (c.answer !== undefined) {
              append(item, h('p', { class: 'answered' }, `You answered: ${c.answer}`));
              return item;
            }
            append(item, answerForm(c.id, c.from));
            return item;
          })),
    );
  }

  /** One form per check-in, kept across redraws: an answer being typed survives new arrivals. */
  const answerForms = new Map<string, HTMLElement>();
  function answerForm(id: string, from: string): HTMLElement {
    const kept = answerForms.get(id);
    if (kept !== undefined) return kept;
    const input = h('input', { id: `answer-${id}`, required: true });
    const status = h('p', { class: 'status', role: 'status' });
    const form = h(
      'form',
      { class: 'answer' },
      h('label', { for: input.id }, `Answer to @${from}`),
      input,
      h('button', { type: 'submit' }, 'Answer'),
      status,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      status.textContent = 'Sending over the mixnet…';
      wellness.answer(id, input.value).then(
        () => {
          drawReminders();
          void drawMine();
        },
        (error: unknown) => {
          status.textContent = `Not sent: ${errorText(error)}`;
        },
      );
    });
    answerForms.set(id, form);
    return form;
  }

  const mine = h(
    'section',
    { class: 'wellness-screen', 'aria-label': 'My wellness' },
    h('h2', {}, 'My wellness'),
    h('p', { class: 'help' }, 'Everything you log stays on this device. Only derived insights are shared.'),
    summary,
    logForm,
    h('h3', {}, 'Reminders'),
    remindersList,
    h('h3', {}, 'Check-ins'),
    checkInsList,
    h('h3', {}, 'Recent entries'),
    entriesList,
  );

  // ── Care team ──────────────────────────────────────────────────────────────────────────────────────
  const roleSelect = (id: string, selected?: SupporterRole) =>
    h(
      'select',
      { id },
      ...ROLES.map((role) => h('option', { value: role, selected: role === selected }, role)),
    );
  const inviteHandle = h('input', {
    id: 'invite-handle',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  });
  const inviteRole = roleSelect('invite-role');
  const teamStatus = h('p', { class: 'status', role: 'status', 'data-testid': 'team-status' });
  const inviteForm = h(
    'form',
    { class: 'invite', 'aria-label': 'Invite a supporter' },
    h('p', {}, h('label', { for: 'invite-handle' }, 'Handle'), inviteHandle),
    h('p', {}, h('label', { for: 'invite-role' }, 'Role'), inviteRole),
    h('button', { type: 'submit' }, 'Invite'),
  );
  const pending = new Set<string>();
  function teamAction(what: string, handle: string, action: Promise<'done' | 'kept'>): void {
    pending.add(handle);
    teamStatus.textContent = `${what} @${handle}…`;
    drawTeam();
    action.then(
      (outcome) => {
        pending.delete(handle);
        teamStatus.textContent =
          outcome === 'done' ? '' : `${what} @${handle} as soon as the mixnet answers…`;
        drawTeam();
      },
      (error: unknown) => {
        pending.delete(handle);
        teamStatus.textContent = `Could not finish for @${handle}: ${errorText(error)}`;
        drawTeam();
      },
    );
  }
  inviteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const [handle] = parseHandles(inviteHandle.value);
    if (handle === undefined) return;
    inviteHandle.value = '';
    teamAction('Inviting', handle, wellness.invite(handle, inviteRole.value as SupporterRole));
  });
  const teamList = h('ul', { class: 'team', 'aria-label': 'Your care team' });
  function drawTeam(): void {
    const team = wellness.team().filter((s) => s.status === 'active');
    replace(
      teamList,
      ...(team.length === 0
        ? [h('li', { class: 'empty' }, 'Nobody yet.')]
        : team.map((supporter) => {
            const id = `role-${supporter.handle}`;
            const select = roleSelect(id, supporter.role);
            select.setAttribute('aria-label', `Role of @${supporter.handle}`);
            select.disabled = pending.has(supporter.handle);
            select.addEventListener('change', () =>
              teamAction(
                'Changing the role of',
                supporter.handle,
                wellness.changeRole(supporter.handle, select.value as SupporterRole),
              ),
            );
            const revoke = h(
              'button',
              { type: 'button', class: 'danger', 'aria-label': `Revoke @${supporter.handle}` },
              'Revoke',
            );
            revoke.disabled = pending.has(supporter.handle);
            revoke.addEventListener('click', () =>
              teamAction('Revoking', supporter.handle, wellness.revoke(supporter.handle)),
            );
            return h(
              'li',
              { 'data-testid': 'supporter' },
              h('span', { class: 'member' }, `@${supporter.handle}`),
              select,
              revoke,
            );
          })),
    );
  }
  const share = h('button', { type: 'button', class: 'primary' }, 'Share today’s insights');
  const shareStatus = h('p', { class: 'status', role: 'status', 'data-testid': 'share-status' });
  share.addEventListener('click', () => {
    shareStatus.textContent = 'Sharing over the mixnet…';
    wellness.share().then(
      (text) => {
        shareStatus.textContent = text;
      },
      (error: unknown) => {
        shareStatus.textContent = `Not shared: ${errorText(error)}`;
      },
    );
  });
  const team = h(
    'section',
    { class: 'wellness-screen', 'aria-label': 'Care team' },
    h('h2', {}, 'Care team'),
    h(
      'p',
      { class: 'help' },
      'Friends, family and colleagues see a summary; coaches and trainers the index, trends and check-ins; clinicians also your patterns. Never your entries or journal.',
    ),
    inviteForm,
    teamStatus,
    teamList,
    share,
    shareStatus,
  );

  // ── Shared with me ─────────────────────────────────────────────────────────────────────────────────
  const sharedList = h('div', { class: 'shared-list' });
  const answersList = h('ul', { class: 'answers', 'aria-label': 'Answers to your check-ins' });
  function drawShared(): void {
    const people = wellness.sharedWithMe().filter((s) => s.active);
    replace(
      sharedList,
      ...(people.length === 0
        ? [h('p', { class: 'empty' }, 'Nobody shares with you yet.')]
        : people.map((person) => {
            const card = h(
              'article',
              { class: 'shared', 'aria-label': `Shared by @${person.owner}`, 'data-testid': 'shared' },
              h('h3', {}, `@${person.owner}`),
              h('p', { class: 'help' }, `You are their ${person.role ?? person.tier}.`),
              h(
                'dl',
                {},
                ...(person.lines.length === 0
                  ? [h('dd', {}, 'Nothing shared yet.')]
                  : person.lines.flatMap((line) => [h('dt', {}, line.label), h('dd', {}, line.value)])),
              ),
            );
            if (person.maySchedule) append(card, scheduleForm(person.owner));
            return card;
          })),
    );
    const answers = wellness.answers();
    replace(
      answersList,
      ...answers.map((a) => h('li', { 'data-testid': 'answer' }, `@${a.owner}: ${a.question} — ${a.answer}`)),
    );
  }
  /** One form per owner, kept across redraws like the answer forms. */
  const scheduleForms = new Map<string, HTMLElement>();
  function scheduleForm(owner: string): HTMLElement {
    const kept = scheduleForms.get(owner);
    if (kept !== undefined) return kept;
    const what = h(
      'select',
      { id: `schedule-kind-${owner}` },
      h('option', { value: 'reminder' }, 'Session reminder'),
      h('option', { value: 'check-in' }, 'Check-in'),
    );
    const when = h('input', { id: `schedule-at-${owner}`, type: 'datetime-local', required: true });
    when.value = new Date(Date.now() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    const text = h('input', { id: `schedule-text-${owner}`, required: true });
    const status = h('p', { class: 'status', role: 'status' });
    const form = h(
      'form',
      { class: 'schedule', 'aria-label': `Send @${owner} a reminder or check-in` },
      h('p', {}, h('label', { for: what.id }, 'Send'), what),
      h('p', {}, h('label', { for: when.id }, 'When'), when),
      h('p', {}, h('label', { for: text.id }, 'Text'), text),
      h('button', { type: 'submit' }, 'Send'),
      status,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      status.textContent = 'Sending over the mixnet…';
      wellness
        .schedule(owner, what.value as 'reminder' | 'check-in', new Date(when.value).getTime(), text.value)
        .then(
          () => {
            status.textContent = 'Sent.';
            text.value = '';
          },
          (error: unknown) => {
            status.textContent = `Not sent: ${errorText(error)}`;
          },
        );
    });
    scheduleForms.set(owner, form);
    return form;
  }
  const shared = h(
    'section',
    { class: 'wellness-screen', 'aria-label': 'Shared with me' },
    h('h2', {}, 'Shared with me'),
    sharedList,
    h('h3', {}, 'Answers to your check-ins'),
    answersList,
  );

  function refresh(): void {
    drawReminders();
    drawTeam();
    drawShared();
    void drawMine();
  }
  refresh();
  return { mine, team, shared, refresh };
}
