/**
 * The budget enforcer with bad events in its batches (the same class as the aggregator's
 * dead-letters test): random jobs of cost events, published straight to BullMQ (bypassing the
 * edge), mix valid costs with costs that fail the catalog's schema and costs Postgres refuses on
 * their own — their budget's spend row sits at the edge of bigint, so adding to it overflows
 * (SQLSTATE 22003). Some jobs are delivered twice. Every valid cost must count exactly once
 * (the ledger, the spend total), every bad one must be dead-lettered and counted once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BudgetRepository, createPool, type Pool } from '@model-router/database';
import { createLogger } from '@model-router/logger';
import { type CostRecordedEvent, queuePrefix } from '@model-router/queue';
import {
  createTestEnv,
  cutIntoJobs,
  deadLetterCount,
  deadLettersOf,
  eventFingerprint,
  REDIS_URL,
  type TestEnv,
  waitForQueuesDrained,
} from '@model-router/tests/support';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { type RunningBudgetEnforcer, startBudgetEnforcer } from '../src/index.js';

let env: TestEnv;
let enforcer: RunningBudgetEnforcer;
let pool: Pool;
let redis: Redis;
let costQueue: Queue;

const HOUR_MS = 3_600_000;
// The last full hour: inside one UTC day, so every event is in the same daily period.
const HOUR = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS;
const DAY = new Date(HOUR).toISOString().slice(0, 10);
const BIGINT_MAX = 9_223_372_036_854_775_807n;

beforeAll(async () => {
  env = await createTestEnv();
  pool = createPool(env.databaseUrl, 3);
  enforcer = await startBudgetEnforcer(env.config(), { logger: createLogger('budget-dead-letter-test', 'error'), opsPort: 0 });
  const budgets = new BudgetRepository(pool);
  const budget = { name: null, period: 'daily', timezone: 'UTC', action: 'alert_only', alert_thresholds: [1] } as const;
  await budgets.insert({ ...budget, id: 'prop', scope: 'provider', scope_id: 'prop', limit_nanos: 4e18 });
  await budgets.insert({ ...budget, id: 'full', scope: 'provider', scope_id: 'full', limit_nanos: 1e9 });
  // A spend total at the edge of bigint: any cost of 1,000 nano-dollars or more overflows it.
  const start = Date.parse(`${DAY}T00:00:00Z`);
  await pool.query(
    `INSERT INTO model_router.budget_spend (budget_id, period_key, period_start, period_end, spent_nanos, event_count)
     VALUES ('full', $1, $2, $3, $4, 1)`,
    [DAY, new Date(start), new Date(start + 86_400_000), (BIGINT_MAX - 999n).toString()],
  );
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  costQueue = new Queue('cost-events', { connection: redis, prefix: queuePrefix(env.redisPrefix) });
}, 30_000);

afterAll(async () => {
  await costQueue?.close();
  await enforcer?.stop();
  await pool?.end();
  redis?.disconnect();
  await env?.cleanup();
}, 30_000);

const drained = (): Promise<void> => waitForQueuesDrained([costQueue]);

const SCHEMA_BREAKERS: ReadonlyArray<(e: Record<string, unknown>) => Record<string, unknown>> = [
  (e) => ({ ...e, user_id: `nul\u0000${e.event_id}` }),
  (e) => ({ ...e, user_id: `\udfff${e.event_id}` }),
  (e) => ({ ...e, occurred_at: String(e.occurred_at).replace('Z', '+20:00') }),
  (e) => ({ ...e, occurred_at: `0000-${String(e.occurred_at).slice(5)}` }),
  (e) => ({ ...e, cost_nanos: -Number(e.cost_nanos) - 1 }),
  (e) => ({ ...e, cost_nanos: 2 ** 60 }),
  (e) => ({ ...e, cost_nanos: 0.5 }),
  (e) => ({ ...e, budget: 'extra field' }),
  (e) => {
    const { model_id: _, ...rest } = e;
    return rest;
  },
];

const counter = (): Promise<number> => deadLetterCount(enforcer.url, 'budget-enforcer', 'cost.recorded');

const spentOf = async (budget: string): Promise<bigint> =>
  BigInt((await pool.query(`SELECT spent_nanos::text AS s FROM model_router.budget_spend WHERE budget_id = $1 AND period_key = $2`, [budget, DAY])).rows[0]?.s ?? '0');

type Kind = 'valid' | 'schema' | 'postgres';

describe('budget enforcer with bad events in its batches', () => {
  it('counts every valid cost exactly once and dead-letters exactly the bad ones, whatever the mix', async () => {
    let runNo = 0;
    let expectedProp = 0n;
    const seen = { valid: 0, schema: 0, postgres: 0 };
    const caseArb = fc.record({
      items: fc.array(
        fc.record({
          kind: fc.constantFrom<Kind>('valid', 'valid', 'valid', 'schema', 'postgres'),
          breaker: fc.nat(SCHEMA_BREAKERS.length - 1),
          second: fc.nat(3599),
          cost: fc.oneof(fc.constant(0), fc.integer({ min: 1000, max: 1_000_000_000_000 })),
        }),
        { minLength: 20, maxLength: 300, size: 'max' },
      ),
      jobSizes: fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 6 }),
      redeliver: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    });

    await fc.assert(
      fc.asyncProperty(caseArb, async ({ items, jobSizes, redeliver }) => {
        const run = `b${runNo++}`;
        const generated = items.map((item, i) => {
          const event: CostRecordedEvent = {
            // Events 2k and 2k+1 share an id in two client namespaces: both count.
            event_id: `${run}-${Math.floor(i / 2)}`,
            key_id: i % 2 === 0 ? 'default' : 'tenant-b',
            occurred_at: new Date(HOUR + item.second * 1000).toISOString(),
            model_id: 'm',
            provider: item.kind === 'postgres' ? 'full' : 'prop',
            user_id: null,
            cost_nanos: item.cost,
          };
          if (item.kind === 'schema') return { kind: 'schema' as Kind, event: SCHEMA_BREAKERS[item.breaker]!(event as unknown as Record<string, unknown>) };
          // Nothing added to the full row: a zero cost is valid there.
          if (item.kind === 'postgres' && item.cost === 0) return { kind: 'valid' as Kind, event };
          // Keys in reverse order: the dead letter must hold the event as it was in the job.
          return { kind: item.kind, event: item.kind === 'postgres' ? Object.fromEntries(Object.entries(event).reverse()) : event };
        });
        const jobs = cutIntoJobs(generated.map((g) => g.event as unknown), jobSizes);
        const counterBefore = await counter();
        for (const [k, events] of jobs.entries()) {
          await costQueue.add('cost.recorded', { events }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
          if (redeliver[k % redeliver.length]) await costQueue.add('cost.recorded', { events }, { attempts: 5, backoff: { type: 'fixed', delay: 50 } });
        }
        await drained();

        const valid = generated.filter((g) => g.kind === 'valid').map((g) => g.event as CostRecordedEvent);
        const bad = generated.filter((g) => g.kind !== 'valid');
        for (const g of generated) seen[g.kind]++;
        for (const e of valid) if (e.provider === 'prop') expectedProp += BigInt(e.cost_nanos);

        // Each valid cost is in the ledger once and in the spend total once.
        const { rows } = await pool.query(
          `SELECT key_id, event_id FROM model_router.budget_processed_events WHERE event_id LIKE $1`,
          [`${run}-%`],
        );
        expect(new Set(rows.map((r) => `${r.key_id}/${r.event_id}`))).toEqual(new Set(valid.map((e) => `${e.key_id}/${e.event_id}`)));
        expect(await spentOf('prop')).toBe(expectedProp);
        expect(await spentOf('full')).toBe(BIGINT_MAX - 999n);

        const letters = await deadLettersOf(pool, bad.map((g) => g.event));
        expect(letters).toHaveLength(bad.length);
        const byFingerprint = new Map(letters.map((r) => [r.fingerprint, r]));
        for (const g of bad) {
          const letter = byFingerprint.get(eventFingerprint(g.event));
          expect(letter).toMatchObject({ consumer: 'budget-enforcer', queue: 'cost-events', event_name: 'cost.recorded' });
          expect(letter!.error).toMatch(g.kind === 'schema' ? /^schema: / : /^postgres 22003: /);
        }
        expect((await counter()) - counterBefore).toBe(bad.length);
        expect(await costQueue.getJobCountByTypes('failed')).toBe(0);
      }),
      { numRuns: 6, seed: 20_261_203 },
    );
    expect(seen.valid).toBeGreaterThan(100);
    expect(seen.schema).toBeGreaterThan(20);
    expect(seen.postgres).toBeGreaterThan(5);
  }, 300_000);
});
