/**
 * Client-chosen ids (a metric's event_id, a route's X-Request-Id) deduplicate within one client
 * only: with several client keys (auth.client_api_keys), two clients that pick the same id are
 * both counted, and one client sending it twice is counted once. Real API, real aggregator.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { waitUntil } from '@model-router/tests/support';
import pg from 'pg';
import request from 'supertest';
import { type Harness, startHarness } from './harness.js';

const ALPHA = 'alpha-client-key-0123456789';
const BETA = 'beta-client-key-0123456789';
const as = (key: string) => ({ Authorization: `Bearer ${key}` });

let h: Harness;
let aggregator: Awaited<ReturnType<typeof startMetricAggregator>>;
let db: pg.Pool;

beforeAll(async () => {
  h = await startHarness({ 'auth.client_api_keys': [{ id: 'alpha', key: ALPHA }, { id: 'beta', key: BETA }] });
  aggregator = await startMetricAggregator(h.env.config(), { logger: createLogger('aggregator-test', 'error'), opsPort: 0 });
  db = new pg.Pool({ connectionString: h.env.databaseUrl, max: 2 });
});

afterAll(async () => {
  await aggregator.stop();
  await db.end();
  await h.stop();
});

/** Events the aggregator has handled (inserted or found duplicate) of one name. */
async function handled(event: string): Promise<number> {
  const text = await (await fetch(`${aggregator.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/model_router_aggregator_events_total\{([^}]*)\} (\d+)/g)) {
    if (m[1]!.includes(`event="${event}"`) && /outcome="(inserted|duplicate)"/.test(m[1]!)) n += Number(m[2]);
  }
  return n;
}

const rowsOf = async (table: string, eventId: string): Promise<string[]> =>
  (await db.query(`SELECT key_id FROM model_router.${table} WHERE event_id = $1 ORDER BY key_id`, [eventId])).rows.map((r) => r.key_id);

describe('idempotency keys are namespaced by client key', () => {
  it('counts the same event_id once per client: two clients both, one client twice once', async () => {
    const metric = { model_id: 'gpt-4o', success: true, latency_ms: 120, prompt_tokens: 10, completion_tokens: 5, event_id: 'shared-evt-1' };
    await request(h.api.app).post('/api/v1/metrics').set(as(ALPHA)).send(metric).expect(202);
    // A retry of alpha's, and beta's own event with the same id.
    await request(h.api.app).post('/api/v1/metrics').set(as(ALPHA)).send(metric).expect(202);
    await request(h.api.app).post('/api/v1/metrics').set(as(BETA)).send({ metrics: [metric] }).expect(202);

    // All three handled (the duplicate included), so a wrongly kept duplicate would show.
    await waitUntil(async () => (await handled('metric.recorded')) >= 3, 10_000);
    expect(await rowsOf('metric_events', 'shared-evt-1')).toEqual(['alpha', 'beta']);
    expect(await rowsOf('processed_events', 'shared-evt-1')).toEqual(['alpha', 'beta']);
  });

  it('namespaces X-Request-Id the same way for route events', async () => {
    const route = (key: string) =>
      request(h.api.app).post('/api/v1/route').set(as(key)).set('X-Request-Id', 'shared-req-1').send({ prompt: 'hello there', max_tokens: 50 }).expect(200);
    await route(ALPHA);
    await route(BETA);
    await route(ALPHA);
    await waitUntil(async () => (await handled('route.decided')) >= 3, 10_000);
    expect(await rowsOf('route_events', 'shared-req-1')).toEqual(['alpha', 'beta']);
  });

  it('refuses a request without a key (401) or with an unknown one (403), enqueuing nothing', async () => {
    const metric = { model_id: 'gpt-4o', success: true, latency_ms: 1, event_id: 'no-key-evt' };
    const missing = await request(h.api.app).post('/api/v1/metrics').send(metric).expect(401);
    expect(missing.body.error.code).toBe('UNAUTHORIZED');
    const wrong = await request(h.api.app).post('/api/v1/metrics').set(as('not-a-client-key-0123456789')).send(metric).expect(403);
    expect(wrong.body.error.code).toBe('FORBIDDEN');
    // A later event of alpha is persisted; the refused one never is.
    await request(h.api.app).post('/api/v1/metrics').set(as(ALPHA)).send({ ...metric, event_id: 'after-refusal' }).expect(202);
    await waitUntil(async () => (await rowsOf('metric_events', 'after-refusal')).length === 1, 10_000);
    expect(await rowsOf('metric_events', 'no-key-evt')).toEqual([]);
  });
});
