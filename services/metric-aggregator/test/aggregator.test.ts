import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AbTestRollupsReader, createPool, EventIngestionRepository, EventMaintenanceRepository, type Pool } from '@model-router/database';
import { LATENCY_BUCKET_COUNT } from '@model-router/domain';
import { createLogger } from '@model-router/logger';
import { EventPublisher, type MetricRecordedEvent, queuePrefix, type RouteDecidedEvent } from '@model-router/queue';
import type { RunningService } from '@model-router/service-runtime';
import {
  createTestEnv,
  EventQueries,
  REDIS_URL,
  type TestEnv,
  waitForQueuesDrained,
  waitUntil,
} from '@model-router/tests/support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MAINTENANCE_JOBS, startMetricAggregator } from '../src/index.js';
import {
  expectedMetricTotals,
  expectedRouteTotals,
  expectSameMetricTotals,
  metricEvent,
  range,
  routeEvent,
} from './fixtures.js';

let env: TestEnv;
let aggregator: RunningService;
let pool: Pool;
let repository: EventIngestionRepository;
let maintenance: EventMaintenanceRepository;
let rollups: AbTestRollupsReader;
let queries: EventQueries;
let redis: Redis;
let publisher: EventPublisher;
let metricQueue: Queue;
let routeQueue: Queue;

beforeAll(async () => {
  env = await createTestEnv();
  aggregator = await startMetricAggregator(env.config(), { logger: createLogger('metric-aggregator-test', 'error'), opsPort: 0 });
  pool = createPool(env.databaseUrl, 3);
  repository = new EventIngestionRepository(pool);
  maintenance = new EventMaintenanceRepository(pool);
  rollups = new AbTestRollupsReader(pool);
  queries = new EventQueries(pool);
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  publisher = new EventPublisher(redis, { keyPrefix: env.redisPrefix });
  // Straight BullMQ access, to deliver a job twice or a payload the publisher would refuse.
  metricQueue = new Queue('metric-events', { connection: redis, prefix: queuePrefix(env.redisPrefix) });
  routeQueue = new Queue('route-events', { connection: redis, prefix: queuePrefix(env.redisPrefix) });
}, 30_000);

afterAll(async () => {
  await publisher?.close();
  await metricQueue?.close();
  await routeQueue?.close();
  await aggregator?.stop();
  await pool?.end();
  redis?.disconnect();
  await env?.cleanup();
}, 30_000);

/** Waits until both queues have nothing waiting, running or scheduled for retry. */
const drained = (): Promise<void> => waitForQueuesDrained([metricQueue, routeQueue], 20_000);

const JOB_OPTIONS = { attempts: 3, backoff: { type: 'fixed' as const, delay: 100 } };

