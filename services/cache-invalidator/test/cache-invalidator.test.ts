import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger } from '@model-router/logger';
import { BOSS_JOB_CATALOG, type ConfigChangedEvent, startBoss, subscribeConfigChanges } from '@model-router/queue';
import { keys, Redis } from '@model-router/redis';
import type { RunningService } from '@model-router/service-runtime';
import { createTestEnv, REDIS_URL, type TestEnv, waitUntil } from '@model-router/tests/support';
import { startCacheInvalidator } from '../src/index.js';

let env: TestEnv;
let service: RunningService;
let redis: Redis;
let subscriber: Redis;
const notices: ConfigChangedEvent[] = [];

/** What the API does inside its transaction: one outbox job per committed change. */
async function commitToOutbox(event: ConfigChangedEvent): Promise<void> {
  const boss = await startBoss(env.databaseUrl);
  try {
    await boss.send(BOSS_JOB_CATALOG['config.changed'].queue, event);
  } finally {
    await boss.stop({ graceful: false });
  }
}

beforeAll(async () => {
  env = await createTestEnv();
  redis = new Redis(REDIS_URL);
  subscriber = new Redis(REDIS_URL);
  await subscribeConfigChanges(subscriber, env.redisPrefix, (change) => notices.push(change));
  service = await startCacheInvalidator(env.config(), { logger: createLogger('cache-invalidator-test', 'error') });
});

afterAll(async () => {
  await service.stop();
  subscriber.disconnect();
  redis.disconnect();
  await env.cleanup();
});

describe('cache-invalidator', () => {
  it('relays a change committed to the outbox (with nothing published on Redis) to every replica', async () => {
    const id = `model-${randomUUID()}`;
    await commitToOutbox({
      event_id: randomUUID(),
      occurred_at: new Date().toISOString(),
      entity: 'model',
      entity_id: id,
      action: 'updated',
    });
    await waitUntil(() => notices.some((n) => n.entity_id === id), 10_000);
    expect(notices.find((n) => n.entity_id === id)).toMatchObject({ entity: 'model', action: 'updated' });
  });

  it("drops a completed A/B test's config and sticky assignments, and nothing else", async () => {
    const k = keys(env.redisPrefix);
    const testId = `test-${randomUUID()}`;
    const otherTest = `test-${randomUUID()}`;
    // Any key under the test's prefix goes with it (the assignments are what the API writes there).
    await redis.set(`${env.redisPrefix}:abtest:${testId}:config`, '{}');
    await redis.set(k.abtestUser(testId, 'user-1'), 'variant_a');
    await redis.set(k.abtestUser(testId, 'user-2'), 'variant_b');
    await redis.set(k.abtestUser(otherTest, 'user-1'), 'variant_a');

    await commitToOutbox({
      event_id: randomUUID(),
      occurred_at: new Date().toISOString(),
      entity: 'abtest',
      entity_id: testId,
      action: 'completed',
    });
    await waitUntil(() => notices.some((n) => n.entity_id === testId), 10_000);
    expect(await redis.exists(`${env.redisPrefix}:abtest:${testId}:config`, k.abtestUser(testId, 'user-1'), k.abtestUser(testId, 'user-2'))).toBe(0);
    expect(await redis.get(k.abtestUser(otherTest, 'user-1'))).toBe('variant_a');
  });

  it('serves its ops endpoints', async () => {
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toMatch(/model_router_config_changes_total\{[^}]*entity="model"[^}]*action="updated"[^}]*\} [1-9]/);
    expect(text).toMatch(/model_router_outbox_relayed_total\{[^}]*\} [1-9]/);
  });
});
