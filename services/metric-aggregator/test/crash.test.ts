import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, type Pool } from '@model-router/database';
import { EventPublisher, queuePrefix } from '@model-router/queue';
import { createTestEnv, EventQueries, freePort, REDIS_URL, spawnCommand, type Spawned, type TestEnv, waitUntil } from '@model-router/tests/support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { expectedMetricTotals, expectedRouteTotals, expectSameMetricTotals, metricEvent, range, routeEvent } from './fixtures.js';

const SERVICE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const METRICS = 50_000;
const ROUTES = 10_000;

let env: TestEnv;
let pool: Pool;
let queries: EventQueries;
let redis: Redis;
let queues: Queue[];
const children: Spawned[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  pool = createPool(env.databaseUrl, 2);
  queries = new EventQueries(pool);
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queues = ['metric-events', 'route-events'].map((name) => new Queue(name, { connection: redis, prefix: queuePrefix(env.redisPrefix) }));
}, 30_000);

afterAll(async () => {
  for (const child of children) await child.stop('SIGKILL', 5000);
  await Promise.all((queues ?? []).map((q) => q.close()));
  await pool?.end();
  redis?.disconnect();
  await env?.cleanup();
}, 30_000);

/** The aggregator as its own process (`tsx src/main.ts`), ready once its ops server answers. */
async function startAggregatorProcess(): Promise<Spawned> {
  const port = await freePort();
  const child = spawnCommand(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVICE_DIR,
    env: env.processEnv({ METRIC_AGGREGATOR_PORT: String(port) }),
  });
  children.push(child);
  await waitUntil(
    async () => {
      if (child.child.exitCode !== null) throw new Error(`aggregator exited (${child.child.exitCode}):\n${child.output()}`);
      return fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    },
    { timeoutMs: 30_000, detail: () => child.output() },
  );
  return child;
}

const persisted = async (): Promise<number> => (await queries.countMetricEvents()) + (await queries.countRouteEvents());

describe('metric aggregator killed with SIGKILL mid-batch', () => {
  it('loses nothing and counts nothing twice after a restart', async () => {
    const metrics = range(0, METRICS).map((i) => metricEvent('crash', i));
    const routes = range(0, ROUTES).map((i) => routeEvent('crash', i));
    const publisher = new EventPublisher(redis, { keyPrefix: env.redisPrefix });
    for (let i = 0; i < METRICS; i += 1000) await publisher.publishMany('metric.recorded', metrics.slice(i, i + 1000));
    for (let i = 0; i < ROUTES; i += 1000) await publisher.publishMany('route.decided', routes.slice(i, i + 1000));
    await publisher.close();

    const first = await startAggregatorProcess();
    // Kill it while it is writing: some batches committed, some in flight, most still queued.
    await waitUntil(async () => (await persisted()) >= 8000, { timeoutMs: 30_000, detail: () => first.output() });
    await first.stop('SIGKILL');
    // Proof that it died mid-work: jobs it held are still marked active, events are still missing.
    const activeAtKill = (await Promise.all(queues.map((q) => q.getJobCounts('active')))).reduce((n, c) => n + (c.active ?? 0), 0);
    expect(activeAtKill).toBeGreaterThan(0);
    expect(await persisted()).toBeLessThan(METRICS + ROUTES);

    // The restarted process takes the queued jobs at once and the killed one's jobs once their
    // locks expire (lockDuration 10 s): a batch that had committed comes back as duplicates only.
    const second = await startAggregatorProcess();
    await waitUntil(async () => (await persisted()) >= METRICS + ROUTES, { timeoutMs: 45_000, detail: async () => `persisted ${await persisted()}\n${second.output()}` });
    await waitUntil(
      async () => {
        const counts = await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'failed')));
        return counts.every((c) => c.waiting === 0 && c.active === 0 && c.delayed === 0 && c.failed === 0);
      },
      { timeoutMs: 30_000, detail: async () => JSON.stringify(await Promise.all(queues.map((q) => q.getJobCounts()))) },
    );

    expect(await queries.countMetricEvents()).toBe(METRICS);
    expect(await queries.countRouteEvents()).toBe(ROUTES);
    const raw = await queries.metricEventTotals();
    expectSameMetricTotals(raw, expectedMetricTotals(metrics));
    for (const granularity of ['minute', 'hour'] as const) {
      const { histogram_count, ...rollup } = await queries.modelRollupTotals(granularity);
      expectSameMetricTotals(rollup, raw);
      expect(histogram_count).toBe(METRICS);
      expect(await queries.routeRollupTotals(granularity)).toEqual(expectedRouteTotals(routes));
    }
    await second.stop('SIGTERM');
  }, 120_000);
});
