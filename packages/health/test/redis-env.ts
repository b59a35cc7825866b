import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export { REDIS_URL };

/**
 * A Redis key prefix of this test file's own, removed afterwards. (The store needs no Postgres, so
 * these tests run in the unit project without the template database that `createTestEnv` clones.)
 */
export function redisTestPrefix(): { prefix: string; cleanup(): Promise<void> } {
  const prefix = `mrtest:${randomBytes(4).toString('hex')}`;
  return {
    prefix,
    async cleanup() {
      const redis = new Redis(REDIS_URL);
      try {
        let cursor = '0';
        do {
          const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (found.length) await redis.del(...found);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}
