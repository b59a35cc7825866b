/**
 * API key rate limits across replicas (issue 12): two API processes, as production runs them, on
 * one database and Redis. A key limited to N requests (or T tokens) per minute gets exactly N
 * (or as many as fit in T) through 200 concurrent requests spread over both, and every other
 * request is a 429 RATE_LIMITED with Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { redisKeys } from '@model-router/redis';
import { ADMIN_KEY, createTestEnv, REDIS_URL, type TestEnv, waitUntil } from '@model-router/tests/support';
import { Redis } from 'ioredis';
import { ServiceProcess } from '../support/service-processes.js';

const CONCURRENT = 200;
let env: TestEnv;
let replicas: ServiceProcess[] = [];
let redis: Redis;

const admin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

async function call(api: ServiceProcess, path: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${api.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** A key with these limits, created on the first replica, once both replicas authenticate it. */
async function createKey(limits: { rpm?: number; tpm?: number }): Promise<{ id: string; secret: string }> {
  const created = await call(replicas[0]!, '/api/v1/keys', { name: 'replicated limits', ...limits }, admin);
  expect(created.status).toBe(201);
  const key = created.body as { id: string; secret: string };
  // Seen by both: a route request without a prompt is refused with 400 (counting nothing) once the
  // key opens the endpoint, while another key still gets 403 (the replica is not open to anyone).
  const status = async (api: ServiceProcess, secret: string) =>
    (await call(api, '/api/v1/route', {}, { authorization: `Bearer ${secret}`, 'content-type': 'application/json' })).status;
  for (const api of replicas) {
    await waitUntil(async () => (await status(api, key.secret)) === 400 && (await status(api, 'mr-not-a-key')) === 403, {
      timeoutMs: 5000,
      intervalMs: 20,
      what: `${api.name} knows the key`,
    });
  }
  return key;
}

/** `CONCURRENT` route requests at once, alternating between the replicas. */
async function burst(secret: string, body: Record<string, unknown>) {
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  return Promise.all(Array.from({ length: CONCURRENT }, (_, i) => call(replicas[i % 2]!, '/api/v1/route', body, headers)));
}

beforeAll(async () => {
  env = await createTestEnv();
  const vars = env.processEnv() as Record<string, string>;
  replicas = [await ServiceProcess.create('api-a', 'api', vars), await ServiceProcess.create('api-b', 'api', vars)];
  await Promise.all(replicas.map((r) => r.start()));
  redis = new Redis(REDIS_URL);
}, 180_000);

afterAll(async () => {
  for (const r of replicas) await r.stop();
  redis?.disconnect();
  await env?.cleanup();
});

describe('API key rate limits on two API processes', () => {
  it(`a key limited to N requests per minute gets exactly N through ${CONCURRENT} concurrent requests on both`, async () => {
    const N = 37;
    const key = await createKey({ rpm: N });
    const answers = await burst(key.secret, { prompt: 'hello', max_tokens: 10 });
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok).toHaveLength(N);
    expect(refused).toHaveLength(CONCURRENT - N);
    for (const r of refused) {
      expect(r.body.error.code).toBe('RATE_LIMITED');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    }
    // Each admitted answer saw a distinct count: N-1 … 0 remaining, once each, across both processes.
    const remaining = ok.map((a) => Number(a.headers.get('x-ratelimit-remaining-requests'))).sort((x, y) => x - y);
    expect(remaining).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(await redis.hget(redisKeys(env.redisPrefix).keyRateWindow(key.id), 'r')).toBe(String(N));
  });

  it(`a key limited to T tokens per minute gets exactly as many requests as fit in T through ${CONCURRENT} concurrent ones`, async () => {
    const body = { prompt: 'hello', max_tokens: 90 };
    const probe = await call(replicas[1]!, '/api/v1/route', body, admin);
    expect(probe.status).toBe(200);
    const cost = (probe.body.prompt_tokens as number) + body.max_tokens;
    const T = 2500;
    const key = await createKey({ tpm: T });
    const answers = await burst(key.secret, body);
    const fit = Math.floor(T / cost);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(fit);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(CONCURRENT - fit);
    for (const r of refused) expect(r.body.error.details).toMatchObject({ limit: 'tokens', used: fit * cost, requested: cost });
    expect(await redis.hget(redisKeys(env.redisPrefix).keyRateWindow(key.id), 't')).toBe(String(fit * cost));
  });
});
