import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BOSS_JOB_CATALOG, type JobBoss, queuePrefix, startBoss } from '@model-router/queue';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { REDIS_URL } from '@model-router/tests/support';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
let connection: Redis;
let metricQueue: Queue;
let routeQueue: Queue;
let boss: JobBoss;

beforeAll(async () => {
  h = await startHarness();
  connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = queuePrefix(h.env.redisPrefix);
  metricQueue = new Queue('metric-events', { connection, prefix });
  routeQueue = new Queue('route-events', { connection, prefix });
  boss = await startBoss(h.env.databaseUrl);
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await metricQueue.close();
  await routeQueue.close();
  connection.disconnect();
  await h.stop();
});

/** Every event waiting in a queue (no worker runs in these tests). */
async function queuedEvents(queue: Queue): Promise<Array<Record<string, unknown>>> {
  const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active']);
  return jobs.flatMap((job) => (job.data as { events: Array<Record<string, unknown>> }).events);
}

describe('POST /api/v1/metrics', () => {
  it('accepts one metric with 202 once it is in Redis, computing cost from list prices', async () => {
    const res = await request(h.api.app)
      .post('/api/v1/metrics')
      .send({ model_id: 'gpt-4o', success: true, latency_ms: 420, prompt_tokens: 1000, completion_tokens: 500, user_id: 'u1', event_id: 'evt-single-1' })
      .expect(202);
    expect(res.body).toEqual({ accepted: 1, event_ids: ['evt-single-1'] });
    const event = (await queuedEvents(metricQueue)).find((e) => e.event_id === 'evt-single-1');
    // gpt-4o: 1000 × $2.50/M + 500 × $10/M = $0.0075 = 7,500,000 nano-dollars.
    expect(event).toMatchObject({ model_id: 'gpt-4o', provider: 'openai', success: true, latency_ms: 420, cost_nanos: 7_500_000, user_id: 'u1' });
  });

  it('accepts a batch in one request; a reported cost wins over the computed one; tokens count as completion', async () => {
    const res = await request(h.api.app)
      .post('/api/v1/metrics')
      .send({
        metrics: [
          { model_id: 'gpt-4o-mini', success: false, latency_ms: 1200, tokens: 500, cost: 0.015, event_id: 'evt-batch-1' },
          { model_id: 'claude-haiku-4-5', success: true, latency_ms: 300, tokens: 1000, event_id: 'evt-batch-2' },
          { model_id: 'claude-haiku-4-5', success: true, latency_ms: 310 },
        ],
      })
      .expect(202);
    expect(res.body.accepted).toBe(3);
    expect(res.body.event_ids.slice(0, 2)).toEqual(['evt-batch-1', 'evt-batch-2']);
    expect(res.body.event_ids[2]).toMatch(/^[0-9a-f-]{36}$/);
    const events = await queuedEvents(metricQueue);
    expect(events.find((e) => e.event_id === 'evt-batch-1')).toMatchObject({ cost_nanos: 15_000_000, completion_tokens: 500, prompt_tokens: 0 });
    // claude-haiku-4-5: 1000 × $5/M = $0.005.
    expect(events.find((e) => e.event_id === 'evt-batch-2')).toMatchObject({ cost_nanos: 5_000_000 });
  });

  const bad: Array<[string, unknown, number, string]> = [
    ['missing model_id', { success: true, latency_ms: 1 }, 400, 'VALIDATION_ERROR'],
    ['unknown model', { model_id: 'no-such-model', success: true, latency_ms: 1 }, 404, 'MODEL_NOT_FOUND'],
    ['success not a boolean', { model_id: 'gpt-4o', success: 'yes', latency_ms: 1 }, 400, 'VALIDATION_ERROR'],
    ['negative latency', { model_id: 'gpt-4o', success: true, latency_ms: -5 }, 400, 'VALIDATION_ERROR'],
    ['negative cost', { model_id: 'gpt-4o', success: true, latency_ms: 5, cost: -1 }, 400, 'VALIDATION_ERROR'],
    ['fractional tokens', { model_id: 'gpt-4o', success: true, latency_ms: 5, tokens: 1.5 }, 400, 'VALIDATION_ERROR'],
    ['tokens and prompt_tokens', { model_id: 'gpt-4o', success: true, latency_ms: 5, tokens: 10, prompt_tokens: 5 }, 400, 'VALIDATION_ERROR'],
    ['unknown field', { model_id: 'gpt-4o', success: true, latency_ms: 5, colour: 'red' }, 400, 'VALIDATION_ERROR'],
    ['bad timestamp', { model_id: 'gpt-4o', success: true, latency_ms: 5, timestamp: 'yesterday' }, 400, 'VALIDATION_ERROR'],
    ['empty batch', { metrics: [] }, 400, 'VALIDATION_ERROR'],
    ['batch over 1000', { metrics: Array.from({ length: 1001 }, () => ({ model_id: 'gpt-4o', success: true, latency_ms: 1 })) }, 400, 'VALIDATION_ERROR'],
    ['one bad metric in a batch', { metrics: [{ model_id: 'gpt-4o', success: true, latency_ms: 1 }, { model_id: 'gpt-4o', latency_ms: 1 }] }, 400, 'VALIDATION_ERROR'],
    ['one unknown model in a batch', { metrics: [{ model_id: 'gpt-4o', success: true, latency_ms: 1 }, { model_id: 'nope', success: true, latency_ms: 1 }] }, 404, 'MODEL_NOT_FOUND'],
  ];

  it.each(bad)('%s is refused and nothing is enqueued', async (_name, body, status, code) => {
    const before = (await queuedEvents(metricQueue)).length;
    const res = await request(h.api.app).post('/api/v1/metrics').send(body as object).expect(status);
    expect(res.body.error.code).toBe(code);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await queuedEvents(metricQueue)).length).toBe(before);
  });
});

