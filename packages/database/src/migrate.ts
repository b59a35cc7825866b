import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

export interface MigrateOptions {
  databaseUrl: string;
  direction?: 'up' | 'down';
  /** How many migrations to apply or revert; all pending ones (up) or one (down) by default. */
  count?: number;
  log?: (message: string) => void;
}

/**
 * node-pg-migrate's own advisory lock id (PG_MIGRATE_LOCK_ID): holding it also keeps its CLI out
 * while a service migrates.
 */
const MIGRATE_LOCK_ID = '7241865325823964';

/**
 * Applies (or reverts) the SQL migrations in migrations/, each exactly once however many services
 * start at the same moment. node-pg-migrate's lock is pg_try_advisory_lock, which fails ("Another
 * migration is already running", exit 1) for every replica but the first; so we wait for the same
 * lock (pg_advisory_lock) on our own session, then run without its lock. A waiter then finds
 * nothing pending and returns [].
 */
export async function migrate(options: MigrateOptions): Promise<string[]> {
  const direction = options.direction ?? 'up';
  const client = new pg.Client({ connectionString: options.databaseUrl, application_name: 'model-router-migrate' });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATE_LOCK_ID]);
    const applied = await runner({
      dbClient: client,
      noLock: true,
      dir: MIGRATIONS_DIR,
      direction,
      count: options.count ?? (direction === 'up' ? Infinity : 1),
      migrationsTable: 'pgmigrations',
      migrationsSchema: 'public',
      checkOrder: true,
      log: options.log ?? (() => undefined),
    });
    return applied.map((m) => m.name);
  } finally {
    // Ending the session releases the lock too; unlock first so a waiter need not wait for the close.
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATE_LOCK_ID]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
