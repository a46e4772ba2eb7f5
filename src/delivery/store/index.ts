/**
 * Opens the delivery service's store: `{ sqlitePath }` for the embedded default (one file under the data
 * directory, run on a worker thread of its own) or `{ postgresUrl }` to share one PostgreSQL database
 * between several service processes.
 * Either way the schema is migrated to this build's version before the store is returned. The contract
 * itself is in `types.ts`; the rules shared by both databases are in `sql-store.ts`.
 */
import { ArgumentError } from '../../errors.ts';
import { SqlStore } from './sql-store.ts';
import { DEFAULT_LIMITS, type DeliveryLimits, type DeliveryStore, type OpenStoreOptions } from './types.ts';

export type * from './types.ts';
export { DEFAULT_LIMITS, KEY_LENGTH, MAX_TAG_LENGTH } from './types.ts';

function resolveLimits(overrides: Partial<DeliveryLimits> = {}): DeliveryLimits {
  const limits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new ArgumentError(`limits.${name}`, 'expected an integer >= 1');
  }
  return limits;
}

export async function openStore(options: OpenStoreOptions): Promise<DeliveryStore> {
  const clock = options.clock ?? Date.now;
  const limits = resolveLimits(options.limits);
  if ('sqlitePath' in options) {
    const { openSqliteThreadStore } = await import('./sqlite-thread.ts');
    return openSqliteThreadStore(options.sqlitePath, clock, limits);
  }
  if ('postgresUrl' in options) {
    const { openPostgresDriver } = await import('./postgres.ts');
    return new SqlStore(await openPostgresDriver(options, clock()), clock, limits);
  }
  throw new ArgumentError('options', 'expected sqlitePath or postgresUrl');
}
