/**
 * The ingestion edge refuses, with a 400 in the error envelope naming the field, every value a
 * consumer could not store (Postgres types, index limits, nano-dollar sums) or that lies outside
 * the timestamp window, on both ingestion endpoints; and a refused request enqueues nothing, not
 * even its valid metrics. No worker runs here: the queues show exactly what was accepted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { metricRecordedEvent, queuePrefix } from '@model-router/queue';
import { REDIS_URL } from '@model-router/tests/support';
import { Queue } from 'bullmq';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
let connection: Redis;
let queues: Queue[];

const DAY = 86_400_000;

beforeAll(async () => {
  h = await startHarness();
  connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = queuePrefix(h.env.redisPrefix);
  queues = ['metric-events', 'cost-events'].map((name) => new Queue(name, { connection, prefix }));
  const test = {
    id: 'edge_test',
    name: 'edge',
    variants: [
      { id: 'va', model_id: 'gpt-4o', weight: 0.5 },
      { id: 'vb', model_id: 'gpt-4o-mini', weight: 0.5 },
    ],
  };
  await request(h.api.app).post('/api/v1/abtests').set(ADMIN).send(test).expect(201);
  await request(h.api.app).post('/api/v1/abtests/edge_test/start').set(ADMIN).expect(200);
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  connection.disconnect();
  await h.stop();
});

/** Every event waiting in the ingestion queues. */
async function queued(): Promise<Array<Record<string, unknown>>> {
  const jobs = (await Promise.all(queues.map((q) => q.getJobs(['waiting', 'prioritized', 'delayed', 'active'])))).flat();
  return jobs.flatMap((job) => (job.data as { events: Array<Record<string, unknown>> }).events);
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Each class of value the edge must refuse: the field it names and a value of that class (some
 * depend on the current time). Every one would otherwise reach Postgres or the budget sums.
 */
const INVALID: ReadonlyArray<{ name: string; field: string; value: () => unknown }> = [
  { name: 'timestamp far in the past', field: 'timestamp', value: () => iso(Date.now() - 30 * DAY) },
  { name: 'timestamp just past the 7-day window', field: 'timestamp', value: () => iso(Date.now() - 7 * DAY - 60_000) },
  { name: 'timestamp in the future', field: 'timestamp', value: () => iso(Date.now() + 3_600_000) },
  { name: 'timestamp in year 0 (Postgres refuses it)', field: 'timestamp', value: () => '0000-06-01T00:00:00Z' },
  { name: 'timestamp in year 9999', field: 'timestamp', value: () => '9999-06-01T00:00:00Z' },
  { name: 'UTC offset Postgres refuses', field: 'timestamp', value: () => iso(Date.now()).replace('Z', '+23:59') },
  { name: 'day that does not exist', field: 'timestamp', value: () => '2026-02-30T10:00:00Z' },
  { name: 'latency above an hour', field: 'latency_ms', value: () => 3_600_001 },
  { name: 'negative latency', field: 'latency_ms', value: () => -0.5 },
  { name: 'tokens above the column bound', field: 'prompt_tokens', value: () => 100_000_001 },
  { name: 'fractional tokens', field: 'completion_tokens', value: () => 2.5 },
  { name: 'tokens beyond 2^53', field: 'prompt_tokens', value: () => 2 ** 60 },
  { name: 'cost above $1,000 for one call', field: 'cost', value: () => 1000.01 },
  { name: 'NUL in a user id', field: 'user_id', value: () => 'us\u0000er' },
  { name: 'lone high surrogate in a user id', field: 'user_id', value: () => 'user-\ud83d' },
  { name: 'lone low surrogate in an event id', field: 'event_id', value: () => '\ude00-evt' },
  { name: 'event id above 512 UTF-8 bytes', field: 'event_id', value: () => '€'.repeat(200) },
  { name: 'request id above 256 characters', field: 'request_id', value: () => 'r'.repeat(257) },
  { name: 'empty request id', field: 'request_id', value: () => '' },
];

type Endpoint = '/api/v1/metrics' | '/api/v1/abtests/edge_test/metrics';
const validMetric = (endpoint: Endpoint, i: number): Record<string, unknown> =>
  endpoint === '/api/v1/metrics'
    ? { model_id: 'gpt-4o', success: true, latency_ms: 100 + i, prompt_tokens: 10, completion_tokens: 5, user_id: `u${i}` }
    : { variant_id: i % 2 ? 'va' : 'vb', success: i % 3 !== 0, latency_ms: 50 + i, prompt_tokens: 20, completion_tokens: 7, user_id: `u${i}` };

describe('metrics ingestion edge', () => {
  for (const endpoint of ['/api/v1/metrics', '/api/v1/abtests/edge_test/metrics'] as const) {
    for (const invalid of INVALID) {
      it(`${endpoint}: ${invalid.name} → 400 naming ${invalid.field}, nothing enqueued`, async () => {
        const before = (await queued()).length;
        const metric = { ...validMetric(endpoint, 1), [invalid.field]: invalid.value() };
        const single = await request(h.api.app).post(endpoint).send(metric).expect(400);
        expect(single.body.error).toMatchObject({ code: 'VALIDATION_ERROR', request_id: expect.any(String) });
        expect(single.body.error.message).toContain(invalid.field);
        // Every issue is about that field (a value may break two of its rules).
        const paths: string[] = single.body.error.details.map((d: { path: string }) => d.path);
        expect(paths.length).toBeGreaterThan(0);
        for (const path of paths) expect(path).toMatch(new RegExp(`(^|\\.)${invalid.field}$`));
        expect((await queued()).length).toBe(before);
      });
    }
  }

  it('refuses a cost computed from tokens that is above $1,000, naming the metric', async () => {
    const before = (await queued()).length;
    // gpt-4o: 100M prompt tokens × $2.50/M + 100M completion × $10/M = $1,250.
    const res = await request(h.api.app)
      .post('/api/v1/metrics')
      .send({ metrics: [validMetric('/api/v1/metrics', 0), { model_id: 'gpt-4o', success: true, latency_ms: 1, prompt_tokens: 100_000_000, completion_tokens: 100_000_000 }] })
      .expect(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'metrics.1.prompt_tokens' })]);
    expect((await queued()).length).toBe(before);
  });

  it('refuses a whole batch for one invalid metric anywhere in it, on either endpoint (generated)', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Endpoint>('/api/v1/metrics', '/api/v1/abtests/edge_test/metrics'),
        fc.integer({ min: 1, max: 20 }),
        fc.nat(),
        fc.nat(INVALID.length - 1),
        async (endpoint, size, at, which) => {
          const invalid = INVALID[which]!;
          const index = at % size;
          const metrics = Array.from({ length: size }, (_, i) => validMetric(endpoint, i));
          metrics[index] = { ...metrics[index], [invalid.field]: invalid.value() };
          const before = (await queued()).length;
          const res = await request(h.api.app).post(endpoint).send({ metrics });
          expect(res.status).toBe(400);
          expect(res.body.error.code).toBe('VALIDATION_ERROR');
          expect(res.body.error.details).toContainEqual(expect.objectContaining({ path: `metrics.${index}.${invalid.field}` }));
          expect((await queued()).length).toBe(before);
          refused++;
        },
      ),
      { numRuns: 80, seed: 1202 },
    );
    expect(refused).toBe(80);
  });

  it('accepts the edges of every bound, normalises timestamps to UTC and tags the default namespace', async () => {
    const sixDaysAgo = Date.now() - 6 * DAY;
    const inWindow = new Date(sixDaysAgo).toISOString().replace('Z', '+00:00');
    const metric = {
      model_id: 'gpt-4o',
      success: true,
      latency_ms: 3_600_000,
      prompt_tokens: 100_000_000,
      completion_tokens: 0,
      cost: 1000,
      user_id: '😀'.repeat(128),
      event_id: 'é'.repeat(256),
      timestamp: inWindow,
    };
    const res = await request(h.api.app).post('/api/v1/metrics').send(metric).expect(202);
    expect(res.body.event_ids).toEqual([metric.event_id]);
    const event = (await queued()).find((e) => e.event_id === metric.event_id && 'accepted_at' in e)!;
    expect(event).toMatchObject({ key_id: 'default', occurred_at: new Date(sixDaysAgo).toISOString(), cost_nanos: 1_000_000_000_000 });
    // What the edge accepted, the consumer's schema accepts.
    expect(metricRecordedEvent.safeParse(event).error).toBeUndefined();
  });
});
