/**
 * The start check of every service: is Redis fit to hold accepted events? Each case runs a
 * redis-server of its own (free loopback port, temp directory) with the settings under test, so
 * the machine's Redis is never reconfigured.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@model-router/config';
import { createLogger } from '@model-router/logger';
import { checkRedisDurability, type DurabilityPolicy, RedisDurabilityError, readRedisDurability } from '@model-router/redis';
import { startService } from '@model-router/service-runtime';
import { type OwnRedis, startOwnRedis } from '../support/own-redis.js';
import { Redis } from 'ioredis';

const servers: OwnRedis[] = [];
afterAll(async () => {
  for (const server of servers) await server.destroy();
});

/** A redis-server of the test's own (free port, temp directory), with `args` over the durable defaults. */
async function redisServer(args: string[]): Promise<OwnRedis> {
  const server = await startOwnRedis({ appendfsync: 'everysec', extraArgs: args });
  servers.push(server);
  return server;
}

const VOLATILE = ['--appendonly', 'no'];
const DURABLE: string[] = [];

/** A log that keeps what it was told. */
function recordingLog(): DurabilityPolicy['log'] & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, warn: (message) => warnings.push(message), info: (message) => infos.push(message) };
}

/** Runs the check against `url` with a client of its own. */
async function check(url: string, production: boolean, allowVolatile = false, connect?: (url: string) => Redis) {
  const redis = connect ? connect(url) : new Redis(url, { maxRetriesPerRequest: 1 });
  const log = recordingLog();
  try {
    const outcome = await checkRedisDurability(redis, { production, allowVolatile, log }).then(
      (findings) => ({ findings, error: null as Error | null }),
      (error: Error) => ({ findings: null, error }),
    );
    return { ...outcome, log };
  } finally {
    redis.disconnect();
  }
}

describe('the Redis durability start check', () => {
  it('passes a Redis with AOF and noeviction without a warning', async () => {
    const server = await redisServer(DURABLE);
    const { findings, error, log } = await check(server.url, true);
    expect(error).toBeNull();
    expect(findings).toEqual([]);
    expect(log.warnings).toEqual([]);
    expect(log.infos).toEqual(['Redis keeps accepted events across restarts']);
  });

  it('warns about persistence off, naming appendonly; production refuses unless REDIS_ALLOW_VOLATILE', async () => {
    const server = await redisServer(VOLATILE);
    const dev = await check(server.url, false);
    expect(dev.error).toBeNull();
    expect(dev.findings!.map((f) => f.setting)).toEqual(['appendonly']);
    expect(dev.log.warnings).toHaveLength(1);
    expect(dev.log.warnings[0]).toMatch(/persistence is off \(appendonly no\)/);

    const prod = await check(server.url, true);
    expect(prod.error).toBeInstanceOf(RedisDurabilityError);
    expect(prod.error!.message).toMatch(/^refused in production mode: .*appendonly no.*REDIS_ALLOW_VOLATILE=true/);
    expect(prod.log.warnings[0]).toMatch(/appendonly no/);

    const allowed = await check(server.url, true, true);
    expect(allowed.error).toBeNull();
    expect(allowed.log.warnings[0]).toMatch(/appendonly no/);
  });

  it.each(['allkeys-lru', 'volatile-ttl', 'allkeys-random'])('warns about eviction (maxmemory-policy %s), naming the setting; production refuses', async (policy) => {
    const server = await redisServer(['--save', '', '--appendonly', 'yes', '--maxmemory-policy', policy]);
    const dev = await check(server.url, false);
    expect(dev.findings!.map((f) => f.setting)).toEqual(['maxmemory-policy']);
    expect(dev.log.warnings[0]).toContain(`maxmemory-policy ${policy}`);
    const prod = await check(server.url, true);
    expect(prod.error!.message).toContain(`maxmemory-policy ${policy}`);
    expect(prod.error!.message).not.toContain('appendonly');
  });

  it('names both settings when both are wrong', async () => {
    const server = await redisServer([...VOLATILE, '--maxmemory-policy', 'allkeys-lfu']);
    const prod = await check(server.url, true);
    expect(prod.error!.message).toMatch(/appendonly no.*maxmemory-policy allkeys-lfu/);
    expect(prod.log.warnings).toHaveLength(2);
  });

  it('reads INFO when CONFIG is refused (as managed Redis services do), and still names the setting', async () => {
    const durable = await redisServer([...DURABLE, '--rename-command', 'CONFIG', '']);
    const client = new Redis(durable.url);
    const read = await readRedisDurability(client).finally(() => client.disconnect());
    expect(read).toMatchObject({ source: 'info', appendonly: 'yes', appendfsync: null, maxmemoryPolicy: 'noeviction' });
    expect(read.refusal).toMatch(/CONFIG GET: ERR unknown command/);
    expect((await check(durable.url, true)).error).toBeNull();

    const volatile = await redisServer([...VOLATILE, '--rename-command', 'CONFIG', '']);
    const prod = await check(volatile.url, true);
    expect(prod.error!.message).toMatch(/appendonly no/);
  });

  it('warns that it cannot verify when CONFIG and INFO are both refused, and starts even in production', async () => {
    const server = await redisServer(VOLATILE);
    const admin = new Redis(server.url);
    // A user that may run everything but CONFIG and INFO, as a locked-down managed Redis gives.
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-password-0123', '~*', '&*', '+@all', '-config', '-info');
    admin.disconnect();
    const asApp = (url: string) => new Redis(url, { username: 'app', password: 'app-password-0123', maxRetriesPerRequest: 1, enableReadyCheck: false });
    const prod = await check(server.url, true, false, asApp);
    expect(prod.error).toBeNull();
    expect(prod.findings!.map((f) => f.setting)).toEqual(['unverified']);
    expect(prod.log.warnings).toHaveLength(1);
    expect(prod.log.warnings[0]).toMatch(/^cannot verify Redis appendonly and maxmemory-policy \(CONFIG GET: NOPERM.*INFO: NOPERM/);
  });

  it('runs in every worker service at start: production mode refuses a volatile Redis before the service starts', async () => {
    const server = await redisServer(VOLATILE);
    let setups = 0;
    const configFor = (env: Record<string, string>) =>
      loadConfig({
        env: { NODE_ENV: 'production', ADMIN_API_KEY: 'a-production-admin-key-0123', CLIENT_API_KEY: 'a-production-client-key-0123', REDIS_URL: server.url, ...env },
        overrides: { 'log.level': 'error' },
      });
    const options = {
      name: 'durability-test',
      logger: createLogger('durability-test', 'error'),
      opsPort: 0,
      setup: async () => {
        setups += 1;
        return { stop: async () => undefined };
      },
    };
    await expect(startService({ ...options, config: configFor({}) })).rejects.toThrow(/appendonly no.*REDIS_ALLOW_VOLATILE=true/);
    expect(setups).toBe(0);

    const lines: { level: string; msg?: string; message?: string; setting?: string }[] = [];
    const logger = createLogger('durability-test', 'warn');
    for (const transport of logger.transports) transport.silent = true;
    logger.on('data', (line) => lines.push(line));
    const running = await startService({ ...options, logger, config: configFor({ REDIS_ALLOW_VOLATILE: 'true' }) });
    try {
      expect(setups).toBe(1);
      expect(lines.filter((l) => l.level === 'warn').map((l) => l.setting)).toEqual(['appendonly']);
    } finally {
      await running.stop();
    }
  });
});
