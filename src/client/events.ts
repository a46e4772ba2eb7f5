/**
 * A small typed event emitter for the client SDK. Not `node:events`: the SDK runs in browsers too and must not
 * pull Node built-ins into a bundle. A listener that throws does not stop the others nor the SDK: the error
 * is handed to the `error` listeners, or dropped when there are none (an app's bug must not lose messages).
 */
export type Listener<T> = (value: T) => void;

export class Emitter<Events extends { error: unknown }> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Calls `listener` on every `event`; returns the function that removes it. */
  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.#listeners.get(event)?.delete(listener as Listener<never>);
  }

  protected emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<Events[K]>)(value);
      } catch (error) {
        if (event !== 'error') this.emit('error', error as Events['error']);
      }
    }
  }

  protected removeAllListeners(): void {
    this.#listeners.clear();
  }
}
