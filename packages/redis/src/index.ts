import { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { redisKeys } from './keys.js';

export { Cluster, Redis };
export { hashTag, type RedisKeys, redisKeys } from './keys.js';

/** A connection to a single Redis or to a Redis Cluster: the same commands work on both. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: config `redis` (a URL, or cluster nodes when any are listed). */
export interface RedisTarget {
  url: string;
  cluster?: { nodes: readonly string[] };
}

export interface RedisOptions {
  /** Name shown in CLIENT LIST, to tell connections apart. */
  connectionName?: string;
  /** Workers and subscribers wait for Redis forever; request paths fail fast instead. */
  failFast?: boolean;
}

const retryStrategy = (times: number): number => Math.min(times * 100, 2000);

/** `host:port` → { host, port }; IPv6 hosts in brackets (`[::1]:7000`). */
export function parseClusterNode(node: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(node.trim());
  if (!match) throw new Error(`cluster node "${node}" is not host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}

/**
 * A client for `target`: a Cluster when cluster nodes are configured (the URL then only lends its
 * username, password and TLS to every node), else a single Redis at the URL.
 */
export function createRedis(target: string | RedisTarget, options: RedisOptions = {}): RedisClient {
  const { url, cluster } = typeof target === 'string' ? { url: target, cluster: undefined } : target;
  // Fail-fast clients give up on a command after one reconnect try so an HTTP request can
  // answer 503 instead of hanging; others (BullMQ workers, subscribers) must retry forever.
  const perCommand = {
    connectionName: options.connectionName,
    maxRetriesPerRequest: options.failFast ? 1 : null,
  };
  if (!cluster?.nodes.length) {
    return new Redis(url, { ...perCommand, enableOfflineQueue: !options.failFast, retryStrategy });
  }
  const parsed = new URL(url);
  const client = new Cluster(cluster.nodes.map(parseClusterNode), {
    // A fail-fast client must not queue commands while the cluster is down either, but it needs the
    // queue while it first learns the slots, so it is switched off once the client is ready (below).
    enableOfflineQueue: true,
    clusterRetryStrategy: retryStrategy,
    // After a master dies its replica takes over within cluster-node-timeout plus an election;
    // commands for its slots retry on CLUSTERDOWN / connection errors meanwhile.
    retryDelayOnClusterDown: 200,
    retryDelayOnFailover: 200,
    redisOptions: {
      ...perCommand,
      username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      tls: parsed.protocol === 'rediss:' ? {} : undefined,
    },
  });
  if (options.failFast) {
    client.once('ready', () => {
      client.options.enableOfflineQueue = false;
    });
  }
  return client;
}

/** Key and channel names, all under the deployment's prefix (see keys.ts). */
export function keys(prefix: string) {
  return redisKeys(prefix);
}

/** The masters to visit for a whole-keyspace operation (SCAN, INFO): every master of a cluster. */
export function masters(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Deletes every key matching `pattern` with SCAN + UNLINK (never KEYS, which blocks Redis), on
 * every master of a cluster. Keys are unlinked one per command on a cluster: a multi-key UNLINK
 * must stay inside one slot.
 */
export async function deleteByPattern(redis: RedisClient, pattern: string): Promise<number> {
  if (redis instanceof Cluster) await redis.ping(); // the slot map (and so the masters) is known once it answers
  let deleted = 0;
  for (const node of masters(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (!found.length) continue;
      if (redis instanceof Cluster) {
        const counts = await Promise.all(found.map((key) => redis.unlink(key)));
        deleted += counts.reduce((a, b) => a + b, 0);
      } else {
        deleted += await node.unlink(...found);
      }
    } while (cursor !== '0');
  }
  return deleted;
}

export const configChangeSchema = z.object({
  entity: z.enum(['model', 'abtest', 'budget', 'key']),
  id: z.string(),
  action: z.enum(['created', 'updated', 'deleted', 'started', 'paused', 'completed', 'rotated']),
  at: z.string(),
});
export type ConfigChange = z.infer<typeof configChangeSchema>;

export async function publishConfigChange(redis: RedisClient, prefix: string, change: Omit<ConfigChange, 'at'>): Promise<void> {
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
  subscriber: RedisClient,
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
  subscriber: RedisClient,
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
