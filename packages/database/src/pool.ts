import pg from 'pg';

// Postgres returns int8 (COUNT, SUM of integers) as text by default; our counts fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));
// numeric → number: prices and money sums are far below 2^53 micro-units, so no precision is lost.
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (value) => Number(value));

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export function createPool(url: string, max = 10, applicationName = 'model-router', onError?: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    // Safety default: a query stuck behind a lock fails instead of holding a request forever.
    statement_timeout: 15_000,
    connectionTimeoutMillis: 5_000,
  });
  // An idle client whose connection drops (Postgres restarted) emits 'error' on the pool; without a
  // listener that would crash the process. The pool replaces the client on the next checkout.
  pool.on('error', onError ?? (() => undefined));
  return pool;
}

/** Runs `fn` in one transaction on one client; rolls back and rethrows on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no listener of the pool's: if its connection drops (Postgres stopped,
  // backend terminated) it emits 'error', which without a listener kills the process. The query
  // in flight rejects with the same error, so the transaction fails normally; the listener only
  // remembers that the connection is gone, so the client is discarded rather than reused.
  let lost: Error | undefined;
  const onLost = (error: Error): void => {
    lost = error;
  };
  client.on('error', onLost);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      lost ??= rollbackError;
    });
    throw error;
  } finally {
    client.off('error', onLost);
    client.release(lost);
  }
}

/** Creates the database named in `url` if it does not exist (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((error: { code?: string }) => {
        // Another process created it between our check and our CREATE: that is fine. Postgres says
        // so with 42P04 (duplicate_database) or, when both CREATEs run at the same moment, with a
        // unique violation of its catalog (23505 on pg_database_datname_index).
        if (error.code !== '42P04' && error.code !== '23505') throw error;
      });
    }
  } finally {
    await client.end();
  }
}
