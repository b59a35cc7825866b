import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startCacheInvalidator } from '@model-router/cache-invalidator';
import { createLogger } from '@model-router/logger';
import { createTestEnv, type TestEnv, waitUntil } from '@model-router/tests/support';
import request from 'supertest';
import { type RunningApi, startApi } from '../src/index.js';
import { ADMIN } from './harness.js';

let env: TestEnv;
let a: RunningApi;
let b: RunningApi;
let invalidator: Awaited<ReturnType<typeof startCacheInvalidator>>;

beforeAll(async () => {
  env = await createTestEnv();
  // A long refresh timer, so only the pub/sub notice can explain a fast update.
  const config = env.config({ 'routing.snapshot_refresh_interval': '1h' });
  a = await startApi(config, createLogger('api-a', 'error'));
  b = await startApi(config, createLogger('api-b', 'error'));
  // The one relay of config changes to the replicas, as in every deployment.
  invalidator = await startCacheInvalidator(config, { logger: createLogger('cache-invalidator', 'error'), opsPort: 0 });
});
afterAll(async () => {
  await invalidator.stop();
  await a.stop();
  await b.stop();
  await env.cleanup();
});

describe('two API replicas', () => {
  it('a model change made on one is seen by the other within 1 s', async () => {
    const enabledOnB = () => b.snapshots.current.models.find((m) => m.id === 'gpt-4o')?.enabled;
    expect(enabledOnB()).toBe(true);
    await request(a.app).patch('/api/v1/models/gpt-4o').set(ADMIN).send({ enabled: false }).expect(200);
    await waitUntil(() => enabledOnB() === false, { timeoutMs: 1000, intervalMs: 5 });

    await request(a.app)
      .post('/api/v1/models')
      .set(ADMIN)
      .send({
        id: 'replica-test-model',
        name: 'Replica test',
        provider: 'acme',
        input_price_per_1k: 0,
        output_price_per_1k: 0.0001,
        context_window: 8000,
        max_output_tokens: 1000,
      })
      .expect(201);
    await waitUntil(() => b.snapshots.current.models.some((m) => m.id === 'replica-test-model'), { timeoutMs: 1000, intervalMs: 5 });
    const routed = await request(b.app).post('/api/v1/route').send({ prompt: 'hi', providers: ['acme'], max_tokens: 10 }).expect(200);
    expect(routed.body.model_id).toBe('replica-test-model');
  });
});
