import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type CircuitPolicy, DEFAULT_CIRCUIT_POLICY, singleOutcome } from '@model-router/domain';
import { Redis } from 'ioredis';
import { circuitKey, CircuitStore, loadRuntime, type RuntimeChange, subscribeRuntimeChanges } from '../src/index.js';
import { REDIS_URL, redisTestPrefix } from './redis-env.js';

const policy: CircuitPolicy = { ...DEFAULT_CIRCUIT_POLICY, window: 60_000 };
const ok = singleOutcome(true, 50);
const fail = singleOutcome(false, 50);

const env = redisTestPrefix();
const clients: Redis[] = [];
const stores: CircuitStore[] = [];
let modelSeq = 0;

/** Each test works on models of its own. */
const newModel = (): string => `model-${++modelSeq}`;

/** A store on a connection of its own, as each replica or worker process has. */
function newStore(overrides: Partial<CircuitPolicy> = {}): CircuitStore {
  const redis = new Redis(REDIS_URL);
  clients.push(redis);
  const store = new CircuitStore(redis, { keyPrefix: env.prefix, policy: { ...policy, ...overrides } });
  stores.push(store);
  return store;
}

function newClient(): Redis {
  const redis = new Redis(REDIS_URL);
  clients.push(redis);
  return redis;
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not seen within ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(() => env.cleanup());

describe('CircuitStore', () => {
  it('opens a circuit after three failures and every reader sees it', async () => {
    const store = newStore();
    const id = newModel();
    const t = Date.now();
    expect((await store.recordOutcomes(id, fail, t)).circuit).toBe('closed');
    expect((await store.recordOutcomes(id, fail, t + 1)).health).toBe('degraded');
    const opened = await store.recordOutcomes(id, fail, t + 2);
    expect(opened).toMatchObject({ model_id: id, circuit: 'open', health: 'unhealthy', opened_at: t + 2, retry_at: t + 2 + policy.cooldown });

    const runtime = await loadRuntime(newClient(), env.prefix, [id, 'never-seen'], { policy, now: t + 3 });
    expect(runtime.get(id)).toMatchObject({ circuit: 'open', health: 'unhealthy', consecutive_failures: 3 });
    expect(runtime.get(id)?.window).toMatchObject({ failures: 3, successes: 0 });
    expect(runtime.get('never-seen')).toMatchObject({ circuit: 'closed', health: 'unknown', opened_at: null });
    // The transition to half-open is lazy: a read after the cooldown already shows it.
    expect((await store.getRuntime([id], t + 2 + policy.cooldown)).get(id)?.circuit).toBe('half_open');
  });

  it('keeps exact counts when two processes race 200 single-outcome updates on one model', async () => {
    // Thresholds out of reach, so the circuit stays closed and every outcome stays in the window.
    const thresholds = { consecutive_failures: 1_000_000, minimum_volume: 1_000_000 };
    const a = newStore(thresholds);
    const b = newStore(thresholds);
    const id = newModel();
    const t = Date.now();
    const updates = Array.from({ length: 200 }, (_, i) => {
      const store = i % 2 === 0 ? a : b;
      return store.recordOutcomes(id, i % 3 === 0 ? fail : ok, t + (i % 7));
    });
    await Promise.all(updates);
    const failures = Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === 0).length;
    const seenByA = (await a.getRuntime([id], t + 10)).get(id);
    const seenByB = (await b.getRuntime([id], t + 10)).get(id);
    expect(seenByA?.window).toMatchObject({ successes: 200 - failures, failures, volume: 200 });
    expect(seenByA?.window.mean_latency_ms).toBeCloseTo(50, 9);
    expect(seenByB).toEqual(seenByA);
  });

  it('opens exactly once under racing failures from two processes and counts every one', async () => {
    const a = newStore();
    const b = newStore();
    const subscriber = newClient();
    const id = newModel();
    const notices: RuntimeChange[] = [];
    await subscribeRuntimeChanges(subscriber, env.prefix, (n) => {
      if (n.model_id === id) notices.push(n);
    });
    const t = Date.now();
    await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).recordOutcomes(id, fail, t)));
    const view = (await a.getRuntime([id], t)).get(id);
    expect(view).toMatchObject({ circuit: 'open', opened_at: t });
    // Outcomes that arrive while open still count in the window.
    expect(view?.window.failures).toBe(100);
    await waitFor(() => notices.some((n) => n.circuit === 'open'), 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(notices.map((n) => `${n.circuit}/${n.health}`)).toEqual(['closed/degraded', 'open/unhealthy']);
  });

  it('grants exactly half_open_max_trials trials across two processes', async () => {
    const a = newStore();
    const b = newStore();
    const id = newModel();
    const t = Date.now();
    await a.recordOutcomes(id, { successes: 0, failures: 3, trailing_failures: 3 }, t);
    expect(await b.tryAcquireTrial(id, t + 1)).toBe(false); // open

    const halfOpenAt = t + policy.cooldown;
    const grants = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).tryAcquireTrial(id, halfOpenAt + (i % 3))));
    expect(grants.filter(Boolean)).toHaveLength(policy.half_open_max_trials);
    expect((await a.getRuntime([id], halfOpenAt + 5)).get(id)).toMatchObject({ circuit: 'half_open', trials_left: 0 });

    // Two successful trials close it; a closed circuit grants every request.
    await b.recordOutcomes(id, ok, halfOpenAt + 10);
    const closed = await a.recordOutcomes(id, ok, halfOpenAt + 11);
    expect(closed).toMatchObject({ circuit: 'closed', health: 'healthy' });
    expect(await b.tryAcquireTrial(id, halfOpenAt + 12)).toBe(true);
  });

  it('announces every change of circuit or health, and refresh makes a lazy half-open real', async () => {
    const store = newStore();
    const subscriber = newClient();
    const id = newModel();
    const notices: RuntimeChange[] = [];
    const unsubscribe = await subscribeRuntimeChanges(subscriber, env.prefix, (n) => {
      if (n.model_id === id) notices.push(n);
    });
    const t = Date.now();
    await store.recordOutcomes(id, ok, t); // closed/unknown → healthy
    await store.recordOutcomes(id, ok, t + 1); // no change, no notice
    await store.recordOutcomes(id, { successes: 0, failures: 3, trailing_failures: 3 }, t + 2); // open
    const retryAt = t + 2 + policy.cooldown;
    await store.refresh([id], retryAt - 1); // still open: nothing to announce
    const refreshed = await store.refresh([id], retryAt);
    expect(refreshed.get(id)).toMatchObject({ circuit: 'half_open', health: 'degraded' });
    await store.refresh([id], retryAt + 1); // already announced
    await store.recordOutcomes(id, fail, retryAt + 2); // a failed trial reopens with a new cooldown
    await waitFor(() => notices.length >= 4, 2000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(notices).toEqual([
      { model_id: id, circuit: 'closed', health: 'healthy', retry_at: null, at: t },
      { model_id: id, circuit: 'open', health: 'unhealthy', retry_at: retryAt, at: t + 2 },
      { model_id: id, circuit: 'half_open', health: 'degraded', retry_at: null, at: retryAt },
      { model_id: id, circuit: 'open', health: 'unhealthy', retry_at: retryAt + 2 + policy.cooldown, at: retryAt + 2 },
    ]);
    await unsubscribe();
  });

  it('reads a corrupt entry as a closed circuit, and reset closes a circuit', async () => {
    const store = newStore();
    const redis = newClient();
    const id = newModel();
    await redis.hset(circuitKey(env.prefix, id), { circuit: 'sideways', buckets: 'nonsense' });
    expect((await store.getRuntime([id])).get(id)).toMatchObject({ circuit: 'closed', health: 'unknown' });
    const t = Date.now();
    expect((await store.recordOutcomes(id, { successes: 0, failures: 5, trailing_failures: 5 }, t)).circuit).toBe('open');
    await store.reset(id, t + 1);
    expect((await store.getRuntime([id], t + 2)).get(id)).toMatchObject({ circuit: 'closed', health: 'unknown' });
  });

  it('rejects an impossible summary without writing', async () => {
    const store = newStore();
    const id = newModel();
    await expect(store.recordOutcomes(id, { successes: -1, failures: 0, trailing_failures: 0 })).rejects.toThrow(RangeError);
    expect(await newClient().exists(circuitKey(env.prefix, id))).toBe(0);
    // The store still works afterwards.
    expect((await store.recordOutcomes(id, ok)).health).toBe('healthy');
  });
});

beforeAll(async () => {
  // Fail early with a clear message when Redis is not there.
  const probe = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  await probe.connect();
  probe.disconnect();
});
