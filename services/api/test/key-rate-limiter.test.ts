/**
 * KeyRateLimiter on real Redis: exact across replicas (separate connections) under concurrency,
 * both limits checked and counted together, the window's reset (a short window, counted, not
 * timed), corrections that only touch the window that admitted, and fail-open when Redis is away.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedis, redisKeys } from '@model-router/redis';
import { REDIS_URL, waitUntil } from '@model-router/tests/support';
import { startOwnRedis } from '../../../tests/support/own-redis.js';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { type KeyAdmission, KeyRateLimiter } from '../src/keys/key-rate-limiter.js';

const prefix = `mrtest:${randomBytes(4).toString('hex')}`;
let redis: Redis;
/** Two connections, each with its own limiter: two API replicas. */
let replicas: KeyRateLimiter[] = [];
const connections: Redis[] = [];
let nextKey = 0;
const keyId = () => `key_test${String(nextKey++).padStart(16, '0')}`;

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  for (let i = 0; i < 2; i++) connections.push(new Redis(REDIS_URL));
  replicas = connections.map((c) => new KeyRateLimiter(c, prefix));
});
afterAll(async () => {
  const found = await redis.keys(`{${prefix}:*`);
  if (found.length) await redis.del(...found);
  redis.disconnect();
  for (const c of connections) c.disconnect();
});

const windowOf = async (id: string) => redis.hgetall(redisKeys(prefix).keyRateWindow(id));
const admitted = (results: KeyAdmission[]) => results.filter((r) => r.status === 'admitted');

/** `n` requests at once, spread over both replicas, each costing `cost(i)` tokens. */
function burst(grant: { id: string; rpm: number | null; tpm: number | null }, n: number, cost: (i: number) => number): Promise<KeyAdmission[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => replicas[i % 2]!.admit(grant, cost(i))));
}

