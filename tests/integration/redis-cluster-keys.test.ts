/**
 * The Redis pieces on a Redis Cluster of the test's own (3 masters, no replicas; free loopback
 * ports, a temp directory): the config's cluster nodes, pub/sub across nodes, the budget spend
 * script over many budgets (keys in many slots), circuits read for many models in one call, and
 * SCAN + UNLINK over every master. On a cluster each of these fails loudly when keys of several
 * slots meet in one script, pipeline or command (CROSSSLOT), so passing here is the check.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '@model-router/config';
import { publishConfigChange, subscribeConfigChanges } from '@model-router/queue';
import { Cluster, createRedis, deleteByPattern, keys, type RedisClient } from '@model-router/redis';
import { budgetKeys, publishBudgetSpend, SpendCounters, subscribeBudgetSpend } from '../../packages/budgets/src/index.js';
import { CircuitStore } from '../../packages/health/src/index.js';
import { type OwnRedisCluster, startOwnRedisCluster } from '../support/own-redis-cluster.js';
import { waitUntil } from '../support/wait.js';

const PREFIX = 'mrcluster';
let cluster: OwnRedisCluster | null = null;
const clients: RedisClient[] = [];

function connect(): RedisClient {
  const config = loadConfig({ env: { REDIS_CLUSTER_NODES: cluster!.nodeList, ADMIN_API_KEY: 'cluster-keys-admin-key-0123456789' } });
  const client = createRedis(config.redis);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  cluster = await startOwnRedisCluster({ masters: 3, replicasPerMaster: 0 });
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.destroy();
});

describe('Redis keys and channels on a Redis Cluster', () => {
  it('reads REDIS_CLUSTER_NODES into a Cluster client; a single node stays the default', () => {
    const config = loadConfig({ env: { REDIS_CLUSTER_NODES: ' 127.0.0.1:7000, [::1]:7001 ', ADMIN_API_KEY: 'cluster-keys-admin-key-0123456789' } });
    expect(config.redis.cluster.nodes).toEqual(['127.0.0.1:7000', '[::1]:7001']);
    expect(loadConfig({ env: { ADMIN_API_KEY: 'cluster-keys-admin-key-0123456789' } }).redis.cluster.nodes).toEqual([]);
    expect(() => loadConfig({ env: { REDIS_CLUSTER_NODES: 'no-port', ADMIN_API_KEY: 'cluster-keys-admin-key-0123456789' } })).toThrow(/redis\.cluster\.nodes/);
    expect(connect()).toBeInstanceOf(Cluster);
  });

  it('delivers config and budget notices to a subscriber whichever node the publisher writes to', async () => {
    const subscriber = connect();
    const publisher = connect();
    const changes: string[] = [];
    const spends: number[] = [];
    await subscribeConfigChanges(subscriber, PREFIX, (change) => changes.push(change.entity_id));
    await subscribeBudgetSpend(subscriber, PREFIX, (spend) => spends.push(...spend.map((s) => s.spent_nanos)));
    for (let i = 0; i < 20; i++) {
      await publishConfigChange(publisher, PREFIX, { event_id: `e-${i}`, occurred_at: new Date().toISOString(), entity: 'model', entity_id: `m-${i}`, action: 'updated' });
    }
    await publishBudgetSpend(publisher, PREFIX, [{ budget_id: 'b', period_key: '2026-12', spent_nanos: 42 }]);
    await waitUntil(() => changes.length === 20 && spends.length === 1, { timeoutMs: 10_000, what: 'every notice delivered' });
    // Every one, once. Not in order: the client sends each PUBLISH to some node and the cluster
    // bus relays it, so notices from different nodes interleave. The listeners do not rely on order:
    // a config notice means "reload", spend totals merge by maximum, and a circuit's notices are
    // published inside the MULTI on its key's master, so one model's notices come from one node.
    expect([...changes].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `m-${i}`).sort());
    expect(spends).toEqual([42]);
  });

  it('raises the spend counters of many budgets in one call (one script per budget, each in its slot)', async () => {
    const redis = connect();
    const counters = new SpendCounters(redis, PREFIX);
    const budgets = Array.from({ length: 30 }, (_, i) => `budget-${i}`);
    // Several periods per budget: the keys of one budget share its hash tag, so they meet in one script.
    const slots = new Set(await Promise.all(budgets.map((b) => cluster!.keySlot(budgetKeys(PREFIX).spend(b, 'x')))));
    expect(slots.size).toBeGreaterThan(3);
    const totals = budgets.flatMap((b, i) => ['2026-11', '2026-12'].map((period, j) => ({ budget_id: b, period_key: period, spent_nanos: 1000 * i + j, ttl_ms: 60_000 })));
    expect(await counters.raise(totals)).toBe(totals.length);
    expect(await counters.raise(totals)).toBe(0);
    for (const t of totals) expect(await counters.read(t.budget_id, t.period_key)).toBe(t.spent_nanos);
  });

  it('reads the circuits of many models at once and writes them with WATCH/MULTI', async () => {
    const redis = connect();
    const store = new CircuitStore(redis, { keyPrefix: PREFIX });
    const models = Array.from({ length: 25 }, (_, i) => `model-${i}`);
    const fail = { successes: 0, failures: 1, trailing_failures: 1, latency_ms_sum: 10 };
    const t = Date.now();
    // Five models fail often enough to open (the default policy), concurrently: WATCH/MULTI per key.
    await Promise.all(models.slice(0, 5).map(async (id) => {
      for (let n = 0; n < 6; n++) await store.recordOutcomes(id, fail, t + n);
    }));
    const runtime = await store.getRuntime(models, t + 6);
    expect([...runtime.keys()]).toEqual(models);
    expect(models.slice(0, 5).map((id) => runtime.get(id)?.circuit)).toEqual(Array(5).fill('open'));
    expect(models.slice(5).every((id) => runtime.get(id)?.circuit === 'closed')).toBe(true);
    await store.close();
  });

  it('deletes by pattern on every master, one key per command', async () => {
    const redis = connect();
    const k = keys(PREFIX);
    const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    await Promise.all(users.map((u) => redis.set(k.abtestUser('t1', u), 'a')));
    await redis.set(k.abtestUser('t2', 'user-0'), 'b');
    const slots = new Set(await Promise.all(users.map((u) => cluster!.keySlot(k.abtestUser('t1', u)))));
    expect(slots.size).toBeGreaterThan(10);
    expect(await deleteByPattern(redis, k.abtestPattern('t1'))).toBe(users.length);
    expect(await redis.get(k.abtestUser('t2', 'user-0'))).toBe('b');
  });
});
