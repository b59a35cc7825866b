/**
 * The Redis pieces on a Redis Cluster of the test's own (3 masters, no replicas; free loopback
 * ports, a temp directory): the config's cluster nodes, pub/sub across nodes, the budget spend
 * script over many budgets (keys in many slots), the gateway's budget reservations and shared
 * provider rate limits, circuits read for many models in one call, and SCAN + UNLINK over every
 * master. On a cluster each of these fails loudly when keys of several
 * slots meet in one script, pipeline or command (CROSSSLOT), so passing here is the check.
 */
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '@model-router/config';
import { publishConfigChange, subscribeConfigChanges } from '@model-router/queue';
import { Cluster, deleteByPattern, keys } from '@model-router/redis';
import { BudgetReservations, budgetKeys, publishBudgetSpend, SpendCounters, subscribeBudgetSpend } from '../../packages/budgets/src/index.js';
import { createLogger } from '../../packages/logger/src/index.js';
import { RateLimitTracker } from '../../services/api/src/state/rate-limit-tracker.js';
import type { SnapshotStore } from '../../services/api/src/state/snapshot-store.js';
import { CircuitStore } from '../../packages/health/src/index.js';
import { useOwnRedisCluster } from '../support/own-redis-cluster.js';
import { waitUntil } from '../support/wait.js';

const PREFIX = 'mrcluster';
const own = useOwnRedisCluster({ masters: 3, replicasPerMaster: 0 });
const { connect } = own;

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
    const slots = new Set(await Promise.all(budgets.map((b) => own.cluster().keySlot(budgetKeys(PREFIX).spend(b, 'x')))));
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
    const slots = new Set(await Promise.all(users.map((u) => own.cluster().keySlot(k.abtestUser('t1', u)))));
    expect(slots.size).toBeGreaterThan(10);
    expect(await deleteByPattern(redis, k.abtestPattern('t1'))).toBe(users.length);
    expect(await redis.get(k.abtestUser('t2', 'user-0'))).toBe('b');
  });

  it("holds gateway budget reservations over many budgets (each budget's keys in its own slot) and settles and releases them", async () => {
    const redis = connect();
    const reservations = new BudgetReservations(redis, PREFIX);
    const budgets = Array.from({ length: 12 }, (_, i) => ({ budget_id: `rsv-${i}`, period_key: '2026-12', limit_nanos: 1_000, known_spent_nanos: 0 }));
    const slots = new Set(await Promise.all(budgets.map((b) => own.cluster().keySlot(budgetKeys(PREFIX).spend(b.budget_id, b.period_key)))));
    expect(slots.size).toBeGreaterThan(3);
    // Ten calls of 300 against limits of 1,000, concurrently: exactly three fit.
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => reservations.reserve(`call-${i}`, budgets, 300, 60_000)));
    const held = results.map((r, i) => (r.ok ? `call-${i}` : null)).filter((id): id is string => id !== null);
    expect(held).toHaveLength(3);
    for (const b of budgets) expect(await reservations.held(b.budget_id, b.period_key)).toBe(900);
    await reservations.settle(held[0]!, 100, 60_000);
    expect(await reservations.held('rsv-5', '2026-12')).toBe(700);
    expect(await reservations.release(held)).toBe(3);
    for (const b of budgets) expect(await reservations.held(b.budget_id, b.period_key)).toBe(0);
  });

  it("shares a provider's rate limit between replicas: the window script and the start-up read of every model", async () => {
    const models = Array.from({ length: 20 }, (_, i) => ({ id: `limited-${i}` }));
    const seen: Array<ReadonlyMap<string, number>> = [new Map(), new Map()];
    const snapshotsOf = (replica: 0 | 1) =>
      ({ current: { models }, setRateLimited: (limited: ReadonlyMap<string, number>) => (seen[replica] = limited) }) as unknown as SnapshotStore;
    const logger = createLogger('cluster-test', 'error');
    const one = new RateLimitTracker(connect(), connect(), snapshotsOf(0), PREFIX, logger);
    const two = new RateLimitTracker(connect(), connect(), snapshotsOf(1), PREFIX, logger);
    await one.start();
    await two.start();
    const until = Date.now() + 60_000;
    for (const m of models.slice(0, 5)) await one.limit(m.id, until);
    // A shorter window from a slower replica never cuts the longer one.
    await two.limit('limited-0', until - 30_000);
    await waitUntil(() => seen[1]!.size === 5, { timeoutMs: 10_000, what: 'the notices reached the other replica' });
    // A third replica starting now reads every model's key (one MGET in one slot).
    const seenByLate: Array<ReadonlyMap<string, number>> = [new Map()];
    const late = new RateLimitTracker(connect(), connect(), { current: { models }, setRateLimited: (l: ReadonlyMap<string, number>) => (seenByLate[0] = l) } as unknown as SnapshotStore, PREFIX, logger);
    await late.start();
    expect([...seenByLate[0]!.keys()].sort()).toEqual(models.slice(0, 5).map((m) => m.id).sort());
    expect(seenByLate[0]!.get('limited-0')).toBe(until);
    await Promise.all([one.stop(), two.stop(), late.stop()]);
  });
});