describe('KeyRateLimiter', () => {
  it('lets exactly rpm requests through 400 concurrent ones on two replicas', async () => {
    const grant = { id: keyId(), rpm: 57, tpm: null };
    const results = await burst(grant, 400, () => 10);
    expect(admitted(results)).toHaveLength(57);
    expect(results.filter((r) => r.status === 'refused' && r.limit === 'requests')).toHaveLength(343);
    // Refused requests count nowhere.
    expect(await windowOf(grant.id)).toMatchObject({ r: '57', t: '570' });
  });

  it('decides the requests of one turn in the order they arrived (one script call per key and turn)', async () => {
    const grant = { id: keyId(), rpm: 5, tpm: 60 };
    const other = { id: keyId(), rpm: 2, tpm: null };
    // Issued in one turn: two keys interleaved, as a replica's concurrent requests would be.
    const pending = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? replicas[0]!.admit(grant, 10 + (i % 3)) : replicas[0]!.admit(other, 1)));
    const results = await Promise.all(pending);
    const mine = results.filter((_, i) => i % 2 === 0);
    const theirs = results.filter((_, i) => i % 2 === 1);
    // Costs 10, 12, 11, 10, 12, … : 10+12+11+10 = 43 fits, +12 = 55 fits (5 requests), then the rpm.
    expect(mine.map((r) => r.status)).toEqual(['admitted', 'admitted', 'admitted', 'admitted', 'admitted', 'refused', 'refused', 'refused', 'refused', 'refused']);
    expect(mine.slice(0, 5).map((r) => (r.status === 'admitted' ? r.requests : -1))).toEqual([1, 2, 3, 4, 5]);
    expect(theirs.map((r) => r.status)).toEqual(['admitted', 'admitted', ...Array(8).fill('refused')]);
    expect(await windowOf(grant.id)).toMatchObject({ r: '5', t: '55' });
  });

  it('lets exactly the tokens of tpm through, and counts a request in both or neither', async () => {
    const grant = { id: keyId(), rpm: 200, tpm: 1000 };
    // 300 requests of 1..13 tokens: the token limit binds first (about 140 fit).
    const results = await burst(grant, 300, (i) => 1 + (i % 13));
    const ok = admitted(results);
    const tokens = ok.reduce((sum, r) => sum + (r.status === 'admitted' ? r.estimate : 0), 0);
    expect(tokens).toBeLessThanOrEqual(1000);
    expect(ok.length).toBeLessThan(200);
    const window = await windowOf(grant.id);
    expect(Number(window.r)).toBe(ok.length);
    expect(Number(window.t)).toBe(tokens);
    // Every refusal was needed: at its turn the window was full for it.
    for (const r of results) {
      if (r.status !== 'refused') continue;
      if (r.limit === 'requests') expect(r.requests).toBe(200);
      else expect(r.tokens + r.estimate).toBeGreaterThan(1000);
    }
    // The window ended up full to within the largest request (13): nothing was refused for nothing.
    expect(tokens).toBeGreaterThan(1000 - 13);
  });

  it('admits what a sequential model of both limits admits, for generated limits and requests', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
        fc.option(fc.integer({ min: 0, max: 300 }), { nil: null }),
        fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 1, maxLength: 40 }),
        async (rpm, tpm, costs) => {
          const grant = { id: keyId(), rpm, tpm };
          let requests = 0;
          let tokens = 0;
          for (const [i, cost] of costs.entries()) {
            const result = await replicas[i % 2]!.admit(grant, cost);
            const byRequests = rpm !== null && requests + 1 > rpm;
            const byTokens = !byRequests && tpm !== null && tokens + cost > tpm;
            if (byRequests || byTokens) {
              expect(result).toMatchObject({ status: 'refused', limit: byRequests ? 'requests' : 'tokens', requests, tokens, tooLarge: byTokens && cost > tpm! });
            } else {
              requests++;
              tokens += cost;
              expect(result).toMatchObject({ status: 'admitted', requests, tokens, rpm, tpm });
            }
            if (result.status !== 'unavailable') expect(result.resetMs).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('starts a new window when the last one ends (a short window; counted, not timed)', async () => {
    const limiter = new KeyRateLimiter(connections[0]!, prefix, { windowMs: 200 });
    const grant = { id: keyId(), rpm: 3, tpm: null };
    const results: KeyAdmission[] = [];
    // Bursts of 10 until a second window has admitted requests: however slow the machine, each
    // window admits at most rpm, and a refusal only ever meets a full window.
    await waitUntil(
      async () => {
        results.push(...(await Promise.all(Array.from({ length: 10 }, () => limiter.admit(grant, 1)))));
        return new Set(admitted(results).map((r) => (r.status === 'admitted' ? r.window : ''))).size >= 2;
      },
      { timeoutMs: 20_000, intervalMs: 20, what: 'a second window' },
    );
    const perWindow = new Map<string, number>();
    for (const r of results) if (r.status === 'admitted') perWindow.set(r.window, (perWindow.get(r.window) ?? 0) + 1);
    expect(perWindow.size).toBeGreaterThanOrEqual(2);
    for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(3);
    // The first burst met an empty window: exactly 3 of its 10.
    expect(admitted(results.slice(0, 10))).toHaveLength(3);
    for (const r of results) if (r.status === 'refused') expect(r.requests).toBe(3);
    // Each window restarts the count: its first admission is its first request.
    const firsts = new Map<string, number>();
    for (const r of results) if (r.status === 'admitted' && !firsts.has(r.window)) firsts.set(r.window, r.requests);
    expect([...firsts.values()].every((n) => n === 1)).toBe(true);
  });

  it('corrects the estimate in the window that admitted it, never below zero, and never a later window', async () => {
    const limiter = new KeyRateLimiter(connections[0]!, prefix, { windowMs: 60_000 });
    const grant = { id: keyId(), rpm: null, tpm: 1000 };
    const a = await limiter.admit(grant, 600);
    const b = await limiter.admit(grant, 300);
    expect(a.status).toBe('admitted');
    expect(b.status).toBe('admitted');
    if (a.status !== 'admitted' || b.status !== 'admitted') return;
    // Used 100 of the 600 estimated: 500 tokens come back.
    expect(await limiter.correct(a, 100)).toBe(true);
    expect(await windowOf(grant.id)).toMatchObject({ r: '2', t: '400' });
    // Used more than estimated: the difference is added.
    expect(await limiter.correct(b, 450)).toBe(true);
    expect((await windowOf(grant.id)).t).toBe('550');
    expect((await limiter.admit(grant, 451)).status).toBe('refused');
    expect((await limiter.admit(grant, 450)).status).toBe('admitted');
    // A correction never takes the window below zero.
    const key = redisKeys(prefix).keyRateWindow(grant.id);
    await redis.hset(key, 't', 5);
    expect(await limiter.correct(a, 0)).toBe(true);
    expect((await windowOf(grant.id)).t).toBe('0');

    // After the window ended, a correction leaves the new window alone.
    const short = new KeyRateLimiter(connections[1]!, prefix, { windowMs: 100 });
    const g2 = { id: keyId(), rpm: null, tpm: 1000 };
    const old = await short.admit(g2, 500);
    await waitUntil(async () => (await redis.exists(redisKeys(prefix).keyRateWindow(g2.id))) === 0, { timeoutMs: 10_000, intervalMs: 10, what: 'the window to end' });
    const fresh = await short.admit(g2, 10);
    expect(fresh).toMatchObject({ status: 'admitted', tokens: 10 });
    if (old.status !== 'admitted') throw new Error('not admitted');
    expect(await short.correct(old, 0)).toBe(false);
    expect((await windowOf(g2.id)).t).toBe('10');
  });

  it('puts a key window under the key\'s hash tag', () => {
    expect(redisKeys('p').keyRateWindow('key_abc')).toBe('{p:key:key_abc}:rate');
    expect(redisKeys('p').keyRateWindow('key_abc').startsWith(redisKeys('p').keyTag('key_abc'))).toBe(true);
  });

  it('admits without counting when Redis is away (fail-open), and says so', async () => {
    const own = await startOwnRedis();
    // The API's own kind of client: fail-fast, no offline queue.
    const client = createRedis(own.url, { failFast: true });
    client.on('error', () => undefined);
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    const failures: unknown[] = [];
    const limiter = new KeyRateLimiter(client, prefix, { onUnavailable: (error) => failures.push(error) });
    try {
      const grant = { id: keyId(), rpm: 1, tpm: null };
      expect((await limiter.admit(grant, 1)).status).toBe('admitted');
      expect((await limiter.admit(grant, 1)).status).toBe('refused');
      await own.kill();
      const results = await Promise.all(Array.from({ length: 5 }, () => limiter.admit(grant, 1)));
      expect(results).toEqual(Array.from({ length: 5 }, () => ({ status: 'unavailable' })));
      expect(failures).toHaveLength(5);
    } finally {
      client.disconnect();
      await own.destroy();
    }
  });
});
