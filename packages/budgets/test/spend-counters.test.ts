import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { budgetKeys, SpendCounters } from '../src/index.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `mrtest:${randomBytes(4).toString('hex')}`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
});

const DAY = 86_400_000;

describe('SpendCounters', () => {
  it('raises each counter to the committed total, never lowers it, and is idempotent', async () => {
    const counters = new SpendCounters(redis, prefix);
    expect(await counters.raise([{ budget_id: 'b', period_key: '2026-03-08', spent_nanos: 500, ttl_ms: DAY }])).toBe(1);
    // A redelivered batch, or a slower replica's older total: nothing moves.
    expect(await counters.raise([{ budget_id: 'b', period_key: '2026-03-08', spent_nanos: 500, ttl_ms: DAY }])).toBe(0);
    expect(await counters.raise([{ budget_id: 'b', period_key: '2026-03-08', spent_nanos: 300, ttl_ms: DAY }])).toBe(0);
    expect(await counters.read('b', '2026-03-08')).toBe(500);
    expect(await counters.raise([{ budget_id: 'b', period_key: '2026-03-08', spent_nanos: 800, ttl_ms: DAY }])).toBe(1);
    expect(await counters.read('b', '2026-03-08')).toBe(800);
    expect(await counters.read('b', '2026-03-09')).toBeNull();
  });

  it('keeps totals near 2^53 exact and sets the time to live', async () => {
    const counters = new SpendCounters(redis, prefix);
    const big = 2 ** 53 - 1;
    await counters.raise([
      { budget_id: 'big', period_key: '2026-03', spent_nanos: big - 10, ttl_ms: DAY },
      { budget_id: 'big', period_key: '2026-04', spent_nanos: 1, ttl_ms: 2 * DAY },
    ]);
    await counters.raise([{ budget_id: 'big', period_key: '2026-03', spent_nanos: big, ttl_ms: DAY }]);
    expect(await redis.get(budgetKeys(prefix).spend('big', '2026-03'))).toBe(String(big));
    const ttl = await redis.pttl(budgetKeys(prefix).spend('big', '2026-04'));
    expect(ttl).toBeGreaterThan(DAY);
    expect(ttl).toBeLessThanOrEqual(2 * DAY);
  });
});