describe('metric aggregator', () => {
  it('persists N route and M metric events exactly once, with rollups equal to the raw rows', async () => {
    const routes: RouteDecidedEvent[] = range(0, 2500).map((i) => routeEvent('happy', i));
    const metrics: MetricRecordedEvent[] = range(0, 4000).map((i) => metricEvent('happy', i));
    // Many concurrent publishes, as API requests would make them: group commit builds the jobs.
    await Promise.all([
      ...range(0, 25).map((k) => publisher.publishMany('route.decided', routes.slice(k * 100, (k + 1) * 100))),
      ...range(0, 40).map((k) => publisher.publishMany('metric.recorded', metrics.slice(k * 100, (k + 1) * 100))),
    ]);

    await waitUntil(
      async () => (await queries.countRouteEvents()) >= routes.length && (await queries.countMetricEvents()) >= metrics.length,
      20_000,
    );
    await drained();
    expect(await queries.countRouteEvents()).toBe(routes.length);
    expect(await queries.countMetricEvents()).toBe(metrics.length);
    expect(await queries.countProcessedEvents('route.decided')).toBe(routes.length);
    expect(await queries.countProcessedEvents('metric.recorded')).toBe(metrics.length);

    // Rollups = the raw rows (summed in SQL) = what was sent (summed here).
    const sent = expectedMetricTotals(metrics);
    const raw = await queries.metricEventTotals();
    expectSameMetricTotals(raw, sent);
    for (const granularity of ['minute', 'hour'] as const) {
      const { histogram_count, ...rollup } = await queries.modelRollupTotals(granularity);
      expectSameMetricTotals(rollup, raw);
      expect(histogram_count).toBe(metrics.length);
    }
    const sentRoutes = expectedRouteTotals(routes);
    expect(await queries.routeEventTotals()).toEqual(sentRoutes);
    expect(await queries.routeRollupTotals('minute')).toEqual(sentRoutes);
    expect(await queries.routeRollupTotals('hour')).toEqual(sentRoutes);

    // Per-model minute rollups agree with the raw rows grouped the same way.
    const { rows: mismatches } = await pool.query(
      `WITH raw AS (
         SELECT date_trunc('minute', occurred_at) AS bucket_start, model_id, provider, count(*) AS n,
                count(*) FILTER (WHERE success) AS ok, sum(cost_nanos) AS cost, sum(prompt_tokens) AS prompt
         FROM model_router.metric_events GROUP BY 1, 2, 3)
       SELECT * FROM raw FULL JOIN (SELECT * FROM model_router.model_rollups WHERE granularity = 'minute') r
         USING (bucket_start, model_id, provider)
       WHERE raw.n IS DISTINCT FROM r.request_count OR raw.ok IS DISTINCT FROM r.success_count
          OR raw.cost IS DISTINCT FROM r.cost_nanos_sum OR raw.prompt IS DISTINCT FROM r.prompt_tokens_sum
          OR cardinality(r.latency_buckets) <> ${LATENCY_BUCKET_COUNT}`,
    );
    expect(mismatches).toEqual([]);

    // A/B aggregates: request level per variant, user level per user, exposures per distinct user.
    const inTest = metrics.filter((e) => e.ab_test_id === 'ab-checkout');
    const variants = await rollups.abTestVariantRollups('ab-checkout');
    expect(variants.map((v) => v.variant_id)).toEqual(['control', 'treatment']);
    for (const v of variants) {
      const { ab_test_id: _t, variant_id: _v, latency_min: _min, latency_max: _max, latency_buckets, ...totals } = v;
      const sentVariant = inTest.filter((e) => e.variant_id === v.variant_id);
      expectSameMetricTotals(totals, expectedMetricTotals(sentVariant));
      expect(latency_buckets.reduce((a, b) => a + b, 0)).toBe(sentVariant.length);
    }
    const userLevel = await rollups.abTestUserLevelSums('ab-checkout');
    for (const v of userLevel) {
      const sentVariant = inTest.filter((e) => e.variant_id === v.variant_id);
      expect(v.users).toBe(new Set(sentVariant.map((e) => e.user_id)).size);
      expect(v.n_sum).toBe(sentVariant.length);
      expect(v.success.sum).toBe(sentVariant.filter((e) => e.success).length);
    }
    const exposed = routes.filter((e) => e.ab_test_id === 'ab-checkout');
    const exposures = await rollups.abTestExposureCounts('ab-checkout');
    for (const variant of ['control', 'treatment']) {
      expect(exposures[variant]).toBe(new Set(exposed.filter((e) => e.variant_id === variant).map((e) => e.user_id)).size);
    }

    const text = await (await fetch(`${aggregator.url}/metrics`)).text();
    expect(text).toMatch(/model_router_aggregator_events_total\{[^}]*event="metric.recorded"[^}]*outcome="inserted"[^}]*\} 4000/);
    expect(text).toContain('model_router_aggregator_lag_seconds_bucket');
    expect(text).toContain('model_router_aggregator_batch_seconds_bucket');
    expect(text).toContain('model_router_aggregator_batch_size_bucket');
  });

  it('counts a job delivered twice, a republished event and a repeated event_id once', async () => {
    const before = { metrics: await queries.countMetricEvents(), routes: await queries.countRouteEvents(), totals: await queries.modelRollupTotals('hour') };
    const metrics = range(0, 300).map((i) => metricEvent('dup', i));
    const routes = range(0, 200).map((i) => routeEvent('dup', i));

    // The same payload as two jobs (what a redelivery looks like), then the same events republished.
    await metricQueue.add('metric.recorded', { events: metrics }, JOB_OPTIONS);
    await metricQueue.add('metric.recorded', { events: metrics }, JOB_OPTIONS);
    await routeQueue.add('route.decided', { events: routes }, JOB_OPTIONS);
    await routeQueue.add('route.decided', { events: routes }, JOB_OPTIONS);
    await publisher.publishMany('metric.recorded', metrics.slice(0, 100));
    await publisher.publishMany('route.decided', routes.slice(0, 100));
    // One batch holding the same event_id twice, and a client repeating an event_id (other fields differ).
    const repeated = metricEvent('dup', 5000);
    await metricQueue.add('metric.recorded', { events: [repeated, repeated] }, JOB_OPTIONS);
    await publisher.publish('metric.recorded', { ...repeated, latency_ms: 1, accepted_at: new Date().toISOString() });

    await drained();
    expect(await queries.countMetricEvents()).toBe(before.metrics + 301);
    expect(await queries.countRouteEvents()).toBe(before.routes + 200);
    const after = await queries.modelRollupTotals('hour');
    const added = expectedMetricTotals([...metrics, repeated]);
    expect(after.request_count - before.totals.request_count).toBe(added.request_count);
    expect(after.cost_nanos_sum - before.totals.cost_nanos_sum).toBe(added.cost_nanos_sum);
    expect(after.prompt_tokens_sum - before.totals.prompt_tokens_sum).toBe(added.prompt_tokens_sum);
    expectSameMetricTotals(await queries.modelRollupTotals('minute').then(({ histogram_count: _, ...t }) => t), await queries.metricEventTotals());

    const text = await (await fetch(`${aggregator.url}/metrics`)).text();
    const duplicates = /model_router_aggregator_events_total\{[^}]*event="metric.recorded"[^}]*outcome="duplicate"[^}]*\} (\d+)/.exec(text);
    expect(Number(duplicates?.[1])).toBe(300 + 100 + 1 + 1);
  });

  it('sets aside the events of a job that fail the schema, naming the field, and writes the others of the same job', async () => {
    const good = metricEvent('bad', 1);
    const mixed = await metricQueue.add('metric.recorded', { events: [good, { ...metricEvent('bad', 2), latency_ms: -5 }] }, JOB_OPTIONS);
    const unknownField = await routeQueue.add('route.decided', { events: [{ ...routeEvent('bad', 3), colour: 'red' }] }, JOB_OPTIONS);
    const nul = await metricQueue.add('metric.recorded', { events: [{ ...metricEvent('bad', 4), user_id: 'a\u0000b' }] }, JOB_OPTIONS);
    // A job whose envelope cannot be read at all still fails at once (there is no event to keep).
    const unreadable = await metricQueue.add('metric.recorded', { batch: [good] }, JOB_OPTIONS);
    const after = range(10, 60).map((i) => metricEvent('bad', i));
    await publisher.publishMany('metric.recorded', after);

    await waitUntil(async () => (await Promise.all([mixed, unknownField, nul].map((j) => j.isCompleted()))).every(Boolean), 10_000);
    await waitUntil(() => unreadable.isFailed(), 10_000);
    expect((await metricQueue.getJob(unreadable.id!))?.failedReason).toMatch(/invalid payload for "metric.recorded"/);
    await drained();

    const { rows } = await pool.query(`SELECT event_id FROM model_router.metric_events WHERE event_id LIKE 'bad-%' ORDER BY event_id`);
    // The valid event that shared a job with an invalid one is written too: one bad event costs no other.
    expect(rows.map((r) => r.event_id).sort()).toEqual([good, ...after].map((e) => e.event_id).sort());
    const letters = await pool.query(
      `SELECT consumer, queue, event_name, job_id, event_id, error FROM model_router.dead_letter_events WHERE event_id LIKE 'bad-%' ORDER BY event_id`,
    );
    expect(letters.rows).toEqual([
      expect.objectContaining({ consumer: 'metric-aggregator', queue: 'metric-events', event_name: 'metric.recorded', job_id: mixed.id, event_id: 'bad-m-2', error: expect.stringMatching(/latency_ms/) }),
      expect.objectContaining({ consumer: 'metric-aggregator', event_name: 'metric.recorded', job_id: nul.id, event_id: 'bad-m-4', error: expect.stringMatching(/user_id: must not contain NUL characters/) }),
      expect.objectContaining({ consumer: 'metric-aggregator', queue: 'route-events', event_name: 'route.decided', job_id: unknownField.id, event_id: 'bad-r-3', error: expect.stringMatching(/colour/) }),
    ]);
  });

  it('stores ids and user ids exactly as sent, whatever characters they hold', async () => {
    const odd = ['quote"d', 'back\\slash', 'comma,and{braces}', 'NULL', 'space and\ttab', 'ünïcødé-🚀', "it's", '\\"'];
    const events = odd.map((text, i) => ({ ...metricEvent('odd', i), event_id: `odd-${text}`, user_id: text, request_id: text, ab_test_id: text, variant_id: text }));
    await publisher.publishMany('metric.recorded', events);
    await drained();
    const { rows } = await pool.query(
      `SELECT event_id, user_id, request_id FROM model_router.metric_events WHERE event_id LIKE 'odd-%' ORDER BY event_id`,
    );
    expect(rows).toEqual(events.map((e) => ({ event_id: e.event_id, user_id: e.user_id, request_id: e.request_id })).sort((a, b) => (a.event_id < b.event_id ? -1 : 1)));
    const variants = await rollups.abTestVariantRollups('NULL');
    expect(variants).toEqual([expect.objectContaining({ variant_id: 'NULL', request_count: 1 })]);
  });

  it('registers its daily maintenance schedules in pg-boss', async () => {
    const { rows } = await pool.query(`SELECT name, cron, timezone FROM model_router_boss.schedule ORDER BY name`);
    const expected = Object.values(MAINTENANCE_JOBS).map((j) => ({ name: j.queue, cron: j.cron, timezone: 'UTC' }));
    expect(rows).toEqual(expect.arrayContaining(expected.map((e) => expect.objectContaining(e))));
  });
});

