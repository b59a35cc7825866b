import { Redis } from 'ioredis';
import { z } from 'zod';

export { Redis };

export interface RedisOptions {
  /** Name shown in CLIENT LIST, to tell connections apart. */
  connectionName?: string;
  /** Workers and subscribers wait for Redis forever; request paths fail fast instead. */
  failFast?: boolean;
}

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: options.connectionName,
    // Fail-fast clients give up on a command after one reconnect try so an HTTP request can
    // answer 503 instead of hanging; others (BullMQ workers, subscribers) must retry forever.
    maxRetriesPerRequest: options.failFast ? 1 : null,
    enableOfflineQueue: !options.failFast,
    retryStrategy: (times) => Math.min(times * 100, 2000),
  });
}

/** Key and channel names, all under the deployment's prefix. */
export function keys(prefix: string) {
  return {
    configChannel: `${prefix}:config-changed`,
    /** An A/B test's cached config (TTL abtest.cache_ttl). */
    abtestConfig: (testId: string) => `${prefix}:abtest:${testId}:config`,
    /** A user's sticky variant in a weighted_random test (SET NX, TTL abtest.user_variant_cache_ttl). */
    abtestUser: (testId: string, userId: string) => `${prefix}:abtest:${testId}:user:${userId}`,
    /** Every cached key of one A/B test, for SCAN when the test completes or goes. */
    abtestPattern: (testId: string) => `${prefix}:abtest:${testId}:*`,
  };
}

/** Deletes every key matching `pattern` with SCAN + UNLINK (never KEYS, which blocks Redis). */
export async function deleteByPattern(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length) deleted += await redis.unlink(...found);
  } while (cursor !== '0');
  return deleted;
}

export const configChangeSchema = z.object({
  entity: z.enum(['model', 'abtest', 'budget']),
  id: z.string(),
  action: z.enum(['created', 'updated', 'deleted', 'started', 'paused', 'completed']),
  at: z.string(),
});
export type ConfigChange = z.infer<typeof configChangeSchema>;

export async function publishConfigChange(redis: Redis, prefix: string, change: Omit<ConfigChange, 'at'>): Promise<void> {
  const message: ConfigChange = { ...change, at: new Date().toISOString() };
  await redis.publish(keys(prefix).configChannel, JSON.stringify(message));
}

/**
 * Calls `onMessage` for each message on `channel` that parses as JSON and matches `schema` (others
 * are ignored), using `subscriber`: a connection in subscriber mode, which may listen to other
 * channels too. Returns an unsubscribe. Messages sent while disconnected are lost: a listener
 * reloads what it tracks on every reconnect.
 */
export async function subscribeJson<T>(
  subscriber: Redis,
  channel: string,
  schema: z.ZodType<T>,
  onMessage: (message: T) => void,
): Promise<() => Promise<void>> {
  const listener = (from: string, raw: string): void => {
    if (from !== channel) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    const result = schema.safeParse(parsed);
    if (result.success) onMessage(result.data);
  };
  subscriber.on('message', listener);
  await subscriber.subscribe(channel);
  return async () => {
    subscriber.off('message', listener);
    await subscriber.unsubscribe(channel);
  };
}

/** Calls `onChange` for each valid change notice on the config channel (see subscribeJson). */
export function subscribeConfigChanges(
  subscriber: Redis,
  prefix: string,
  onChange: (change: ConfigChange) => void,
): Promise<() => Promise<void>> {
  return subscribeJson(subscriber, keys(prefix).configChannel, configChangeSchema, onChange);
}

export {
  checkRedisDurability,
  type DurabilityFinding,
  type DurabilityPolicy,
  durabilityFindings,
  type RedisDurability,
  RedisDurabilityError,
  readRedisDurability,
} from './durability.js';
