/**
 * How the carriers call an application's listeners (status changes, packets sent, a request's `onSent`): a
 * listener that throws has its error rethrown on its own, as an event listener's would be, instead of
 * aborting the carrier's bookkeeping half-way through a tick, a status change or a response.
 */

/** Calls `listener` with `value`; an exception it throws is rethrown from a microtask. */
export function notify<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
