/**
 * A 202 survives a Redis crash. The API accepts metrics into a redis-server of this test's own
 * (free port, temp directory, AOF on, noeviction) while no aggregator runs, so every accepted
 * event is still queued; Redis is SIGKILLed and restarted on the same directory (the AOF is
 * replayed), then the aggregator drains the queue: every accepted event is in Postgres exactly
 * once, and nothing else is.
 *
 * `appendfsync always` is the README's zero-loss setting: each write is on disk before Redis
 * answers. `everysec` (the shipped default) writes to the file before answering too, and a
 * process kill keeps what the OS holds, but Redis may postpone that write while a slow fsync is in
 * flight; the case waits until its AOF buffer is empty (INFO `aof_buffer_length:0`), so it checks
 * the restart itself and not the disk's speed. What `everysec` can lose is a machine crash's last
 * second, which no test here can stage.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApi } from '@model-router/api';
import { createPool, type Pool } from '@model-router/database';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { EventPublisher } from '@model-router/queue';
import { Redis } from 'ioredis';
import { type OwnRedis, startOwnRedis } from '../support/own-redis.js';
import { createTestEnv, type TestEnv, waitUntil } from '../support/index.js';

const REQUESTS = 20;
const PER_REQUEST = 100;
const logger = createLogger('redis-restart-test', 'error');

let env: TestEnv;
let pool: Pool;

beforeAll(async () => {
  env = await createTestEnv();
  pool = createPool(env.databaseUrl, 2);
}, 30_000);

afterAll(async () => {
  await pool?.end();
  await env?.cleanup();
});

/** INFO persistence of `redis`, as a map. */
async function persistenceInfo(redis: Redis): Promise<Map<string, string>> {
  const text = await redis.info('persistence');
  return new Map(text.split(/\r?\n/).flatMap((line) => (line.includes(':') ? [line.split(':', 2) as [string, string]] : [])));
}

/** Every metric event id in Postgres that starts with `prefix`, with how many raw rows it has. */
async function persistedCounts(prefix: string): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ event_id: string; n: string }>(
    'SELECT event_id, count(*) AS n FROM model_router.metric_events WHERE starts_with(event_id, $1) GROUP BY event_id',
    [prefix],
  );
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

describe.each(['always', 'everysec'] as const)('a Redis SIGKILL with accepted events queued (appendfsync %s)', (appendfsync) => {
  let redis: OwnRedis;
  beforeAll(async () => {
    redis = await startOwnRedis({ appendfsync });
  }, 30_000);
  afterAll(async () => {
    await redis?.destroy();
  });

  it('loses no accepted event and persists each exactly once', async () => {
    const config = env.config({ 'redis.url': redis.url, 'redis.key_prefix': `${env.redisPrefix}-${appendfsync}` });
    // The consumer is stopped: only the API runs, so the accepted events wait in Redis.
    const api = await startApi(config, logger);
    const accepted: string[] = [];
    try {
      for (let r = 0; r < REQUESTS; r++) {
        const metrics = Array.from({ length: PER_REQUEST }, (_, i) => ({
          model_id: 'gpt-4o',
          success: i % 7 !== 0,
          latency_ms: 100 + i,
          prompt_tokens: 10,
          completion_tokens: 20,
          event_id: `restart-${appendfsync}-${r}-${i}`,
        }));
        const res = await fetch(`${api.url}/api/v1/metrics`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ metrics }),
        });
        expect(res.status).toBe(202);
        accepted.push(...((await res.json()) as { event_ids: string[] }).event_ids);
      }
    } finally {
      await api.stop();
    }
    expect(new Set(accepted).size).toBe(REQUESTS * PER_REQUEST);

    const ids = `restart-${appendfsync}-`;
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    // Refused connections while Redis is down are expected.
    client.on('error', () => undefined);
    // Only for inspection: the publisher's BullMQ queue object of the metric events.
    const inspector = new EventPublisher(client, { keyPrefix: config.redis.key_prefix });
    for (const q of inspector.allQueues) q.on('error', () => undefined);
    const queue = inspector.allQueues.find((q) => q.name === 'metric-events')!;
    try {
      const waitingBefore = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
      expect(Object.values(waitingBefore).reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
      if (appendfsync === 'everysec') {
        await waitUntil(async () => (await persistenceInfo(client)).get('aof_buffer_length') === '0', { what: 'AOF buffer written' });
      }
      expect((await persistenceInfo(client)).get('aof_enabled')).toBe('1');
      const pid = redis.pid();
      await redis.kill();
      expect(redis.pid()).toBeNull();
      await redis.start();
      expect(redis.pid()).not.toBe(pid);
      // What came back is what the AOF held: the same jobs, still waiting.
      expect(await queue.getJobCounts('waiting', 'prioritized', 'delayed')).toEqual(waitingBefore);
      expect(await persistedCounts(ids)).toEqual(new Map());

      const aggregator = await startMetricAggregator(config, { logger, opsPort: 0 });
      try {
        await waitUntil(
          async () => {
            const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
            return Object.values(counts).every((n) => n === 0);
          },
          { timeoutMs: 60_000, what: 'queue drained', detail: async () => JSON.stringify(await queue.getJobCounts()) },
        );
      } finally {
        await aggregator.stop();
      }
      expect((await queue.getJobCounts('failed')).failed).toBe(0);
    } finally {
      await inspector.close();
      client.disconnect();
    }

    const persisted = await persistedCounts(`restart-${appendfsync}-`);
    const missing = accepted.filter((id) => !persisted.has(id));
    const doubled = [...persisted].filter(([, n]) => n !== 1);
    const unexpected = [...persisted.keys()].filter((id) => !accepted.includes(id));
    expect({ missing: missing.length, doubled: doubled.length, unexpected: unexpected.length }).toEqual({ missing: 0, doubled: 0, unexpected: 0 });
    expect(persisted.size).toBe(REQUESTS * PER_REQUEST);
  }, 120_000);
});
