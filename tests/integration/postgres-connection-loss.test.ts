/**
 * A Postgres connection that drops while a transaction holds it (Postgres restarted, a backend
 * terminated) must fail that transaction, not the process: a checked-out pg client has no 'error'
 * listener of the pool's, and an 'error' event without a listener kills Node. Found by the fault
 * campaign (tests/faults), where stopping Postgres killed the metric-aggregator and the
 * budget-enforcer.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, type Pool, withTransaction } from '@model-router/database';
import { createTestEnv, type TestEnv, waitForDefined } from '@model-router/tests/support';
import pg from 'pg';

let env: TestEnv;
let pool: Pool;
let admin: pg.Client;

beforeAll(async () => {
  env = await createTestEnv();
  pool = createPool(env.databaseUrl, 2, 'connection-loss-test');
  admin = new pg.Client({ connectionString: env.databaseUrl });
  await admin.connect();
}, 30_000);

afterAll(async () => {
  await admin?.end();
  await pool?.end();
  await env?.cleanup();
});

describe('withTransaction when the connection drops mid-transaction', () => {
  it('rejects, keeps the process alive, and the pool serves the next transaction', async () => {
    const uncaught: Error[] = [];
    const onUncaught = (error: Error) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      for (let round = 0; round < 3; round++) {
        const running = withTransaction(pool, (client) => client.query('SELECT pg_sleep(30)'));
        const settled = running.then(() => null, (error: Error) => error);
        const pid = await waitForDefined(async () => {
          const { rows } = await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE application_name = 'connection-loss-test' AND query LIKE 'SELECT pg_sleep%'`,
          );
          return rows[0]?.pid;
        }, { what: 'the sleeping backend' });
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        const error = await settled;
        expect(error).toBeInstanceOf(Error);
        // Let the connection's 'end' (and any 'error' event) fire before looking.
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(uncaught).toEqual([]);
        const { rows } = await withTransaction(pool, (client) => client.query<{ one: number }>('SELECT 1 AS one'));
        expect(rows[0]!.one).toBe(1);
      }
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }, 60_000);
});
