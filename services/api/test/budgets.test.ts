import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { publishBudgetSpend } from '@model-router/budgets';
import { BOSS_JOB_CATALOG, type JobBoss, startBoss } from '@model-router/queue';
import { REDIS_URL, waitUntil } from '@model-router/tests/support';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
let boss: JobBoss;
let redis: Redis;
let db: pg.Pool;

beforeAll(async () => {
  h = await startHarness();
  boss = await startBoss(h.env.databaseUrl);
  redis = new Redis(REDIS_URL);
  db = new pg.Pool({ connectionString: h.env.databaseUrl, max: 2 });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  redis.disconnect();
  await db.end();
  await h.stop();
});

const api = () => request(h.api.app);
const create = (body: object) => api().post('/api/v1/budgets').set(ADMIN).send(body);
const today = () => new Date().toISOString().slice(0, 10);

describe('budgets CRUD', () => {
  it('creates, reads, lists, replaces and deletes a budget; each write leaves one outbox job', async () => {
    const created = await create({
      id: 'team-daily',
      name: 'Team daily',
      scope: 'provider',
      scope_id: 'openai',
      period: 'daily',
      timezone: 'europe/berlin',
      limit_usd: 25.5,
      action: 'block',
    }).expect(201);
    expect(created.headers.location).toBe('/api/v1/budgets/team-daily');
    expect(created.body).toMatchObject({
      id: 'team-daily',
      name: 'Team daily',
      scope: 'provider',
      scope_id: 'openai',
      period: 'daily',
      timezone: 'Europe/Berlin',
      limit_usd: 25.5,
      action: 'block',
      alert_thresholds: [0.5, 0.8, 1],
    });

    expect((await api().get('/api/v1/budgets/team-daily').expect(200)).body).toEqual(created.body);
    const list = await api().get('/api/v1/budgets').expect(200);
    expect(list.body.budgets.map((b: { id: string }) => b.id)).toContain('team-daily');

    const replaced = await api()
      .put('/api/v1/budgets/team-daily')
      .set(ADMIN)
      .send({ scope: 'global', period: 'monthly', limit_usd: 1000, action: 'alert_only', alert_thresholds: [0.9, 0.25] })
      .expect(200);
    expect(replaced.body).toMatchObject({ scope: 'global', scope_id: null, period: 'monthly', timezone: 'UTC', limit_usd: 1000, alert_thresholds: [0.25, 0.9] });

    await api().delete('/api/v1/budgets/team-daily').set(ADMIN).expect(204);
    await api().get('/api/v1/budgets/team-daily').expect(404);

    const jobs = (await boss.findJobs<{ entity: string; entity_id: string; action: string }>(BOSS_JOB_CATALOG['config.changed'].queue)).filter(
      (j) => j.data.entity === 'budget' && j.data.entity_id === 'team-daily',
    );
    expect(jobs.map((j) => j.data.action).sort()).toEqual(['created', 'deleted', 'updated']);
  });

  it('gives a budget an id when none is sent', async () => {
    const res = await create({ scope: 'user', scope_id: 'someone', period: 'daily', limit_usd: 1, action: 'alert_only' }).expect(201);
    expect(res.body.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes need the admin key; reads are open without a client key configured', async () => {
    await api().post('/api/v1/budgets').send({ scope: 'global', period: 'daily', limit_usd: 1, action: 'block' }).expect(401);
    await api().post('/api/v1/budgets').set({ Authorization: 'Bearer wrong-key-0123456789' }).send({}).expect(403);
    await api().get('/api/v1/budgets').expect(200);
  });
});

describe('bad input', () => {
  const valid = { scope: 'global', period: 'daily', limit_usd: 10, action: 'block' };
  const cases: Array<[string, object, number, string, string]> = [
    ['negative limit', { ...valid, limit_usd: -5 }, 400, 'VALIDATION_ERROR', 'limit_usd'],
    ['zero limit', { ...valid, limit_usd: 0 }, 400, 'VALIDATION_ERROR', 'limit_usd'],
    ['limit as a string', { ...valid, limit_usd: '10' }, 400, 'VALIDATION_ERROR', 'limit_usd'],
    ['limit too large for exact sums', { ...valid, limit_usd: 1e12 }, 400, 'VALIDATION_ERROR', 'limit_usd'],
    ['unknown scope', { ...valid, scope: 'team' }, 400, 'VALIDATION_ERROR', 'scope'],
    ['unknown period', { ...valid, period: 'weekly' }, 400, 'VALIDATION_ERROR', 'period'],
    ['unknown action', { ...valid, action: 'throttle' }, 400, 'VALIDATION_ERROR', 'action'],
    ['unknown time zone', { ...valid, timezone: 'Mars/Olympus_Mons' }, 400, 'VALIDATION_ERROR', 'timezone'],
    ['offset instead of a zone', { ...valid, timezone: '+02:00' }, 400, 'VALIDATION_ERROR', 'timezone'],
    ['global with scope_id', { ...valid, scope_id: 'x' }, 400, 'VALIDATION_ERROR', 'scope_id'],
    ['user without scope_id', { ...valid, scope: 'user' }, 400, 'VALIDATION_ERROR', 'scope_id'],
    ['threshold 0', { ...valid, alert_thresholds: [0, 0.5] }, 400, 'VALIDATION_ERROR', 'alert_thresholds.0'],
    ['negative threshold', { ...valid, alert_thresholds: [-0.5] }, 400, 'VALIDATION_ERROR', 'alert_thresholds.0'],
    ['repeated threshold', { ...valid, alert_thresholds: [0.5, 0.5] }, 400, 'VALIDATION_ERROR', 'alert_thresholds'],
    ['bad id', { ...valid, id: 'has spaces' }, 400, 'VALIDATION_ERROR', 'id'],
    ['unknown field', { ...valid, owner: 'me' }, 400, 'VALIDATION_ERROR', '(root)'],
    ['unknown model', { ...valid, scope: 'model', scope_id: 'no-such-model' }, 404, 'MODEL_NOT_FOUND', 'scope_id'],
    ['unknown provider', { ...valid, scope: 'provider', scope_id: 'no-such-provider' }, 400, 'VALIDATION_ERROR', 'scope_id'],
  ];

  it.each(cases)('%s is refused with a clear 4xx naming the field, and nothing is written', async (_name, body, status, code, path) => {
    const before = (await db.query('SELECT count(*)::int AS n FROM model_router.budgets')).rows[0].n;
    const res = await create(body).expect(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
    expect((await db.query('SELECT count(*)::int AS n FROM model_router.budgets')).rows[0].n).toBe(before);
  });

  it('a duplicate id is 409, a missing budget 404, a mismatched body id 400', async () => {
    await create({ ...valid, id: 'dup' }).expect(201);
    expect((await create({ ...valid, id: 'dup' }).expect(409)).body.error.code).toBe('CONFLICT');
    expect((await api().get('/api/v1/budgets/nope').expect(404)).body.error.code).toBe('BUDGET_NOT_FOUND');
    expect((await api().get('/api/v1/budgets/nope/status').expect(404)).body.error.code).toBe('BUDGET_NOT_FOUND');
    expect((await api().put('/api/v1/budgets/nope').set(ADMIN).send(valid).expect(404)).body.error.code).toBe('BUDGET_NOT_FOUND');
    expect((await api().delete('/api/v1/budgets/nope').set(ADMIN).expect(404)).body.error.code).toBe('BUDGET_NOT_FOUND');
    await api().put('/api/v1/budgets/dup').set(ADMIN).send({ ...valid, id: 'other' }).expect(400);
    // A refused replacement changes nothing.
    await api().put('/api/v1/budgets/dup').set(ADMIN).send({ ...valid, limit_usd: -1 }).expect(400);
    expect((await api().get('/api/v1/budgets/dup').expect(200)).body.limit_usd).toBe(10);
    await api().delete('/api/v1/budgets/dup').set(ADMIN).expect(204);
  });
});

describe('status and enforcement from spend notices', () => {
  it('a new budget is ok with nothing spent in the current period', async () => {
    await create({ id: 'fresh', scope: 'global', period: 'monthly', limit_usd: 50, action: 'alert_only' }).expect(201);
    const res = await api().get('/api/v1/budgets/fresh/status').expect(200);
    const now = new Date();
    const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    expect(res.body).toMatchObject({
      budget_id: 'fresh',
      spent_usd: 0,
      remaining_usd: 50,
      period_start: monthStart.toISOString(),
      period_end: nextMonth.toISOString(),
      state: 'ok',
      thresholds_crossed: [],
    });
    await api().delete('/api/v1/budgets/fresh').set(ADMIN).expect(204);
  });

  it('status reads the committed spend of the period', async () => {
    await create({ id: 'spent', scope: 'user', scope_id: 'u-status', period: 'daily', limit_usd: 2, action: 'alert_only' }).expect(201);
    const day = today();
    await db.query(
      `INSERT INTO model_router.budget_spend (budget_id, period_key, period_start, period_end, spent_nanos, event_count)
       VALUES ('spent', $1, $2, $3, 1700000000, 3)`,
      [day, `${day}T00:00:00Z`, new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString()],
    );
    const res = await api().get('/api/v1/budgets/spent/status').expect(200);
    expect(res.body).toMatchObject({ period_key: day, spent_usd: 1.7, remaining_usd: 0.3, utilization: 0.85, state: 'warning' });
  });

  it('an exceeded block budget turns routes in its scope into 429 naming it; explain names the budget per model', async () => {
    await create({ id: 'anthropic-cap', scope: 'provider', scope_id: 'anthropic', period: 'daily', limit_usd: 1, action: 'block' }).expect(201);
    await publishBudgetSpend(redis, h.env.redisPrefix, [{ budget_id: 'anthropic-cap', period_key: today(), spent_nanos: 1_000_000_000 }]);
    await waitUntil(() => h.api.snapshots.current.budget_blocked.get('claude-haiku-4-5') === 'anthropic-cap', { timeoutMs: 2000, intervalMs: 10 });

    const refused = await api().post('/api/v1/route').send({ prompt: 'hi', max_tokens: 10, providers: ['anthropic'] }).expect(429);
    expect(refused.body.error.code).toBe('BUDGET_EXCEEDED');
    expect(refused.body.error.message).toMatch(/budget "anthropic-cap" is exceeded/);
    expect(refused.body.error.details.budgets[0]).toMatchObject({ budget_id: 'anthropic-cap', action: 'block', state: 'exceeded', remaining_usd: 0 });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);

    // Other providers still route; explain shows which budget removed which model.
    const routed = await api().post('/api/v1/route?explain=true').send({ prompt: 'hi', max_tokens: 10 }).expect(200);
    expect(routed.body.provider).not.toBe('anthropic');
    expect(routed.body.excluded).toEqual(
      expect.arrayContaining([{ model_id: 'claude-haiku-4-5', reason: 'budget_exceeded', detail: 'anthropic-cap' }]),
    );

    // Raising the limit lifts the block at once on this replica (the change refreshes the snapshot).
    await api().put('/api/v1/budgets/anthropic-cap').set(ADMIN).send({ scope: 'provider', scope_id: 'anthropic', period: 'daily', limit_usd: 5, action: 'block' }).expect(200);
    await api().post('/api/v1/route').send({ prompt: 'hi', max_tokens: 10, providers: ['anthropic'] }).expect(200);
    await api().delete('/api/v1/budgets/anthropic-cap').set(ADMIN).expect(204);
  });

  it('a user block budget refuses that user only; alert_only never changes a route', async () => {
    await create({ id: 'carol-cap', scope: 'user', scope_id: 'carol', period: 'daily', limit_usd: 1, action: 'block' }).expect(201);
    await create({ id: 'all-alerts', scope: 'global', period: 'daily', limit_usd: 1, action: 'alert_only' }).expect(201);
    await publishBudgetSpend(redis, h.env.redisPrefix, [
      { budget_id: 'carol-cap', period_key: today(), spent_nanos: 3_000_000_000 },
      { budget_id: 'all-alerts', period_key: today(), spent_nanos: 9_000_000_000 },
    ]);
    await waitUntil(async () => (await api().post('/api/v1/route').send({ prompt: 'hi', user_id: 'carol' })).status === 429, { timeoutMs: 2000, intervalMs: 10 });
    await api().post('/api/v1/route').send({ prompt: 'hi', user_id: 'dave' }).expect(200);
    await api().post('/api/v1/route').send({ prompt: 'hi' }).expect(200);
    await api().delete('/api/v1/budgets/carol-cap').set(ADMIN).expect(204);
    await api().delete('/api/v1/budgets/all-alerts').set(ADMIN).expect(204);
  });

  it('downgrade keeps the models whose estimate fits what is left, cheapest first; 429 when none fits', async () => {
    await create({ id: 'erin-down', scope: 'user', scope_id: 'erin', period: 'daily', limit_usd: 1, action: 'downgrade' }).expect(201);
    // $0.0005 left. For 7 prompt tokens and max_tokens 1,000, Mistral Small costs 7e-7 + 3e-4 = $0.0003007.
    await publishBudgetSpend(redis, h.env.redisPrefix, [{ budget_id: 'erin-down', period_key: today(), spent_nanos: 999_500_000 }]);
    const body = { prompt: 'What is the capital of France?', max_tokens: 1000, strategy: 'fastest', user_id: 'erin' };
    await waitUntil(async () => (await api().post('/api/v1/route').send(body)).body.model_id === 'mistral-small-latest', { timeoutMs: 2000, intervalMs: 10 });
    const res = await api().post('/api/v1/route?explain=true').send(body).expect(200);
    expect(res.body.reason).toMatch(/downgraded by budget "erin-down"/);
    for (const c of res.body.candidates as Array<{ estimated_cost: number }>) expect(c.estimated_cost).toBeLessThanOrEqual(0.0005);
    expect(res.body.excluded).toEqual(expect.arrayContaining([{ model_id: 'gpt-4o', reason: 'budget_exceeded', detail: 'erin-down' }]));

    // A larger request fits nowhere: 429 naming the budget and what is left.
    const refused = await api().post('/api/v1/route').send({ ...body, max_tokens: 100_000 }).expect(429);
    expect(refused.body.error.message).toMatch(/fits the \$0\.0005 left of budget "erin-down"/);
    await api().delete('/api/v1/budgets/erin-down').set(ADMIN).expect(204);
  });
});
