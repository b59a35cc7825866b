import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { BudgetReservations, SpendCounters } from '../src/index.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `mrtest:${randomBytes(4).toString('hex')}`;
let redis: Redis;
let clients: Redis[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  // Separate connections stand for separate API replicas.
  clients = Array.from({ length: 4 }, () => new Redis(REDIS_URL));
});
afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
  for (const c of clients) c.disconnect();
});

const MIN = 60_000;
const budget = (id: string, limit: number, known = 0) => ({ budget_id: id, period_key: '2026-12-02', limit_nanos: limit, known_spent_nanos: known });

describe('BudgetReservations', () => {
  it('holds against every budget or none, and names the budget it would overrun', async () => {
    const r = new BudgetReservations(redis, prefix);
    expect(await r.reserve('a', [budget('g1', 100), budget('u1', 1000)], 60, MIN)).toEqual({ ok: true });
    const refused = await r.reserve('b', [budget('u1', 1000), budget('g1', 100)], 50, MIN);
    expect(refused).toEqual({ ok: false, budget_id: 'g1', spent_nanos: 0, reserved_nanos: 60 });
    // The refusal held nothing on u1.
    expect(await r.held('u1', '2026-12-02')).toBe(60);
    expect(await r.held('g1', '2026-12-02')).toBe(60);
  });

  it('counts committed spend (Redis counter, or the replica\'s known floor) with what is held', async () => {
    const r = new BudgetReservations(redis, prefix);
    await new SpendCounters(redis, prefix).raise([{ budget_id: 'c1', period_key: '2026-12-02', spent_nanos: 70, ttl_ms: MIN }]);
    expect((await r.reserve('c-a', [budget('c1', 100)], 31, MIN)).ok).toBe(false);
    expect((await r.reserve('c-b', [budget('c1', 100)], 30, MIN)).ok).toBe(true);
    // A counter that is missing or behind: the known spend is the floor.
    expect((await r.reserve('c-c', [budget('c2', 100, 90)], 11, MIN)).ok).toBe(false);
    expect((await r.reserve('c-d', [budget('c2', 100, 90)], 10, MIN)).ok).toBe(true);
  });

  it('settles to the actual cost, releases on commit, and forgets a crashed replica\'s reservation', async () => {
    const r = new BudgetReservations(redis, prefix);
    await r.reserve('s1', [budget('s', 100)], 80, MIN);
    await r.settle('s1', 25, MIN);
    expect(await r.held('s', '2026-12-02')).toBe(25);
    expect((await r.reserve('s2', [budget('s', 100)], 75, MIN)).ok).toBe(true);
    expect(await r.release(['s1', 's2', 'never-reserved'])).toBe(2);
    expect(await r.held('s', '2026-12-02')).toBe(0);
    // Settling at zero releases.
    await r.reserve('s3', [budget('s', 100)], 40, MIN);
    await r.settle('s3', 0, MIN);
    expect(await r.held('s', '2026-12-02')).toBe(0);
    // An expired reservation stops counting: a TTL of 1 ms, then a reservation that needs the room.
    await r.reserve('crashed', [budget('s', 100)], 100, 1);
    await new Promise((done) => setTimeout(done, 20));
    expect((await r.reserve('after', [budget('s', 100)], 100, MIN)).ok).toBe(true);
  });

  it('never overshoots under concurrency from several replicas (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 3_000 }), { minLength: 1, maxLength: 60 }),
        async (limit, amounts) => {
          const id = randomBytes(6).toString('hex');
          const replicas = clients.map((c) => new BudgetReservations(c, prefix));
          const results = await Promise.all(
            amounts.map((amount, i) => replicas[i % replicas.length]!.reserve(`${id}-${i}`, [budget(id, limit)], amount, MIN)),
          );
          const held = amounts.reduce((sum, amount, i) => (results[i]!.ok ? sum + amount : sum), 0);
          expect(held).toBeLessThanOrEqual(limit);
          expect(await replicas[0]!.held(id, '2026-12-02')).toBe(held);
          // Every refusal was needed: at the moment it ran, its amount did not fit. The smallest
          // refused amount cannot fit into what is left at the end either.
          const refused = amounts.filter((_, i) => !results[i]!.ok);
          if (refused.length) expect(held + Math.min(...refused)).toBeGreaterThan(limit);
        },
      ),
      { numRuns: 40 },
    );
  });
});
