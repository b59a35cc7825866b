import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';

export const MIGRATIONS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../migrations');

export interface MigrateOptions {
  databaseUrl: string;
  direction?: 'up' | 'down';
  /** How many migrations to apply or revert; all pending ones (up) or one (down) by default. */
  count?: number;
  log?: (message: string) => void;
}

/**
 * Applies (or reverts) the SQL migrations in migrations/. node-pg-migrate takes an advisory lock,
 * so several services starting at once apply each migration exactly once.
 */
export async function migrate(options: MigrateOptions): Promise<string[]> {
  const direction = options.direction ?? 'up';
  const applied = await runner({
    databaseUrl: options.databaseUrl,
    dir: MIGRATIONS_DIR,
    direction,
    count: options.count ?? (direction === 'up' ? Infinity : 1),
    migrationsTable: 'pgmigrations',
    migrationsSchema: 'public',
    checkOrder: true,
    log: options.log ?? (() => undefined),
  });
  return applied.map((m) => m.name);
}
