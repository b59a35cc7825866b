/**
 * Is Redis fit to hold accepted events? The queues live in Redis until a worker writes them to
 * Postgres, so a Redis that keeps nothing on disk loses them on a restart, and one that evicts
 * keys deletes them under memory pressure. Every service checks this once at start.
 */
import { Cluster, type Redis, ReplyError } from 'ioredis';

/** The settings that decide whether queued events survive, as the server reported them. */
export interface RedisDurability {
  /**
   * `config`: read with CONFIG GET; `info`: CONFIG was refused (managed Redis services rename or
   * forbid it) and INFO answered; `unknown`: neither answered, nothing could be verified.
   */
  source: 'config' | 'info' | 'unknown';
  /** `yes` or `no`; null when not reported. */
  appendonly: string | null;
  /** `always`, `everysec` or `no`; INFO does not report it (null). */
  appendfsync: string | null;
  /** e.g. `noeviction`, `allkeys-lru`; null when not reported. */
  maxmemoryPolicy: string | null;
  /** The refusal that left a setting unread, e.g. "ERR unknown command 'CONFIG'". */
  refusal?: string;
}

/** One thing wrong, with the Redis setting it concerns (`unverified`: it could not be read). */
export interface DurabilityFinding {
  setting: 'appendonly' | 'maxmemory-policy' | 'unverified';
  message: string;
}

/** Lines `key:value` of an INFO section. */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/**
 * Reads the settings: CONFIG GET first, INFO for what CONFIG did not give. A refusal by the
 * server (an error reply) is recorded; a lost connection is not a refusal and rejects.
 */
export async function readRedisDurability(redis: Redis): Promise<RedisDurability> {
  const result: RedisDurability = { source: 'unknown', appendonly: null, appendfsync: null, maxmemoryPolicy: null };
  const refusals: string[] = [];
  let fromInfo = false;
  try {
    const flat = (await redis.call('CONFIG', 'GET', 'appendonly', 'appendfsync', 'maxmemory-policy')) as string[];
    const values = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) values.set(String(flat[i]).toLowerCase(), String(flat[i + 1]));
    result.appendonly = values.get('appendonly') ?? null;
    result.appendfsync = values.get('appendfsync') ?? null;
    result.maxmemoryPolicy = values.get('maxmemory-policy') ?? null;
    if (result.appendonly !== null && result.maxmemoryPolicy !== null) {
      result.source = 'config';
      return result;
    }
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    refusals.push(`CONFIG GET: ${(error as Error).message}`);
  }
  try {
    if (result.appendonly === null) {
      const enabled = infoFields(await redis.info('persistence')).get('aof_enabled');
      if (enabled !== undefined) result.appendonly = enabled === '1' ? 'yes' : 'no';
      fromInfo ||= enabled !== undefined;
    }
    if (result.maxmemoryPolicy === null) {
      result.maxmemoryPolicy = infoFields(await redis.info('memory')).get('maxmemory_policy') ?? null;
      fromInfo ||= result.maxmemoryPolicy !== null;
    }
  } catch (error) {
    if (!(error instanceof ReplyError)) throw error;
    refusals.push(`INFO: ${(error as Error).message}`);
  }
  if (result.appendonly !== null || result.maxmemoryPolicy !== null) result.source = fromInfo ? 'info' : 'config';
  if (refusals.length) result.refusal = refusals.join('; ');
  return result;
}

/** What is wrong with these settings for holding accepted events (empty: nothing). */
export function durabilityFindings(durability: RedisDurability): DurabilityFinding[] {
  const findings: DurabilityFinding[] = [];
  if (durability.appendonly === 'no') {
    findings.push({
      setting: 'appendonly',
      message:
        'Redis persistence is off (appendonly no): a Redis restart loses every accepted event still queued. ' +
        'Run Redis with appendonly yes and appendfsync everysec (always: no loss at all)',
    });
  }
  if (durability.maxmemoryPolicy !== null && durability.maxmemoryPolicy !== 'noeviction') {
    findings.push({
      setting: 'maxmemory-policy',
      message:
        `Redis may evict keys (maxmemory-policy ${durability.maxmemoryPolicy}): under memory pressure it deletes queued events. ` +
        'Run Redis with maxmemory-policy noeviction',
    });
  }
  const unread = [
    ...(durability.appendonly === null ? ['appendonly'] : []),
    ...(durability.maxmemoryPolicy === null ? ['maxmemory-policy'] : []),
  ];
  if (unread.length) {
    findings.push({
      setting: 'unverified',
      message:
        `cannot verify Redis ${unread.join(' and ')} (${durability.refusal ?? 'not reported'}): ` +
        'make sure it runs with appendonly yes and maxmemory-policy noeviction, or accepted events may be lost',
    });
  }
  return findings;
}

export class RedisDurabilityError extends Error {
  override name = 'RedisDurabilityError';
}

export interface DurabilityPolicy {
  /** Production mode refuses a volatile Redis … */
  production: boolean;
  /** … unless the operator accepts the risk (REDIS_ALLOW_VOLATILE=true). */
  allowVolatile: boolean;
  log: { warn(message: string, meta?: Record<string, unknown>): void; info(message: string, meta?: Record<string, unknown>): void };
}

/**
 * The start check every service runs: logs a warning per finding (naming the setting); in
 * production mode throws when persistence is off or eviction is on, unless volatile Redis is
 * allowed. A Redis whose settings cannot be read is only warned about: it may well be durable.
 */
export async function checkRedisDurability(redis: Redis | Cluster, policy: DurabilityPolicy): Promise<DurabilityFinding[]> {
  // On a cluster every master holds queued events (of its slots): each one is checked.
  let nodes: { name: string; client: Redis }[] = [{ name: 'redis', client: redis as Redis }];
  if (redis instanceof Cluster) {
    await redis.ping(); // answers once the slot map, and so the masters, are known
    nodes = redis.nodes('master').map((client) => ({ name: `${client.options.host}:${client.options.port}`, client }));
  }
  const findings: DurabilityFinding[] = [];
  for (const node of nodes) {
    const durability = await readRedisDurability(node.client);
    const found = durabilityFindings(durability);
    const settings = { appendonly: durability.appendonly, appendfsync: durability.appendfsync, maxmemory_policy: durability.maxmemoryPolicy };
    const where = nodes.length > 1 ? { node: node.name } : {};
    for (const finding of found) policy.log.warn(finding.message, { setting: finding.setting, redis: settings, ...where });
    if (found.length === 0) policy.log.info('Redis keeps accepted events across restarts', { redis: settings, ...where });
    findings.push(...found);
  }

  const volatile = findings.filter((f) => f.setting !== 'unverified');
  if (policy.production && volatile.length && !policy.allowVolatile) {
    throw new RedisDurabilityError(
      `refused in production mode: ${[...new Set(volatile.map((f) => f.message))].join('; ')}. ` +
        'To start anyway and accept losing queued events, set REDIS_ALLOW_VOLATILE=true (redis.allow_volatile)',
    );
  }
  return findings;
}
