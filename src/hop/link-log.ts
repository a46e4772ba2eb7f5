/**
 * How a hop logs what its links report (src/links `LinkEvent`), for the mix node's and the gateway's links
 * alike: connections at info, refusals and full egress queues at warn, transport errors at debug. Counting
 * is the caller's, whose metrics differ.
 */
import type { LinkEvent } from '../links/index.ts';
import type { Logger } from './types.ts';

export function logLinkEvent(logger: Logger, side: 'ingress' | 'egress', event: LinkEvent): void {
  switch (event.type) {
    case 'connected':
    case 'disconnected':
      logger.info(`${side} link ${event.type}`, { peer: event.peer });
      return;
    case 'refused':
      logger.warn(`${side} link refused`, { peer: event.peer ?? 'none', reason: event.reason });
      return;
    case 'error':
      logger.debug(`${side} link error`, { peer: event.peer ?? 'none', message: event.message });
      return;
    case 'dropped':
      logger.warn('egress link queue full', { peer: event.peer, frames: event.frames });
      return;
  }
}
