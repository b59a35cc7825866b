/**
 * Test support: every test file gets its own Postgres database (cloned from the migrated template)
 * and its own Redis key prefix, and removes both when done.
 */
import { randomBytes } from 'node:crypto';
import { type Config, loadConfig } from '@model-router/config';
import { Redis } from 'ioredis';
import pg from 'pg';
import { adminUrl, databaseUrl, REDIS_URL, templateDb, testDbPrefix } from './env.js';

export { databaseUrl, REDIS_URL } from './env.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';
export const CLIENT_KEY = 'test-client-key-0123456789';

export interface TestEnv {
  databaseUrl: string;
  redisPrefix: string;
  /** A validated config pointing at this file's database and prefix, with `overrides` applied. */
  config(overrides?: Record<string, unknown>): Config;
  /** Environment variables that give a child process the same database, prefix and keys. */
  processEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestEnv(): Promise<TestEnv> {
  const suffix = randomBytes(4).toString('hex');
  const dbName = `${testDbPrefix()}${suffix}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${dbName} TEMPLATE ${templateDb()}`));
  const url = databaseUrl(dbName);
  const redisPrefix = `mrtest:${suffix}`;
  return {
    databaseUrl: url,
    redisPrefix,
    config(overrides = {}) {
      return loadConfig({
        env: {},
        overrides: {
          'database.url': url,
          'database.pool_size': 5,
          'redis.url': REDIS_URL,
          'redis.key_prefix': redisPrefix,
          'auth.admin_api_key': ADMIN_KEY,
          'server.port': 0,
          'server.host': '127.0.0.1',
          'server.shutdown_timeout': 2000,
          'log.level': 'error',
          'service.environment': 'test',
          ...overrides,
        },
      });
    },
    processEnv(extra = {}) {
      return {
        ...process.env,
        DATABASE_URL: url,
        REDIS_URL,
        REDIS_KEY_PREFIX: redisPrefix,
        ADMIN_API_KEY: ADMIN_KEY,
        LOG_LEVEL: 'warn',
        NODE_ENV: 'test',
        ...extra,
      };
    },
    async cleanup() {
      await withAdmin(async (c) => {
        // pool.end() resolves before its clients' connections have closed. Give them a moment:
        // FORCE terminates whatever is still connected, and a terminated idle client of a pool
        // with no 'error' listener (the tests' own pg.Pool) is an uncaught error in the test file.
        for (let poll = 0; poll < 25; poll++) {
          const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [dbName]);
          if (rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      });
      const redis = new Redis(REDIS_URL);
      try {
        // Plain keys start with the prefix; BullMQ's start with it inside a hash tag.
        for (const pattern of [`${redisPrefix}*`, `{${redisPrefix}}*`]) {
          let cursor = '0';
          do {
            const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            if (found.length) await redis.del(...found);
          } while (cursor !== '0');
        }
      } finally {
        redis.disconnect();
      }
    },
  };
}

export { freePort, type Spawned, spawnCommand } from './processes.js';
export { type Wait, type WaitOptions, waitFor, waitForDefined, waitUntil } from './wait.js';
export { ROOT, type RunningSystem, SERVICE_NAMES, type ServiceName, startSystem } from './system.js';
export { EventQueries, type RouteTotals } from './event-queries.js';
export { cutIntoJobs, type DeadLetterRow, deadLetterCount, deadLettersOf, eventFingerprint, waitForQueuesDrained } from './dead-letters.js';
