/**
 * A bad event never costs another: random jobs mixing valid events with events the aggregator can
 * never store are thrown at the real aggregator (BullMQ on Redis, Postgres), bypassing the edge
 * as a buggy or older producer would. Two kinds of bad events:
 *   - events that fail the catalog's schema (NUL, lone surrogates, year 0, offsets Postgres
 *     refuses, out-of-range numbers, unknown or missing fields, ids too long for an index);
 *   - events the schema accepts but Postgres refuses: their hourly rollup row's cost sum sits at
 *     the edge of bigint (as years of spend, or a bug, could leave it), so adding to it is a
 *     data error (SQLSTATE 22003). Only a batch split down to that event finds it.
 * Some jobs are delivered twice (a redelivery after a crash half-way through a split).
 * Every valid event must be persisted exactly once (raw row, ledger, rollups), every bad one must
 * be in the dead-letter table once, and the Prometheus counter must count each once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPool, type Pool } from '@model-router/database';
import { LATENCY_BUCKET_COUNT } from '@model-router/domain';
import { createLogger } from '@model-router/logger';
import { type MetricRecordedEvent, queuePrefix } from '@model-router/queue';
import type { RunningService } from '@model-router/service-runtime';
import {
  createTestEnv,
  cutIntoJobs,
  deadLetterCount,
  deadLettersOf,
  eventFingerprint,
  EventQueries,
  REDIS_URL,
  type TestEnv,
  waitForQueuesDrained,
} from '@model-router/tests/support';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { startMetricAggregator } from '../src/index.js';
import { expectedMetricTotals, expectSameMetricTotals } from './fixtures.js';

let env: TestEnv;
let aggregator: RunningService;
let pool: Pool;
let queries: EventQueries;
let redis: Redis;
let metricQueue: Queue;

const HOUR_MS = 3_600_000;
// The last full hour: every generated event happens in it, so the poisoned hourly row catches them.
const HOUR = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS;
const BIGINT_MAX = 9_223_372_036_854_775_807n;
// Any cost of 1,000 nano-dollars or more pushes the poisoned row past bigint.
const POISON_HEADROOM = 999n;

beforeAll(async () => {
  env = await createTestEnv();
  aggregator = await startMetricAggregator(env.config(), { logger: createLogger('dead-letter-test', 'error'), opsPort: 0 });
  pool = createPool(env.databaseUrl, 3);
  queries = new EventQueries(pool);
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  // Straight BullMQ: the events bypass the edge and the publisher's schema check.
  metricQueue = new Queue('metric-events', { connection: redis, prefix: queuePrefix(env.redisPrefix) });
}, 30_000);

afterAll(async () => {
  await metricQueue?.close();
  await aggregator?.stop();
  await pool?.end();
  redis?.disconnect();
  await env?.cleanup();
}, 30_000);

const drained = (): Promise<void> => waitForQueuesDrained([metricQueue]);

/** A rollup row at the edge of bigint for `model` in HOUR: adding any real cost overflows it. */
async function poisonRollup(model: string): Promise<void> {
  await pool.query(
    `INSERT INTO model_router.model_rollups (granularity, bucket_start, model_id, provider, request_count, success_count,
       latency_sum, latency_sum_sq, latency_min, latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum,
       completion_tokens_sum, latency_buckets)
     VALUES ('hour', $1, $2, 'poisoned', 1, 1, 1, 1, 1, 1, $3, 0, 0, 0, $4)`,
    [new Date(HOUR), model, (BIGINT_MAX - POISON_HEADROOM).toString(), `{${new Array(LATENCY_BUCKET_COUNT).fill(0).join(',')}}`],
  );
}

type Kind = 'valid' | 'schema' | 'postgres';
interface Generated {
  kind: Kind;
  event: Record<string, unknown>;
}

