import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { budgetKeys } from '@model-router/budgets';
import { startCacheInvalidator } from '@model-router/cache-invalidator';
import { createLogger } from '@model-router/logger';
import { ADMIN_KEY, createTestEnv, REDIS_URL, type TestEnv, waitFor } from '@model-router/tests/support';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type RunningBudgetEnforcer, startBudgetEnforcer } from '../src/index.js';

const ADMIN = { Authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const quiet = (name: string) => createLogger(name, 'error');

let env: TestEnv;
let a: RunningApi;
let b: RunningApi;
let enforcer: RunningBudgetEnforcer;
let invalidator: Awaited<ReturnType<typeof startCacheInvalidator>>;
let redis: Redis;
let db: pg.Pool;
let webhook: Server;
/** Every delivery attempt the webhook saw: the alert and the status it answered. */
const deliveries: Array<{ event_id: string; budget_id: string; threshold: number; status: number }> = [];

async function call(api: RunningApi, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const status = (budgetId: string) => call(a, 'GET', `/api/v1/budgets/${budgetId}/status`).then((r) => r.body);

async function flushBudgetKeys(): Promise<number> {
  // The deployment's own keys and the budget counters (hash-tagged per budget for Redis Cluster,
  // so they start with `{prefix:budget:`), not BullMQ's `{prefix}` queues: those hold accepted
  // events, which nothing could rebuild.
  let deleted = 0;
  for (const pattern of [`${env.redisPrefix}:*`, budgetKeys(env.redisPrefix).spendPattern]) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (found.length) deleted += await redis.del(...found);
    } while (cursor !== '0');
  }
  return deleted;
}

const counter = async (budgetId: string, periodKey: string) => redis.get(budgetKeys(env.redisPrefix).spend(budgetId, periodKey));
const pgSpend = async (budgetId: string) =>
  (await db.query('SELECT coalesce(sum(spent_nanos), 0)::bigint AS n FROM model_router.budget_spend WHERE budget_id = $1', [budgetId])).rows[0].n as number;

// 200 metrics on gpt-4o, each $0.0075 plus i nano-dollars: 1,500,000,000 + (0 + 1 + … + 199) nano-dollars.
const METRICS = Array.from({ length: 200 }, (_, i) => ({
  event_id: `cost-${i}`,
  model_id: 'gpt-4o',
  success: true,
  latency_ms: 300,
  cost: (7_500_000 + i) / 1e9,
  user_id: i % 2 === 0 ? 'frank' : 'grace',
}));
const TOTAL_NANOS = 200 * 7_500_000 + (199 * 200) / 2; // 1,500,019,900
const FRANK_NANOS = 100 * 7_500_000 + 2 * ((99 * 100) / 2); // even i: 750,009,900
const GRACE_NANOS = TOTAL_NANOS - FRANK_NANOS; // 750,010,000

let periodKey: string;