describe('route.decided events', () => {
  it('every answered route request becomes one event carrying its request id', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const { body } = await request(h.api.app).post('/api/v1/route').send({ prompt: `hello ${i}`, max_tokens: 50, user_id: `u${i}` }).expect(200);
      ids.push(body.request_id);
    }
    let events: Array<Record<string, unknown>> = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      events = await queuedEvents(routeQueue);
      if (ids.every((id) => events.some((e) => e.event_id === id))) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const id of ids) expect(events.filter((e) => e.event_id === id)).toHaveLength(1);
    expect(events.find((e) => e.event_id === ids[3])).toMatchObject({ user_id: 'u3', max_tokens: 50 });
  });
});

describe('model changes and the outbox', () => {
  it('a committed change leaves one outbox job; a refused one leaves none', async () => {
    const jobsFor = async (id: string) =>
      (await boss.findJobs<{ entity_id: string; action: string }>(BOSS_JOB_CATALOG['config.changed'].queue)).filter((j) => j.data.entity_id === id);
    await request(h.api.app).patch('/api/v1/models/gemini-2.5-flash').set(ADMIN).send({ latency_ms: 700 }).expect(200);
    // The cache-invalidator is not running here, so the job stays in the outbox.
    const jobs = await jobsFor('gemini-2.5-flash');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.data).toMatchObject({ entity: 'model', action: 'updated' });

    await request(h.api.app).patch('/api/v1/models/gemini-2.5-flash').set(ADMIN).send({ max_output_tokens: 5_000_000 }).expect(400);
    await request(h.api.app).patch('/api/v1/models/no-such-model').set(ADMIN).send({ enabled: false }).expect(404);
    expect(await jobsFor('gemini-2.5-flash')).toHaveLength(1);
    expect(await jobsFor('no-such-model')).toHaveLength(0);
  });
});

describe('when Redis is unavailable', () => {
  it('metrics answer 503 with Retry-After and route requests are still answered', async () => {
    const down = await startHarness();
    try {
      down.api.redis.disconnect();
      const res = await request(down.api.app).post('/api/v1/metrics').send({ model_id: 'gpt-4o', success: true, latency_ms: 1 }).expect(503);
      expect(res.body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('1');
      await request(down.api.app).post('/api/v1/route').send({ prompt: 'hi', max_tokens: 5 }).expect(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const text = (await request(down.api.app).get('/metrics').expect(200)).text;
      expect(text).toMatch(/model_router_events_lost_total\{[^}]*event="route.decided"[^}]*\} 1/);
    } finally {
      await down.stop();
    }
  });
});