/** The schema failures a producer could send; each gets the event's index to stay unique. */
const SCHEMA_BREAKERS: ReadonlyArray<(e: Record<string, unknown>, i: number) => Record<string, unknown>> = [
  (e) => ({ ...e, user_id: `a\u0000b-${e.event_id}` }),
  (e) => ({ ...e, request_id: `\ud800-${e.event_id}` }),
  (e) => ({ ...e, event_id: `${'€'.repeat(190)}-${e.event_id}` }),
  (e) => ({ ...e, occurred_at: `0000-01-01T00:00:${String(Number(String(e.event_id).split('-').pop()) % 60).padStart(2, '0')}Z` }),
  (e) => ({ ...e, occurred_at: String(e.occurred_at).replace('Z', '+23:59') }),
  (e) => ({ ...e, latency_ms: -1 - Number(String(e.event_id).split('-').pop()) }),
  (e) => ({ ...e, latency_ms: 1e12 }),
  (e) => ({ ...e, cost_nanos: 2 ** 53 }),
  (e) => ({ ...e, cost_nanos: 1_000_000_000_001 }),
  (e) => ({ ...e, prompt_tokens: 1.5 }),
  (e) => ({ ...e, completion_tokens: 100_000_001 }),
  (e) => ({ ...e, colour: 'red' }),
  (e) => {
    const { success: _, ...rest } = e;
    return rest;
  },
  (e) => ({ ...e, success: 'yes' }),
  (e) => ({ ...e, key_id: 'has/slash' }),
];

function validEvent(run: string, i: number, model: string, minute: number, cost: number, seconds: number): MetricRecordedEvent {
  const at = new Date(HOUR + minute * 60_000 + seconds * 1000).toISOString();
  return {
    // Events 2k and 2k+1 share an id in two client namespaces: each namespace counts its own.
    event_id: `${run}-${Math.floor(i / 2)}`,
    key_id: i % 2 === 0 ? 'default' : 'tenant-a',
    occurred_at: at,
    accepted_at: at,
    model_id: model,
    provider: 'prop',
    success: i % 5 !== 0,
    latency_ms: 10 + (i % 977) + 0.5,
    prompt_tokens: i % 300,
    completion_tokens: (i * 7) % 200,
    cost_nanos: cost,
    user_id: i % 4 === 0 ? null : `u-${i % 9}`,
    request_id: null,
    ab_test_id: null,
    variant_id: null,
  };
}

const deadLetterCounter = (): Promise<number> => deadLetterCount(aggregator.url, 'metric-aggregator', 'metric.recorded');