beforeAll(async () => {
  env = await createTestEnv();
  let attempts = new Map<string, number>();
  webhook = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const alert = JSON.parse(raw);
      // The first delivery of each alert fails: the retry must bring it, once.
      const n = (attempts.get(alert.event_id) ?? 0) + 1;
      attempts.set(alert.event_id, n);
      const code = n === 1 ? 500 : 204;
      deliveries.push({ event_id: alert.event_id, budget_id: alert.budget_id, threshold: alert.threshold, status: code });
      res.writeHead(code).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`;
  // A long snapshot refresh: only the enforcer's notices can explain a replica applying a budget.
  const config = env.config({ 'routing.snapshot_refresh_interval': '1h', 'budgets.webhook_url': webhookUrl });
  a = await startApi(config, quiet('api-a'));
  b = await startApi(config, quiet('api-b'));
  enforcer = await startBudgetEnforcer(config, { logger: quiet('budget-enforcer'), opsPort: 0 });
  // The one relay of config changes (a budget created on one replica) to the others.
  invalidator = await startCacheInvalidator(config, { logger: quiet('cache-invalidator'), opsPort: 0 });
  redis = new Redis(REDIS_URL);
  db = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
  periodKey = new Date().toISOString().slice(0, 10);
  attempts = new Map();
});

afterAll(async () => {
  await invalidator.stop();
  await enforcer.stop();
  await a.stop();
  await b.stop();
  redis.disconnect();
  await db.end();
  await new Promise((resolve) => webhook.close(resolve));
  await env.cleanup();
});

describe('budget enforcement across replicas', () => {
  it('200 concurrent metric posts cross the budgets: exact spend, each threshold alerted once, state exceeded', async () => {
    const budgets = [
      { id: 'gpt4o-daily', scope: 'model', scope_id: 'gpt-4o', period: 'daily', limit_usd: 1, action: 'block' },
      // Frank will have $0.0004 left: only Mistral Small's estimate fits a short prompt with max_tokens 1000.
      { id: 'frank-down', scope: 'user', scope_id: 'frank', period: 'daily', limit_usd: (FRANK_NANOS + 400_000) / 1e9, action: 'downgrade' },
      { id: 'grace-cap', scope: 'user', scope_id: 'grace', period: 'daily', limit_usd: 0.5, action: 'block', alert_thresholds: [1] },
      { id: 'everything', scope: 'global', period: 'monthly', limit_usd: 1000, action: 'alert_only' },
    ];
    for (const budget of budgets) expect((await call(a, 'POST', '/api/v1/budgets', budget, ADMIN)).status).toBe(201);

    // Every metric is posted on its own, half to each replica, all at once; 20 are posted twice (a client's retries).
    const posts = [...METRICS, ...METRICS.slice(0, 20)].map((m, i) => call(i % 2 === 0 ? a : b, 'POST', '/api/v1/metrics', m));
    const answers = await Promise.all(posts);
    expect(answers.every((r) => r.status === 202)).toBe(true);

    const gpt = await waitFor(() => status('gpt4o-daily'), (s) => s.spent_usd >= TOTAL_NANOS / 1e9);
    expect(gpt).toMatchObject({ spent_usd: TOTAL_NANOS / 1e9, remaining_usd: 0, state: 'exceeded', thresholds_crossed: [0.5, 0.8, 1], period_key: periodKey });
    expect(await pgSpend('gpt4o-daily')).toBe(TOTAL_NANOS);

    const frank = await waitFor(() => status('frank-down'), (s) => s.spent_usd >= FRANK_NANOS / 1e9);
    expect(frank).toMatchObject({ spent_usd: FRANK_NANOS / 1e9, remaining_usd: 0.0004, state: 'warning', thresholds_crossed: [0.5, 0.8] });
    const grace = await waitFor(() => status('grace-cap'), (s) => s.spent_usd >= GRACE_NANOS / 1e9);
    expect(grace).toMatchObject({ spent_usd: GRACE_NANOS / 1e9, state: 'exceeded', thresholds_crossed: [1] });
    const all = await waitFor(() => status('everything'), (s) => s.spent_usd >= TOTAL_NANOS / 1e9);
    expect(all).toMatchObject({ spent_usd: TOTAL_NANOS / 1e9, state: 'ok', thresholds_crossed: [] });

    // Redis holds the same exact totals.
    expect(await counter('gpt4o-daily', periodKey)).toBe(String(TOTAL_NANOS));
    expect(await counter('frank-down', periodKey)).toBe(String(FRANK_NANOS));

    // Each threshold once: 3 + 2 + 1 alerts in the table, the log's counter and the webhook.
    const { rows } = await db.query('SELECT budget_id, threshold FROM model_router.budget_alerts ORDER BY budget_id, threshold');
    expect(rows.map((r) => `${r.budget_id}@${r.threshold}`)).toEqual([
      'frank-down@0.5',
      'frank-down@0.8',
      'gpt4o-daily@0.5',
      'gpt4o-daily@0.8',
      'gpt4o-daily@1',
      'grace-cap@1',
    ]);
    const delivered = await waitFor(
      async () => deliveries.filter((d) => d.status === 204),
      (d) => d.length >= 6,
      30_000,
    );
    expect(delivered.map((d) => `${d.budget_id}@${d.threshold}`).sort()).toEqual(rows.map((r) => `${r.budget_id}@${r.threshold}`));
    // Every alert failed once first (the webhook refuses first deliveries) and was retried.
    for (const d of delivered) expect(deliveries.filter((x) => x.event_id === d.event_id).map((x) => x.status)).toEqual([500, 204]);

    const metrics = await (await fetch(`${enforcer.url}/metrics`)).text();
    for (const [budget, threshold] of [['gpt4o-daily', '0.5'], ['gpt4o-daily', '0.8'], ['gpt4o-daily', '1'], ['frank-down', '0.5'], ['frank-down', '0.8'], ['grace-cap', '1']]) {
      expect(metrics).toMatch(new RegExp(`model_router_budget_threshold_crossed_total\\{budget="${budget}",threshold="${threshold}"[^}]*\\} 1\n`));
    }
    expect(metrics).toMatch(new RegExp(`model_router_budget_spend_usd\\{budget="gpt4o-daily"[^}]*\\} ${TOTAL_NANOS / 1e9}\n`));
    expect(metrics).toMatch(/model_router_budget_cost_events_total\{outcome="counted"[^}]*\} 200\n/);
    expect(metrics).toMatch(/model_router_budget_cost_events_total\{outcome="duplicate"[^}]*\} 20\n/);
  });

  it('then every replica applies the actions: block (429 naming the budget), downgrade, and explain', async () => {
    for (const api of [a, b]) {
      // grace's block budget is exceeded: every route of hers is refused, naming the budget.
      const refused = await waitFor(() => call(api, 'POST', '/api/v1/route', { prompt: 'hi', user_id: 'grace' }), (r) => r.status === 429);
      expect(refused.body.error.code).toBe('BUDGET_EXCEEDED');
      expect(refused.body.error.message).toContain('"grace-cap"');

      // gpt-4o's block budget removes gpt-4o for everyone, and explain says which budget did.
      const explained = await waitFor(
        () => call(api, 'POST', '/api/v1/route?explain=true', { prompt: 'hi', user_id: 'ivan', providers: ['openai'] }),
        (r) => r.status === 200 && r.body.excluded.some((e: { model_id: string }) => e.model_id === 'gpt-4o'),
      );
      expect(explained.body.excluded).toContainEqual({ model_id: 'gpt-4o', reason: 'budget_exceeded', detail: 'gpt4o-daily' });
      expect(explained.body.model_id).not.toBe('gpt-4o');

      // frank's downgrade budget has $0.0004 left: the cheapest model that fits, whatever the strategy.
      const down = await waitFor(
        () => call(api, 'POST', '/api/v1/route', { prompt: 'What is the capital of France?', max_tokens: 1000, strategy: 'fastest', user_id: 'frank' }),
        (r) => r.status === 200 && r.body.model_id === 'mistral-small-latest',
      );
      expect(down.body.reason).toContain('downgraded by budget "frank-down"');
      const tooBig = await call(api, 'POST', '/api/v1/route', { prompt: 'What is the capital of France?', max_tokens: 5000, user_id: 'frank' });
      expect(tooBig.status).toBe(429);
      expect(tooBig.body.error.message).toContain('"frank-down"');

      // Someone with no budget of their own still routes (alert_only changes nothing).
      expect((await call(api, 'POST', '/api/v1/route', { prompt: 'hi', user_id: 'judy' })).status).toBe(200);
    }
  });

  it('Redis flushed while running: spend is rebuilt from Postgres and nothing is counted twice', async () => {
    expect(await flushBudgetKeys()).toBeGreaterThan(0);
    expect(await counter('gpt4o-daily', periodKey)).toBeNull();

    // The same 200 events again (a replay after the flush) and 10 new ones of $0.001 each.
    const replay = METRICS.map((m, i) => call(i % 2 === 0 ? a : b, 'POST', '/api/v1/metrics', m));
    const fresh = Array.from({ length: 10 }, (_, i) =>
      call(a, 'POST', '/api/v1/metrics', { event_id: `after-flush-${i}`, model_id: 'gpt-4o', success: true, latency_ms: 5, cost: 0.001, user_id: 'henry' }),
    );
    expect((await Promise.all([...replay, ...fresh])).every((r) => r.status === 202)).toBe(true);

    const expected = TOTAL_NANOS + 10_000_000;
    await waitFor(() => counter('gpt4o-daily', periodKey), (v) => v === String(expected));
    expect(await pgSpend('gpt4o-daily')).toBe(expected);
    expect((await status('gpt4o-daily')).spent_usd).toBe(expected / 1e9);
    // frank's and grace's budgets saw nothing new: a reconciliation rebuilds their counters exactly.
    await enforcer.recorder.reconcile();
    expect(await counter('frank-down', periodKey)).toBe(String(FRANK_NANOS));
    expect(await counter('grace-cap', periodKey)).toBe(String(GRACE_NANOS));
    expect(await pgSpend('frank-down')).toBe(FRANK_NANOS);

    // A restart after another flush rebuilds every counter before counting anything new.
    await enforcer.stop();
    await flushBudgetKeys();
    enforcer = await startBudgetEnforcer(env.config({ 'budgets.webhook_url': 'http://127.0.0.1:9/unused' }), { logger: quiet('budget-enforcer-2'), opsPort: 0 });
    expect(await counter('gpt4o-daily', periodKey)).toBe(String(expected));
    expect(await counter('frank-down', periodKey)).toBe(String(FRANK_NANOS));
    expect(await counter('everything', new Date().toISOString().slice(0, 7))).toBe(String(expected));

    // No threshold fired again.
    const { rows } = await db.query('SELECT count(*)::int AS n FROM model_router.budget_alerts');
    expect(rows[0].n).toBe(6);
  });
});
