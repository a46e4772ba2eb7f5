/**
 * "What an observer sees": a live chart of this client's packets per second on the wire over the last
 * minute, as anyone watching the link to the gateway sees it — one line, flat whether the user types or not,
 * because the mixnet carrier sends at a constant Poisson rate and real packets only replace cover packets.
 * Beside it, marks for the user's real messages, which only this page knows about. The split of the rate
 * into real, loop and drop packets is shown in words: the observer cannot tell them apart (same size, same
 * timing, encrypted hop by hop).
 */
import { h } from './dom.ts';
import type { Session, TrafficSample } from './session.ts';

const WINDOW_MS = 60_000;
const HEIGHT = 160;

function total(sample: TrafficSample): number {
  return sample.real + sample.loop + sample.drop;
}

function cssColor(element: Element, name: string, fallback: string): string {
  return getComputedStyle(element).getPropertyValue(name).trim() || fallback;
}

export interface ObserverPanel {
  readonly element: HTMLElement;
  stop(): void;
}

export function observerPanel(session: Session): ObserverPanel {
  const canvas = h('canvas', { height: HEIGHT, role: 'img', 'data-testid': 'observer-chart' });
  const summary = h('p', {
    class: 'observer-summary',
    'aria-live': 'off',
    'data-testid': 'observer-summary',
  });
  const element = h(
    'section',
    { class: 'observer', 'aria-labelledby': 'observer-title' },
    h('h2', { id: 'observer-title' }, 'What an observer sees'),
    h(
      'p',
      { class: 'help' },
      'The line is your packets per second on the wire. It stays level whether you type or not: your messages ride in place of cover packets. The dots are your real messages — only you can see them.',
    ),
    canvas,
    summary,
  );

  function messageTimes(since: number): number[] {
    const times: number[] = [];
    for (const conversation of session.conversations()) {
      for (const message of session.messages(conversation.id)) {
        if (message.outgoing && message.time >= since) times.push(message.time);
      }
    }
    return times;
  }

  function draw(): void {
    const now = Date.now();
    const samples = session.traffic().filter((sample) => sample.time >= now - WINDOW_MS);
    const width = Math.max(200, element.clientWidth - 2);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${HEIGHT}px`;
    const context = canvas.getContext('2d');
    if (context === null) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, HEIGHT);
    const peak = Math.max(4, ...samples.map(total)) * 1.25;
    const x = (time: number) => ((time - (now - WINDOW_MS)) / WINDOW_MS) * width;
    const y = (rate: number) => HEIGHT - 24 - (rate / peak) * (HEIGHT - 40);

    context.strokeStyle = cssColor(element, '--grid', '#ccc');
    context.fillStyle = cssColor(element, '--muted', '#555');
    context.font = '12px system-ui, sans-serif';
    context.lineWidth = 1;
    for (const rate of [0, Math.round(peak / 2), Math.round(peak)]) {
      context.beginPath();
      context.moveTo(0, y(rate));
      context.lineTo(width, y(rate));
      context.stroke();
      context.fillText(`${rate}/s`, 4, y(rate) - 2);
    }

    context.strokeStyle = cssColor(element, '--accent', '#0a5');
    context.lineWidth = 2;
    context.beginPath();
    samples.forEach((sample, index) => {
      if (index === 0) context.moveTo(x(sample.time), y(total(sample)));
      else context.lineTo(x(sample.time), y(total(sample)));
    });
    context.stroke();

    context.fillStyle = cssColor(element, '--mark', '#b40');
    for (const time of messageTimes(now - WINDOW_MS)) {
      context.beginPath();
      context.arc(x(time), HEIGHT - 10, 5, 0, 2 * Math.PI);
      context.fill();
    }

    const last = samples.at(-1);
    const text =
      last === undefined
        ? 'Waiting for the first second of traffic…'
        : `Now: ${total(last)} packets/s on the wire, all the same size. Of them, only you know: ${last.real} real, ${last.loop} loop cover, ${last.drop} drop cover.`;
    summary.textContent = text;
    canvas.setAttribute('aria-label', `Chart of packets per second over the last minute. ${text}`);
  }

  draw();
  const timer = window.setInterval(draw, 1000);
  return { element, stop: () => window.clearInterval(timer) };
}