describe('EventIngestionRepository batches', () => {
  it('writes only the new events of a batch that mixes new and known ids', async () => {
    const [a, b, c] = [metricEvent('mix', 1), metricEvent('mix', 2), metricEvent('mix', 3)];
    const before = await queries.modelRollupTotals('minute');
    expect(await repository.persistMetricBatch([a, b])).toMatchObject({ received: 2, inserted: 2, duplicates: 0 });
    const mixed = await repository.persistMetricBatch([b, c, c, a]);
    expect(mixed).toMatchObject({ received: 4, inserted: 1, duplicates: 3 });
    expect(mixed.insertedEvents.map((e) => e.event_id)).toEqual([c.event_id]);
    expect(await repository.persistMetricBatch([c])).toMatchObject({ received: 1, inserted: 0, duplicates: 1, insertedEvents: [] });
    const after = await queries.modelRollupTotals('minute');
    expect(after.request_count - before.request_count).toBe(3);
    expect(after.cost_nanos_sum - before.cost_nanos_sum).toBe(a.cost_nanos + b.cost_nanos + c.cost_nanos);

    // A route id and a metric id may be equal: they are different events.
    const route = { ...routeEvent('mix', 1), event_id: a.event_id };
    expect(await repository.persistRouteBatch([route, route])).toMatchObject({ received: 2, inserted: 1, duplicates: 1 });
  });
});