describe('metric aggregator with bad events in its batches', () => {
  it('persists every valid event exactly once and dead-letters exactly the bad ones, whatever the mix', async () => {
    let runNo = 0;
    const seen = { valid: 0, schema: 0, postgres: 0, redelivered: 0 };
    const caseArb = fc.record({
      items: fc.array(
        fc.record({
          kind: fc.constantFrom<Kind>('valid', 'valid', 'valid', 'schema', 'postgres'),
          breaker: fc.nat(SCHEMA_BREAKERS.length - 1),
          minute: fc.nat(59),
          seconds: fc.nat(59),
          cost: fc.oneof(fc.constant(0), fc.integer({ min: 1000, max: 1_000_000_000_000 })),
        }),
        { minLength: 20, maxLength: 400, size: 'max' },
      ),
      jobSizes: fc.array(fc.integer({ min: 1, max: 250 }), { minLength: 1, maxLength: 8 }),
      redeliver: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    });

    await fc.assert(
      fc.asyncProperty(caseArb, async ({ items, jobSizes, redeliver }) => {
        const run = `p${runNo++}`;
        const model = `model-${run}`;
        const poisoned = `poisoned-${run}`;
        await poisonRollup(poisoned);
        const generated: Generated[] = items.map((item, i) => {
          if (item.kind === 'schema') {
            const base = validEvent(run, i, model, item.minute, item.cost, item.seconds) as unknown as Record<string, unknown>;
            return { kind: 'schema', event: SCHEMA_BREAKERS[item.breaker]!(base, i) };
          }
          if (item.kind === 'postgres') {
            // A zero cost adds nothing to the poisoned row: such an event is valid and must commit.
            // Keys in reverse order: the dead letter must hold the event as it was in the job.
            const event = Object.fromEntries(Object.entries({ ...validEvent(run, i, poisoned, item.minute, item.cost, item.seconds), provider: 'poisoned' }).reverse());
            return { kind: item.cost === 0 ? 'valid' : 'postgres', event: event as unknown as Record<string, unknown> };
          }
          return { kind: 'valid', event: validEvent(run, i, model, item.minute, item.cost, item.seconds) as unknown as Record<string, unknown> };
        });

        // Cut into jobs of the generated sizes; some jobs go twice.
        const jobs = cutIntoJobs(generated.map((g) => g.event as unknown), jobSizes);
        const counterBefore = await deadLetterCounter();
        for (const [k, events] of jobs.entries()) {
          await metricQueue.add('metric.recorded', { events }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
          if (redeliver[k % redeliver.length]) {
            await metricQueue.add('metric.recorded', { events }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
            seen.redelivered++;
          }
        }
        await drained();

        const valid = generated.filter((g) => g.kind === 'valid').map((g) => g.event as unknown as MetricRecordedEvent);
        const bad = generated.filter((g) => g.kind !== 'valid');
        seen.valid += valid.length;
        seen.schema += generated.filter((g) => g.kind === 'schema').length;
        seen.postgres += generated.filter((g) => g.kind === 'postgres').length;

        // Every valid event once: one raw row per (key_id, event_id), nothing else of this run.
        const { rows } = await pool.query(
          `SELECT key_id, event_id, count(*)::int AS n FROM model_router.metric_events WHERE model_id = ANY($1) GROUP BY key_id, event_id`,
          [[model, poisoned]],
        );
        const stored = new Map(rows.map((r) => [`${r.key_id}/${r.event_id}`, r.n as number]));
        expect(stored.size).toBe(valid.length);
        for (const e of valid) expect(stored.get(`${e.key_id}/${e.event_id}`)).toBe(1);

        // The rollups hold exactly the valid events (no event counted twice, none of the bad ones).
        const hourly = await pool.query(
          `SELECT request_count, success_count, latency_sum, latency_sum_sq, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum, completion_tokens_sum
           FROM model_router.model_rollups WHERE granularity = 'hour' AND model_id = $1`,
          [model],
        );
        const ofModel = valid.filter((e) => e.model_id === model);
        if (ofModel.length === 0) expect(hourly.rows).toEqual([]);
        else expectSameMetricTotals(hourly.rows[0], expectedMetricTotals(ofModel));

        // Every bad event once in the dead-letter table, with its consumer, queue and reason.
        const letters = await deadLettersOf(pool, bad.map((g) => g.event));
        expect(letters).toHaveLength(bad.length);
        const byFingerprint = new Map(letters.map((r) => [r.fingerprint, r]));
        for (const g of bad) {
          const letter = byFingerprint.get(eventFingerprint(g.event));
          expect(letter).toMatchObject({ consumer: 'metric-aggregator', queue: 'metric-events', event_name: 'metric.recorded' });
          expect(letter!.error).toMatch(g.kind === 'schema' ? /^schema: / : /^postgres 22003: /);
        }
        // Counted once each, redeliveries included.
        expect((await deadLetterCounter()) - counterBefore).toBe(bad.length);
        // No job is left failed: nothing accepted sits in the failed set.
        expect(await metricQueue.getJobCountByTypes('failed')).toBe(0);
      }),
      { numRuns: 12, seed: 20_261_202 },
    );
    // Every class really occurred.
    expect(seen.valid).toBeGreaterThan(100);
    expect(seen.schema).toBeGreaterThan(20);
    expect(seen.postgres).toBeGreaterThan(5);
    expect(seen.redelivered).toBeGreaterThan(0);
  }, 300_000);

  it('does not dead-letter anything when every event is valid (no false positives)', async () => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM model_router.dead_letter_events')).rows[0].n;
    const events = Array.from({ length: 300 }, (_, i) => validEvent('clean', i, 'model-clean', i % 60, 1000 + i, i % 60));
    await metricQueue.add('metric.recorded', { events });
    await drained();
    expect(await queries.countMetricEvents()).toBeGreaterThan(0);
    expect((await pool.query(`SELECT count(*)::int AS n FROM model_router.metric_events WHERE model_id = 'model-clean'`)).rows[0].n).toBe(300);
    expect((await pool.query('SELECT count(*)::int AS n FROM model_router.dead_letter_events')).rows[0].n).toBe(before);
  });
});
