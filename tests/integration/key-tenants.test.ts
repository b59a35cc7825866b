/**
 * The key is the tenant (issue 12, item 3), with config client keys (`auth.client_api_keys`) and the
 * real API, metric aggregator, budget enforcer and mock provider:
 * - a client-chosen event_id deduplicates per key: two keys sending it are both counted (usage and
 *   budgets), one key repeating it is counted once;
 * - GET /api/v1/usage?group_by=key has one row per key id;
 * - budgets of scope `key` count that key's spend only and apply to that key's requests only, on
 *   /api/v1/route and the gateway (block → 429, downgrade → only what fits, alert_only → an alert),
 *   and gateway reservations hold a key's calls within its budget.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { type RunningBudgetEnforcer, startBudgetEnforcer } from '@model-router/budget-enforcer';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { startMockProvider } from '@model-router/mock-provider';
import pg from 'pg';
import { ADMIN_KEY, createTestEnv, type TestEnv, waitUntil } from '../support/index.js';
import { mockPricedModel } from '../support/mock-gateway.js';

const KEYS = {
  alpha: 'alpha-client-key-0123456789',
  beta: 'beta-client-key-0123456789',
  gamma: 'gamma-client-key-0123456789',
  // Used by the reservation test alone: no earlier cost of its can land in its budget late.
  delta: 'delta-client-key-0123456789',
};
type Tenant = keyof typeof KEYS | 'admin';
const secretOf = (tenant: Tenant): string => (tenant === 'admin' ? ADMIN_KEY : KEYS[tenant]);

const quiet = (name: string) => createLogger(name, 'error');
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let api: RunningApi;
let aggregator: Awaited<ReturnType<typeof startMetricAggregator>>;
let enforcer: RunningBudgetEnforcer;
let db: pg.Pool;

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  const config = env.config({
    'catalog.endpoint_base_url': `${mock.url}/v1`,
    'auth.client_api_keys': Object.entries(KEYS).map(([id, key]) => ({ id, key })),
  });
  api = await startApi(config, quiet('api'));
  aggregator = await startMetricAggregator(config, { logger: quiet('aggregator'), opsPort: 0 });
  enforcer = await startBudgetEnforcer(config, { logger: quiet('enforcer'), opsPort: 0 });
  db = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
}, 60_000);

afterAll(async () => {
  await enforcer?.stop();
  await aggregator?.stop();
  await api?.stop();
  await mock?.stop();
  await db?.end();
  await env?.cleanup();
});

async function call(tenant: Tenant, method: string, path: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${secretOf(tenant)}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const createBudget = async (budget: Record<string, unknown>) => {
  const res = await call('admin', 'POST', '/api/v1/budgets', budget);
  expect(res.status).toBe(201);
  return res.body;
};
const spentUsd = async (budgetId: string): Promise<number> => (await call('admin', 'GET', `/api/v1/budgets/${budgetId}/status`)).body.spent_usd;
const metric = (eventId: string, costUsd: number, model = 'gpt-4o') => ({ event_id: eventId, model_id: model, success: true, latency_ms: 200, prompt_tokens: 10, completion_tokens: 5, cost: costUsd });
const chat = (tenant: Tenant, model: string, extra: Record<string, unknown> = {}) =>
  call(tenant, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'spend a little' }], max_tokens: 16, ...extra });

/** Sum of one Prometheus counter's samples whose labels match `labels`. */
async function counter(url: string, name: string, labels: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)`, 'gm'))) if (labels.test(m[1]!)) n += Number(m[2]);
  return n;
}
/** Cost events the enforcer has handled (counted, duplicate or uncovered). */
const costEventsHandled = () => counter(enforcer.url, 'model_router_budget_cost_events_total', /outcome="(counted|duplicate|uncovered)"/);
const metricsHandled = () => counter(aggregator.url, 'model_router_aggregator_events_total', /event="metric\.recorded".*outcome="(inserted|duplicate)"|outcome="(inserted|duplicate)".*event="metric\.recorded"/);

async function usageByKey(): Promise<Map<string, { request_count: number; cost_usd: number; prompt_tokens: number }>> {
  const res = await call('admin', 'GET', '/api/v1/usage?group_by=key');
  expect(res.status).toBe(200);
  expect(res.body.group_by).toBe('key');
  return new Map((res.body.rows as Array<{ key: string; request_count: number; cost_usd: number; prompt_tokens: number }>).map((r) => [r.key, r]));
}

describe('the key is the tenant', () => {
  it('refuses a key budget without its key, and an unknown group_by, changing nothing', async () => {
    const missing = await call('admin', 'POST', '/api/v1/budgets', { id: 'no-key', scope: 'key', period: 'daily', limit_usd: 1, action: 'block' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('VALIDATION_ERROR');
    expect(JSON.stringify(missing.body.error.details)).toContain('scope_id');
    expect((await call('admin', 'GET', '/api/v1/budgets/no-key')).status).toBe(404);
    expect((await call('admin', 'GET', '/api/v1/usage?group_by=tenant')).status).toBe(400);
  });

  it('the same event_id from two keys counts twice in usage and budgets; one key repeating it counts once', async () => {
    await createBudget({ id: 'everyone', scope: 'global', period: 'daily', limit_usd: 100, action: 'alert_only' });
    await createBudget({ id: 'alpha-watch', scope: 'key', scope_id: 'alpha', period: 'daily', limit_usd: 100, action: 'alert_only' });
    await createBudget({ id: 'beta-watch', scope: 'key', scope_id: 'beta', period: 'daily', limit_usd: 100, action: 'alert_only' });
    const costsBefore = await costEventsHandled();
    const metricsBefore = await metricsHandled();

    const shared = metric('shared-evt', 0.01);
    expect((await call('alpha', 'POST', '/api/v1/metrics', shared)).status).toBe(202);
    expect((await call('alpha', 'POST', '/api/v1/metrics', shared)).status).toBe(202); // alpha's retry
    expect((await call('beta', 'POST', '/api/v1/metrics', { metrics: [shared] })).status).toBe(202);

    // All three handled by both workers (the duplicate included), so a wrongly kept one would show.
    await waitUntil(async () => (await costEventsHandled()) - costsBefore >= 3 && (await metricsHandled()) - metricsBefore >= 3, 15_000);
    await waitUntil(async () => (await spentUsd('everyone')) >= 0.02, 5_000);
    expect(await spentUsd('everyone')).toBeCloseTo(0.02, 9);
    expect(await spentUsd('alpha-watch')).toBeCloseTo(0.01, 9);
    expect(await spentUsd('beta-watch')).toBeCloseTo(0.01, 9);

    const usage = await usageByKey();
    expect(usage.get('alpha')).toMatchObject({ request_count: 1, prompt_tokens: 10 });
    expect(usage.get('beta')).toMatchObject({ request_count: 1, prompt_tokens: 10 });
    expect(usage.get('alpha')!.cost_usd).toBeCloseTo(0.01, 9);
    expect(usage.has('gamma')).toBe(false);
  });

  it("the A/B test metrics endpoint deduplicates per key the same way", async () => {
    const test = {
      id: 'tenant_ab',
      name: 'tenants',
      variants: [
        { id: 'a', model_id: 'gpt-4o', weight: 0.5 },
        { id: 'b', model_id: 'gpt-4o-mini', weight: 0.5 },
      ],
    };
    expect((await call('admin', 'POST', '/api/v1/abtests', test)).status).toBe(201);
    expect((await call('admin', 'POST', '/api/v1/abtests/tenant_ab/start')).status).toBe(200);
    await createBudget({ id: 'ab-alpha', scope: 'key', scope_id: 'alpha', period: 'daily', limit_usd: 100, action: 'alert_only' });
    await createBudget({ id: 'ab-beta', scope: 'key', scope_id: 'beta', period: 'daily', limit_usd: 100, action: 'alert_only' });
    const costsBefore = await costEventsHandled();
    const metricsBefore = await metricsHandled();
    const shared = { event_id: 'shared-ab-evt', variant_id: 'a', success: true, latency_ms: 100, prompt_tokens: 3, completion_tokens: 4, cost: 0.005 };
    expect((await call('alpha', 'POST', '/api/v1/abtests/tenant_ab/metrics', shared)).status).toBe(202);
    expect((await call('alpha', 'POST', '/api/v1/abtests/tenant_ab/metrics', shared)).status).toBe(202);
    expect((await call('beta', 'POST', '/api/v1/abtests/tenant_ab/metrics', shared)).status).toBe(202);
    // All three handled by both workers, the duplicate included.
    await waitUntil(async () => (await costEventsHandled()) - costsBefore >= 3 && (await metricsHandled()) - metricsBefore >= 3, 15_000);
    await waitUntil(async () => (await spentUsd('ab-alpha')) > 0 && (await spentUsd('ab-beta')) > 0, 5_000);
    expect(await spentUsd('ab-alpha')).toBeCloseTo(0.005, 9);
    expect(await spentUsd('ab-beta')).toBeCloseTo(0.005, 9);
    // Both keys' events, once each: the results count two requests of variant a.
    const results = (await call('admin', 'GET', '/api/v1/abtests/tenant_ab/results')).body;
    expect(results.results.a.request_count).toBe(2);
    const { rows } = await db.query('SELECT key_id FROM model_router.metric_events WHERE event_id = $1 ORDER BY key_id', ['shared-ab-evt']);
    expect(rows.map((r) => r.key_id)).toEqual(['alpha', 'beta']);
    expect((await call('admin', 'POST', '/api/v1/abtests/tenant_ab/complete')).status).toBe(200);
    for (const id of ['ab-alpha', 'ab-beta']) expect((await call('admin', 'DELETE', `/api/v1/budgets/${id}`)).status).toBe(204);
  });

  it('usage by key adds up to the usage by model', async () => {
    expect((await call('gamma', 'POST', '/api/v1/metrics', { metrics: [metric('g-1', 0.003), metric('g-2', 0.004, 'gpt-4o-mini')] })).status).toBe(202);
    await waitUntil(async () => (await usageByKey()).get('gamma')?.request_count === 2, 15_000);
    const byKey = [...(await usageByKey()).values()];
    const byModel = (await call('admin', 'GET', '/api/v1/usage?group_by=model')).body.rows as Array<{ request_count: number; cost_usd: number }>;
    const total = (rows: Array<{ request_count: number; cost_usd: number }>) => rows.reduce((s, r) => [s[0]! + r.request_count, s[1]! + r.cost_usd], [0, 0]);
    const [keyCount, keyCost] = total(byKey);
    const [modelCount, modelCost] = total(byModel);
    expect(keyCount).toBe(modelCount);
    expect(keyCost).toBeCloseTo(modelCost!, 9);
    expect((await usageByKey()).get('gamma')!.cost_usd).toBeCloseTo(0.007, 9);
  });

  it('an exceeded key block budget refuses that key on /route and the gateway, and no other key', async () => {
    await createBudget({ id: 'alpha-block', scope: 'key', scope_id: 'alpha', period: 'daily', limit_usd: 0.05, action: 'block' });
    expect((await call('alpha', 'POST', '/api/v1/metrics', metric('alpha-big', 0.06))).status).toBe(202);
    await waitUntil(async () => (await call('alpha', 'POST', '/api/v1/route', { prompt: 'hi', max_tokens: 10 })).status === 429, 15_000);

    const refused = await call('alpha', 'POST', '/api/v1/route', { prompt: 'hi', max_tokens: 10 });
    expect(refused.body.error.code).toBe('BUDGET_EXCEEDED');
    expect(refused.body.error.details.budgets[0]).toMatchObject({ budget_id: 'alpha-block', scope: 'key', scope_id: 'alpha', state: 'exceeded' });
    const gatewayRefused = await chat('alpha', 'router/cheapest');
    expect(gatewayRefused.status).toBe(429);
    expect(gatewayRefused.body.error.code).toBe('budget_exceeded');
    expect((await chat('alpha', 'gpt-4o-mini')).status).toBe(429);

    // Every other key routes and calls as before, with no budget in its explanation.
    for (const other of ['beta', 'gamma', 'admin'] as const) {
      const routed = await call(other, 'POST', '/api/v1/route?explain=true', { prompt: 'hi', max_tokens: 10 });
      expect(routed.status).toBe(200);
      expect((routed.body.excluded as Array<{ reason: string }>).filter((e) => e.reason === 'budget_exceeded')).toEqual([]);
      expect((await chat(other, 'gpt-4o-mini')).status).toBe(200);
    }
    expect((await call('admin', 'DELETE', '/api/v1/budgets/alpha-block')).status).toBe(204);
    expect((await call('alpha', 'POST', '/api/v1/route', { prompt: 'hi', max_tokens: 10 })).status).toBe(200);
  });

  it("a key downgrade budget keeps only the models that fit that key's remaining budget", async () => {
    await createBudget({ id: 'beta-down', scope: 'key', scope_id: 'beta', period: 'daily', limit_usd: 1, action: 'downgrade' });
    // beta has spent $0.01 (the shared event) and the gateway call above; this leaves under $0.0005.
    const spent = await spentUsd('beta-down');
    expect((await call('beta', 'POST', '/api/v1/metrics', metric('beta-big', Number((0.9995 - spent).toFixed(9))))).status).toBe(202);
    const body = { prompt: 'What is the capital of France?', max_tokens: 1000, strategy: 'fastest' };
    await waitUntil(async () => (await call('beta', 'POST', '/api/v1/route', body)).body?.model_id === 'mistral-small-latest', 15_000);

    const mine = await call('beta', 'POST', '/api/v1/route?explain=true', body);
    expect(mine.body.reason).toMatch(/downgraded by budget "beta-down"/);
    for (const c of mine.body.candidates as Array<{ estimated_cost: number }>) expect(c.estimated_cost).toBeLessThanOrEqual(0.0005);
    // Too large for what is left: 429 for beta alone.
    expect((await call('beta', 'POST', '/api/v1/route', { ...body, max_tokens: 100_000 })).status).toBe(429);

    // Another key's identical request sees no budget at all.
    const theirs = await call('gamma', 'POST', '/api/v1/route?explain=true', body);
    expect(theirs.status).toBe(200);
    expect(theirs.body.reason).not.toMatch(/downgraded/);
    expect((theirs.body.excluded as Array<{ reason: string }>).filter((e) => e.reason === 'budget_exceeded')).toEqual([]);
    expect((await call('gamma', 'POST', '/api/v1/route', { ...body, max_tokens: 100_000 })).status).toBe(200);
    expect((await call('admin', 'DELETE', '/api/v1/budgets/beta-down')).status).toBe(204);
  });

  it('an alert_only key budget raises its alert and refuses nothing', async () => {
    await createBudget({ id: 'gamma-alerts', scope: 'key', scope_id: 'gamma', period: 'daily', limit_usd: 0.01, action: 'alert_only', alert_thresholds: [1] });
    expect((await call('gamma', 'POST', '/api/v1/metrics', metric('gamma-big', 0.02))).status).toBe(202);
    const alerts = async () => (await db.query('SELECT threshold FROM model_router.budget_alerts WHERE budget_id = $1', ['gamma-alerts'])).rows;
    await waitUntil(async () => (await alerts()).length === 1, 15_000);
    expect((await call('admin', 'GET', '/api/v1/budgets/gamma-alerts/status')).body.state).toBe('exceeded');
    expect((await call('gamma', 'POST', '/api/v1/route', { prompt: 'hi', max_tokens: 10 })).status).toBe(200);
    expect((await chat('gamma', 'gpt-4o-mini')).status).toBe(200);
    expect((await call('admin', 'DELETE', '/api/v1/budgets/gamma-alerts')).status).toBe(204);
  });

  it("gateway reservations hold a key's concurrent calls within its budget, and another key's calls not at all", async () => {
    // Output tokens cost nothing, so a call's actual cost equals its reserved estimate exactly.
    const model = mockPricedModel('tenant-priced', 'tenanted', mock.url);
    expect((await call('admin', 'POST', '/api/v1/models', model)).status).toBe(201);
    const probe = await chat('admin', 'tenant-priced');
    expect(probe.status).toBe(200);
    const costUsd = Number(probe.headers.get('x-router-cost-usd'));
    expect(costUsd).toBeGreaterThan(0);
    await createBudget({ id: 'delta-gateway', scope: 'key', scope_id: 'delta', period: 'daily', limit_usd: Number((5 * costUsd).toFixed(9)), action: 'block' });

    // delta's 20 calls and beta's 10 at the same time: beta's are never held against delta's budget.
    const [delta, beta] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, () => chat('delta', 'tenant-priced'))),
      Promise.all(Array.from({ length: 10 }, () => chat('beta', 'tenant-priced'))),
    ]);
    const statuses = delta.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(15);
    expect(delta.find((r) => r.status === 429)!.body.error.code).toBe('budget_exceeded');
    expect(beta.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 200));
    await waitUntil(async () => (await spentUsd('delta-gateway')) >= 5 * costUsd - 1e-9, 15_000);
    expect(await spentUsd('delta-gateway')).toBeCloseTo(5 * costUsd, 9);
  });
});
