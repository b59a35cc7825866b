/**
 * The bench database (BENCH_DATABASE_URL, `model_router_bench` by default): made ready once, before
 * the first section that uses it. The database is the bench's own and throwaway, and several
 * branches of this repository bench on the same machine: when it holds migrations this checkout
 * does not have, or lacks one that sorts before the last one applied (another branch's migration
 * ran first), node-pg-migrate refuses to migrate it — so the bench drops and recreates it instead
 * of failing, then applies this checkout's migrations.
 */
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { ensureDatabase, migrate, MIGRATIONS_DIR } from '@model-router/database';

/** Names (file names without extension) of this checkout's migrations, in the order they run. */
export function checkoutMigrations(dir = MIGRATIONS_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => /\.(sql|js|ts|cjs|mjs)$/.test(file))
    .map((file) => file.replace(/\.[^.]+$/, ''))
    .sort();
}

/**
 * Why a database whose applied migrations are `applied` (in the order they ran) cannot be
 * migrated with `available`, or null when it can: node-pg-migrate (checkOrder) wants the applied
 * ones to be the first of this checkout's, in the same order.
 */
export function migrationConflict(applied: readonly string[], available: readonly string[]): string | null {
  const known = new Set(available);
  const foreign = applied.filter((name) => !known.has(name));
  if (foreign.length) return `applied migrations this checkout does not have: ${foreign.join(', ')}`;
  for (let i = 0; i < applied.length; i++) {
    if (applied[i] !== available[i]) return `migration ${available[i]} is not applied but ${applied[i]} after it is (or they ran out of order)`;
  }
  return null;
}

async function appliedMigrations(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM public.pgmigrations ORDER BY run_on, id`,
    );
    return rows.map((r) => r.name);
  } catch (error) {
    if ((error as { code?: string }).code === '42P01') return []; // no migrations table: nothing applied yet
    throw error;
  } finally {
    await client.end();
  }
}

async function recreateDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    // Without FORCE: a session still connected (a bench of another checkout running on the same
    // database right now) makes this fail with Postgres' own message rather than being cut off.
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** Creates the bench database if needed, recreates it when this checkout cannot migrate it, migrates it. */
export async function prepareBenchDatabase(url: string, log: (message: string) => void): Promise<void> {
  await ensureDatabase(url);
  const conflict = migrationConflict(await appliedMigrations(url), checkoutMigrations());
  if (conflict) {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    // Dropped only when it is by its name a bench database: a mistyped BENCH_DATABASE_URL pointing at
    // a real one fails instead.
    if (!name.startsWith('model_router_bench')) {
      throw new Error(`the database ${name} cannot be migrated by this checkout (${conflict}); the bench recreates only databases named model_router_bench*`);
    }
    log(`bench database ${name}: ${conflict}; recreating it`);
    try {
      await recreateDatabase(url);
    } catch (error) {
      throw new Error(
        `cannot recreate the bench database (${String(error)}); stop whatever is connected to it or set BENCH_DATABASE_URL to another database`,
      );
    }
  }
  const applied = await migrate({ databaseUrl: url });
  if (applied.length) log(`bench database: ${applied.length} migration(s) applied`);
}
