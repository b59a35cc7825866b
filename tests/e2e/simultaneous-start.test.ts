/**
 * First deployment: N replicas of the API and of every worker start at the same moment against a
 * database that does not exist yet (no tables, no pg-boss schema, queue or schedule), as a rollout
 * of all services at once does: they create the database, migrate, seed and create pg-boss's
 * schema, queues and schedules concurrently. Every replica must come up; a failed start is a
 * start-up race (two budget-enforcers starting together once exited 1 here: node-pg-migrate's
 * try-lock refused every migrator but the first).
 *
 * Counts start failures over several rounds, each on a database of its own; no timing is asserted.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestEnv, type TestEnv } from '../support/index.js';
import { adminUrl } from '../support/env.js';
import { ServiceProcess, WORKERS } from '../support/service-processes.js';

const REPLICAS = 3;
const ROUNDS = 3;

let env: TestEnv | null = null;
let running: ServiceProcess[] = [];

afterEach(async () => {
  await Promise.all(running.map((s) => s.stop().catch(() => undefined)));
  running = [];
  await env?.cleanup().catch(() => undefined);
  env = null;
}, 120_000);

/** The test env's database is dropped so the services find none (cleanup drops theirs IF EXISTS). */
async function dropDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(new URL(url).pathname.slice(1))} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

describe(`${REPLICAS} replicas of the API and of every worker starting at once on a new database`, () => {
  it(`all start, in each of ${ROUNDS} rounds`, async () => {
    const failures: string[] = [];
    let started = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      env = await createTestEnv();
      await dropDatabase(env.databaseUrl);
      const vars: Record<string, string> = {
        DATABASE_URL: env.databaseUrl,
        REDIS_URL: env.processEnv().REDIS_URL!,
        REDIS_KEY_PREFIX: env.redisPrefix,
        ADMIN_API_KEY: 'simultaneous-start-admin-key-0123456789',
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
      };
      running = [];
      for (const kind of ['api', ...WORKERS] as const) {
        for (let n = 1; n <= REPLICAS; n++) running.push(await ServiceProcess.create(`${kind}-${n}`, kind, vars));
      }
      const results = await Promise.allSettled(running.map((s) => s.start(180_000)));
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') started++;
        else failures.push(`round ${round}, ${running[i]!.name}: ${String((result.reason as Error).message ?? result.reason)}`);
      }
      process.stderr.write(`[simultaneous start] round ${round}: ${results.filter((r) => r.status === 'rejected').length} of ${running.length} failed to start\n`);
      await Promise.all(running.map((s) => s.stop().catch(() => undefined)));
      running = [];
      await env.cleanup();
      env = null;
    }
    expect(failures).toEqual([]);
    expect(started).toBe(ROUNDS * REPLICAS * (WORKERS.length + 1));
  }, 1_500_000);
});