describe('event storage maintenance', () => {
  const DAY = 86_400_000;
  const daysAgo = (n: number) => new Date(Date.now() - n * DAY);
  const ymd = (d: Date) => d.toISOString().slice(0, 10);

  it('drops raw partitions past retention, deletes old minute rollups and keeps hour rollups', async () => {
    // Daily partitions for 31–29 days ago, as a long-running deployment would have.
    expect(await maintenance.ensurePartitions(2, ymd(daysAgo(31)))).toBe(6);
    expect(await maintenance.ensurePartitions(2, ymd(daysAgo(31)))).toBe(0);
    const old = range(0, 50).map((i) => ({ ...metricEvent('old', i), occurred_at: daysAgo(30).toISOString(), ab_test_id: null, variant_id: null }));
    // 45 days ago has no partition: those rows wait in the DEFAULT partition.
    const older = range(0, 20).map((i) => ({ ...metricEvent('older', i), occurred_at: daysAgo(45).toISOString(), ab_test_id: null, variant_id: null }));
    const oldRoutes = range(0, 30).map((i) => ({ ...routeEvent('old', i), occurred_at: daysAgo(30).toISOString(), ab_test_id: null, variant_id: null }));
    expect((await repository.persistMetricBatch([...old, ...older])).inserted).toBe(70);
    expect((await repository.persistRouteBatch(oldRoutes)).inserted).toBe(30);

    const { rows: placed } = await pool.query(
      `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM model_router.metric_events
       WHERE event_id LIKE 'old%' GROUP BY 1 ORDER BY 1`,
    );
    const oldPartition = `model_router.metric_events_p${ymd(daysAgo(30)).replaceAll('-', '')}`;
    expect(placed).toEqual([
      { part: 'model_router.metric_events_default', n: 20 },
      { part: oldPartition, n: 50 },
    ]);
    const rawBefore = await queries.countMetricEvents();
    const hourBefore = await queries.modelRollupTotals('hour');

    const pruned = await maintenance.pruneRawEvents(14);
    expect(pruned.droppedPartitions.sort()).toEqual(
      range(29, 32)
        .map((n) => ymd(daysAgo(n)).replaceAll('-', ''))
        .flatMap((day) => [`metric_events_p${day}`, `route_events_p${day}`])
        .sort(),
    );
    expect(pruned.deletedDefaultRows).toBe(20);
    expect(await queries.countMetricEvents()).toBe(rawBefore - 70);
    const { rows: todays } = await pool.query(`SELECT to_regclass($1) AS t`, [`model_router.metric_events_p${ymd(new Date()).replaceAll('-', '')}`]);
    expect(todays[0].t).not.toBeNull();

    const { rows: oldMinutes } = await pool.query(
      `SELECT count(*)::int AS n FROM model_router.model_rollups WHERE granularity = 'minute' AND bucket_start < now() - interval '7 days'`,
    );
    expect(oldMinutes[0].n).toBeGreaterThan(0);
    const compacted = await maintenance.compactMinuteRollups(7);
    expect(compacted.deletedModelRollups).toBe(oldMinutes[0].n);
    expect(compacted.deletedRouteRollups).toBeGreaterThan(0);
    expect(compacted.deletedKeyRollups).toBeGreaterThan(0);
    const { rows: oldKeyMinutes } = await pool.query(
      `SELECT count(*)::int AS n FROM model_router.key_rollups WHERE granularity = 'minute' AND bucket_start < now() - interval '7 days'`,
    );
    expect(oldKeyMinutes[0].n).toBe(0);
    const { rows: left } = await pool.query(
      `SELECT count(*)::int AS n FROM model_router.model_rollups WHERE granularity = 'minute' AND bucket_start < now() - interval '7 days'`,
    );
    expect(left[0].n).toBe(0);
    // Hour rollups keep the whole history.
    expect(await queries.modelRollupTotals('hour')).toEqual(hourBefore);
  });
});
