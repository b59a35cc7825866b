/**
 * Budgets reserve before the call: 200 concurrent gateway calls against a `block` budget that fits
 * exactly 50 of them, across two API replicas. The reservation (prompt tokens + max_tokens at the
 * model's prices) is atomic in Redis, so exactly 50 reach the provider, 150 are refused with 429
 * at once, and the committed spend (budget enforcer → Postgres) never exceeds the limit.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { type RunningBudgetEnforcer, startBudgetEnforcer } from '@model-router/budget-enforcer';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import { BudgetReservations } from '../../packages/budgets/src/index.js';
import { ADMIN_KEY, createTestEnv, type TestEnv, waitForDefined, waitUntil } from '../support/index.js';
import { mockPricedModel } from '../support/mock-gateway.js';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';

// The mock's control API needs its key: startMockProvider's default, the development key.
const CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };

const quiet = (name: string) => createLogger(name, 'error');
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let apis: RunningApi[];
let enforcer: RunningBudgetEnforcer;

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  const config = env.config({ 'catalog.endpoint_base_url': `${mock.url}/v1` });
  apis = [await startApi(config, quiet('api-a')), await startApi(config, quiet('api-b'))];
  enforcer = await startBudgetEnforcer(config, { logger: quiet('enforcer'), opsPort: 0 });
}, 60_000);

afterAll(async () => {
  await enforcer?.stop();
  for (const api of apis ?? []) await api.stop();
  await mock?.stop();
  await env?.cleanup();
});

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${apis[0]!.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

// Output tokens cost nothing, so a call's actual cost (the provider's prompt tokens, which the mock
// counts with the router's tokenizer) equals the reserved estimate exactly: the count of calls
// that fit does not depend on timing.
const priced = (id: string) => mockPricedModel(id, 'budgeted', mock.url);

const call = (api: RunningApi, model: string) =>
  fetch(`${api.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'spend a little' }], max_tokens: 16 }),
  });

describe('budget reservations through the gateway', () => {
  it('200 concurrent calls against a budget that fits 50: 50 answered, 150 refused, spend within the limit', async () => {
    for (const id of ['budget-probe', 'budget-target']) expect((await admin('POST', '/api/v1/models', priced(id))).status).toBe(201);
    // The cost of one call, measured on a twin model the budget does not cover.
    const probe = await call(apis[0]!, 'budget-probe');
    expect(probe.status).toBe(200);
    const costUsd = Number(probe.headers.get('x-router-cost-usd'));
    expect(costUsd).toBeGreaterThan(0);
    const limitUsd = Number((50 * costUsd).toFixed(9));
    const created = await admin('POST', '/api/v1/budgets', { scope: 'model', scope_id: 'budget-target', period: 'daily', limit_usd: limitUsd, action: 'block' });
    expect(created.status).toBe(201);
    const budget = (await created.json()) as { id: string };
    // Both replicas know the budget (the second by the change notice).
    for (const api of apis) {
      await waitForDefined(async () => ((await (await fetch(`${api.url}/api/v1/budgets/${budget.id}`)).status) === 200 ? true : undefined), 5_000);
    }

    const before = ((await (await fetch(`${mock.url}/_control/stats`, { headers: CONTROL })).json()) as { by_model: Record<string, { ok?: number }> }).by_model['budget-target']?.ok ?? 0;
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => call(apis[i % 2]!, 'budget-target')));
    const statuses = responses.map((r) => r.status);
    const refused = await Promise.all(responses.filter((r) => r.status === 429).map((r) => r.json() as Promise<{ error: { code: string; type: string } }>));
    await Promise.all(responses.filter((r) => r.status !== 429).map((r) => r.arrayBuffer()));
    expect(statuses.filter((s) => s === 200).length).toBe(50);
    expect(statuses.filter((s) => s === 429).length).toBe(150);
    for (const r of refused) expect(r.error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' });
    const after = ((await (await fetch(`${mock.url}/_control/stats`, { headers: CONTROL })).json()) as { by_model: Record<string, { ok?: number }> }).by_model['budget-target']?.ok ?? 0;
    expect(after - before).toBe(50);

    // The enforcer commits what was spent: exactly the limit, never more.
    const status = await waitForDefined(
      async () => {
        const s = (await (await fetch(`${apis[0]!.url}/api/v1/budgets/${budget.id}/status`)).json()) as { spent_usd: number; limit_usd: number; state: string };
        return s.spent_usd >= limitUsd - 1e-9 ? s : undefined;
      },
      { timeoutMs: 15_000, what: 'the spend committed' },
    );
    expect(status.spent_usd).toBeLessThanOrEqual(limitUsd);
    expect(status.spent_usd).toBeCloseTo(limitUsd, 9);
    expect(status.state).toBe('exceeded');
    // Once counted, the next call is refused by routing itself on either replica.
    for (const api of apis) expect((await call(api, 'budget-target')).status).toBe(429);
    // And the enforcer has released the 50 reservations it counted (their cost events say they hold
    // one): nothing stays held until the reservation TTL.
    const reservations = new BudgetReservations(apis[0]!.redis, env.redisPrefix);
    const periodKey = ((await (await fetch(`${apis[0]!.url}/api/v1/budgets/${budget.id}/status`)).json()) as { period_key: string }).period_key;
    await waitUntil(async () => (await reservations.held(budget.id, periodKey)) === 0, { timeoutMs: 15_000, what: 'every reservation released' });
  });
});
