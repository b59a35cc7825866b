import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { budgetKeys } from '@model-router/budgets';
import { createLogger } from '@model-router/logger';
import { ADMIN_KEY, createTestEnv, REDIS_URL, type TestEnv, waitFor } from '@model-router/tests/support';
import { Redis } from 'ioredis';
import { type RunningBudgetEnforcer, startBudgetEnforcer } from '../src/index.js';

const ADMIN = { Authorization: `Bearer ${ADMIN_KEY}` };
const quiet = (name: string) => createLogger(name, 'error');

// New York on 2026-03-08, the day DST begins: midnight EST was 05:00Z, the next midnight (EDT) is 04:00Z.
const BEFORE_MIDNIGHT = Date.parse('2026-03-09T03:59:30.000Z'); // 23:59:30 on March 8th, local
const MIDNIGHT = Date.parse('2026-03-09T04:00:00.000Z'); // 00:00:00 on March 9th, local

let now = BEFORE_MIDNIGHT;
const clock = () => now;

let env: TestEnv;
let api: RunningApi;
let enforcer: RunningBudgetEnforcer;
let redis: Redis;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const status = () => call('GET', '/api/v1/budgets/kim-ny/status').then((r) => r.body);
const spend = (cost: number, at: string, id: string) =>
  call('POST', '/api/v1/metrics', { event_id: id, model_id: 'gpt-4o-mini', success: true, latency_ms: 10, cost, user_id: 'kim', timestamp: at });
const routeKim = () => call('POST', '/api/v1/route', { prompt: 'hi', max_tokens: 10, user_id: 'kim' });

beforeAll(async () => {
  env = await createTestEnv();
  const config = env.config({ 'routing.snapshot_refresh_interval': '1h' });
  api = await startApi(config, quiet('api'), { clock });
  enforcer = await startBudgetEnforcer(config, { logger: quiet('budget-enforcer'), opsPort: 0, clock });
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await enforcer.stop();
  await api.stop();
  redis.disconnect();
  await env.cleanup();
});

describe("a daily budget at its time zone's midnight (injected clock)", () => {
  it('is exceeded late on March 8th and starts clean at New York midnight, across the DST change', async () => {
    const created = await call('POST', '/api/v1/budgets', { id: 'kim-ny', scope: 'user', scope_id: 'kim', period: 'daily', timezone: 'America/New_York', limit_usd: 0.01, action: 'block' }, ADMIN);
    expect(created.status).toBe(201);

    expect((await spend(0.02, '2026-03-09T03:59:00.000Z', 'late-evening')).status).toBe(202);
    const exceeded = await waitFor(status, (s) => s.spent_usd === 0.02);
    expect(exceeded).toMatchObject({
      period_key: '2026-03-08',
      // A 23-hour day: it began at midnight EST and ends at midnight EDT.
      period_start: '2026-03-08T05:00:00.000Z',
      period_end: '2026-03-09T04:00:00.000Z',
      state: 'exceeded',
      remaining_usd: 0,
    });
    const refused = await waitFor(routeKim, (r) => r.status === 429);
    expect(refused.body.error.message).toContain('"kim-ny"');
    // Retry-After points at the local midnight: 30 s away on the injected clock.
    expect(refused.headers.get('retry-after')).toBe('30');

    now = MIDNIGHT;
    // The new period starts clean at once: the very next request is routed, no notice needed.
    expect((await routeKim()).status).toBe(200);
    expect(await status()).toMatchObject({
      period_key: '2026-03-09',
      period_start: '2026-03-09T04:00:00.000Z',
      period_end: '2026-03-10T04:00:00.000Z',
      spent_usd: 0,
      state: 'ok',
      thresholds_crossed: [],
    });

    // A late event from March 8th still counts in March 8th, not in the new day.
    expect((await spend(0.003, '2026-03-09T03:59:59.999Z', 'very-late')).status).toBe(202);
    // New spend counts in the new day, with its own thresholds and its own Redis counter.
    expect((await spend(0.006, '2026-03-09T04:00:05.000Z', 'after-midnight')).status).toBe(202);
    const warning = await waitFor(status, (s) => s.spent_usd === 0.006);
    expect(warning).toMatchObject({ state: 'warning', thresholds_crossed: [0.5] });
    const keys = budgetKeys(env.redisPrefix);
    await waitFor(() => redis.get(keys.spend('kim-ny', '2026-03-08')), (v) => v === '23000000');
    expect(await redis.get(keys.spend('kim-ny', '2026-03-09'))).toBe('6000000');
    expect((await routeKim()).status).toBe(200);

    // The clock stands at midnight: a timestamp more than 5 minutes ahead of it would be refused.
    expect((await spend(0.005, '2026-03-09T04:04:00.000Z', 'morning')).status).toBe(202);
    await waitFor(routeKim, (r) => r.status === 429);
    expect(await status()).toMatchObject({ spent_usd: 0.011, state: 'exceeded', thresholds_crossed: [0.5, 0.8, 1] });

    // Reconciling at the new time re-announces only the current period's total.
    const totals = await enforcer.recorder.reconcile();
    expect(totals.map((t) => [t.budget_id, t.period_key, t.spent_nanos])).toEqual([['kim-ny', '2026-03-09', 11_000_000]]);
  });
});
