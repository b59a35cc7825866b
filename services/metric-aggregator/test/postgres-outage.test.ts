import { createServer, type Server, type Socket, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, type Pool } from '@model-router/database';
import { createLogger } from '@model-router/logger';
import { EventPublisher, queuePrefix } from '@model-router/queue';
import type { RunningService } from '@model-router/service-runtime';
import { createTestEnv, EventQueries, freePort, REDIS_URL, type TestEnv, waitUntil } from '@model-router/tests/support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startMetricAggregator } from '../src/index.js';
import { expectedMetricTotals, expectedRouteTotals, expectSameMetricTotals, metricEvent, range, routeEvent } from './fixtures.js';

/**
 * A TCP proxy in front of Postgres that can be taken down (every connection cut, new ones refused)
 * and brought back on the same port: Postgres unreachable for the aggregator only, while the real
 * server keeps serving the other tests.
 */
class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

let env: TestEnv;
let proxy: TcpProxy;
let aggregator: RunningService;
let pool: Pool;
let queries: EventQueries;
let redis: Redis;

beforeAll(async () => {
  env = await createTestEnv();
  const direct = new URL(env.databaseUrl);
  proxy = new TcpProxy(await freePort(), { host: direct.hostname, port: Number(direct.port || 5432) });
  await proxy.up();
  const proxied = new URL(env.databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  aggregator = await startMetricAggregator(env.config({ 'database.url': proxied.toString() }), {
    logger: createLogger('metric-aggregator-test', 'error'),
    opsPort: 0,
  });
  // The test reads Postgres directly, around the proxy.
  pool = createPool(env.databaseUrl, 2);
  queries = new EventQueries(pool);
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}, 30_000);

afterAll(async () => {
  await proxy?.up().catch(() => undefined);
  await aggregator?.stop();
  await proxy?.down();
  await pool?.end();
  redis?.disconnect();
  await env?.cleanup();
}, 30_000);

describe('Postgres unreachable for a while', () => {
  it('keeps events waiting in the queue and writes each exactly once when Postgres is back', async () => {
    const publisher = new EventPublisher(redis, { keyPrefix: env.redisPrefix });
    const queues = ['metric-events', 'route-events'].map((name) => new Queue(name, { connection: redis, prefix: queuePrefix(env.redisPrefix) }));
    try {
      const before = range(0, 1000).map((i) => metricEvent('outage', i));
      await publisher.publishMany('metric.recorded', before);
      await waitUntil(async () => (await queries.countMetricEvents()) === before.length, 10_000);

      await proxy.down();
      const during = range(1000, 6000).map((i) => metricEvent('outage', i));
      const routes = range(0, 2000).map((i) => routeEvent('outage', i));
      for (let i = 0; i < during.length; i += 1000) await publisher.publishMany('metric.recorded', during.slice(i, i + 1000));
      for (let i = 0; i < routes.length; i += 1000) await publisher.publishMany('route.decided', routes.slice(i, i + 1000));

      // Batches fail and are retried with backoff: they wait in the queue, none is given up.
      await waitUntil(async () => ((await queues[0]!.getJobCounts('delayed')).delayed ?? 0) > 0, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(await queries.countMetricEvents()).toBe(before.length);
      expect(await queries.countRouteEvents()).toBe(0);
      for (const queue of queues) expect((await queue.getJobCounts('failed')).failed).toBe(0);
      const ready = await fetch(`${aggregator.url}/readyz`);
      expect(ready.status).toBe(503);

      await proxy.up();
      const all = [...before, ...during];
      await waitUntil(
        async () => (await queries.countMetricEvents()) >= all.length && (await queries.countRouteEvents()) >= routes.length,
        { timeoutMs: 30_000, detail: async () => `metrics ${await queries.countMetricEvents()}, routes ${await queries.countRouteEvents()}` },
      );
      await waitUntil(
        async () => {
          const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed')));
          return counts.every((c) => Object.values(c).every((n) => n === 0));
        },
        20_000,
      );

      expect(await queries.countMetricEvents()).toBe(all.length);
      expect(await queries.countRouteEvents()).toBe(routes.length);
      for (const queue of queues) expect((await queue.getJobCounts('failed')).failed).toBe(0);
      const raw = await queries.metricEventTotals();
      expectSameMetricTotals(raw, expectedMetricTotals(all));
      const { histogram_count: _, ...hourly } = await queries.modelRollupTotals('hour');
      expectSameMetricTotals(hourly, raw);
      expect(await queries.routeRollupTotals('minute')).toEqual(expectedRouteTotals(routes));
      expect((await fetch(`${aggregator.url}/readyz`)).status).toBe(200);
      // An outage is not bad data: nothing was set aside as a dead letter.
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM model_router.dead_letter_events');
      expect(rows[0].n).toBe(0);
    } finally {
      await publisher.close();
      await Promise.all(queues.map((q) => q.close()));
    }
  }, 90_000);
});
