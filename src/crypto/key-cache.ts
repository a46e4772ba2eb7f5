/**
 * Per-key memoisation for long-lived secret keys. A mix node decapsulates thousands of ciphertexts with one
 * epoch key; re-expanding that key (FIPS 203 key expansion, X-Wing's SHAKE256 expansion, OpenSSL's key
 * import) on every call costs more than the decapsulation itself. Entries are keyed by the key array's
 * identity (a WeakMap, so they die with the key) and hold a copy of its bytes that is compared on every hit,
 * so a caller that overwrites its key array in place never gets a stale result.
 */
import { constantTimeEqual } from '../bytes.ts';

export function cachedPerKey<T>(derive: (key: Uint8Array) => T): (key: Uint8Array) => T {
  const entries = new WeakMap<Uint8Array, { readonly copy: Uint8Array; readonly value: T }>();
  return (key) => {
    const entry = entries.get(key);
    if (entry && constantTimeEqual(entry.copy, key)) return entry.value;
    const value = derive(key);
    entries.set(key, { copy: Uint8Array.from(key), value });
    return value;
  };
}
