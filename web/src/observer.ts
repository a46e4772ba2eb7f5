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
      'The line is your packets per second on the wire. It stays around the same level whether you type or not: your messages ride in place of cover packets. The dots are your real messages — only you can see them.',
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
    // The stylesheet sizes the canvas to its container; its pixels follow, at the screen's density.
    const width = Math.max(200, canvas.clientWidth);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    const context = canvas.getContext('2d');
    if (context === null) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, HEIGHT);
    const expected = session.expectedRate();
    const peak = Math.max(4, expected ?? 0, ...samples.map(total)) * 1.25;
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

    if (expected !== undefined) {
      context.strokeStyle = cssColor(element, '--muted', '#555');
      context.setLineDash([6, 4]);
      context.beginPath();
      context.moveTo(0, y(expected));
      context.lineTo(width, y(expected));
      context.stroke();
      context.setLineDash([]);
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

    // Ten seconds of counts: one second of a Poisson stream is too noisy to read a rate from.
    const recent = samples.slice(-10);
    const sum = (pick: (sample: TrafficSample) => number) => recent.reduce((acc, x) => acc + pick(x), 0);
    const perSecond = (value: number) => (value / Math.max(1, recent.length)).toFixed(1);
    const text =
      recent.length === 0
        ? 'Waiting for the first second of traffic…'
        : `Last ${recent.length} s: ${perSecond(sum(total))} packets/s on the wire${expected === undefined ? '' : ` (the network's rate λ is ${expected}/s, dashed)`}, all the same size. Of them, only you know: ${sum((x) => x.real)} real, ${sum((x) => x.loop)} loop cover, ${sum((x) => x.drop)} drop cover.`;
    summary.textContent = text;
    canvas.setAttribute('aria-label', `Chart of packets per second over the last minute. ${text}`);
  }

  // First drawn once the panel is in the page, so it has its width.
  requestAnimationFrame(draw);
  const timer = window.setInterval(draw, 1000);
  return { element, stop: () => window.clearInterval(timer) };
}
