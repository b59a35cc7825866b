/**
 * Rate limits of API keys (issue 12, item 4) through a real API, Redis, Postgres and the mock
 * provider: requests and tokens per minute on /api/v1/route, the metrics endpoints and the
 * gateway; 429 RATE_LIMITED in the API's error shape and in OpenAI's (read by the official client
 * as a RateLimitError); the x-ratelimit-* headers on every keyed answer; the gateway's estimate
 * corrected to the tokens used; no Redis work for a key without limits; fail-open without Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import { redisKeys } from '@model-router/redis';
import OpenAI from 'openai';
import { ADMIN_KEY, createTestEnv, REDIS_URL, type TestEnv, waitUntil } from '../support/index.js';
import { startOwnRedis } from '../support/own-redis.js';
import { monitorRedis } from '../support/redis-monitor.js';

const quiet = (name: string) => createLogger(name, 'error');
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let api: RunningApi;

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  api = await startApi(env.config({ 'catalog.endpoint_base_url': `${mock.url}/v1` }), quiet('api'));
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await mock?.stop();
  await env?.cleanup();
});

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

async function send(base: string, secret: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** A stored key with these limits, once this API authenticates it. */
async function createKey(limits: { rpm?: number | null; tpm?: number | null }, base = api.url): Promise<{ id: string; secret: string }> {
  const created = await send(base, ADMIN_KEY, 'POST', '/api/v1/keys', { name: `limits ${JSON.stringify(limits)}`, ...limits });
  expect(created.status).toBe(201);
  const { id, secret } = created.body as { id: string; secret: string };
  await waitUntil(async () => (await send(base, secret, 'GET', '/v1/models')).status === 200, { timeoutMs: 5000, intervalMs: 20, what: 'the key to work' });
  return { id, secret };
}

const ratelimitHeaders = (headers: Headers) => Object.fromEntries([...headers].filter(([name]) => name.startsWith('x-ratelimit-') || name.startsWith('retry-after')));
const route = (secret: string, body: Record<string, unknown> = {}) => send(api.url, secret, 'POST', '/api/v1/route', { prompt: 'hello there', max_tokens: 10, ...body });
const metric = (tokens: { prompt_tokens: number; completion_tokens: number }) => ({ model_id: 'gpt-4o-mini', success: true, latency_ms: 120, ...tokens });
const windowOf = (keyId: string) => api.redis.hgetall(redisKeys(env.redisPrefix).keyRateWindow(keyId));

describe('API key rate limits', () => {
  it('/route: rpm requests, then 429 RATE_LIMITED with Retry-After and the x-ratelimit headers', async () => {
    const key = await createKey({ rpm: 3 });
    for (const remaining of [2, 1, 0]) {
      const ok = await route(key.secret);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('3');
      expect(ok.headers.get('x-ratelimit-remaining-requests')).toBe(String(remaining));
      expect(ok.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/);
      // A key without a token limit gets no token headers.
      expect(ok.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    }
    const refused = await route(key.secret);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { limit: 'requests', limit_value: 3, used: 3, requested: 1 } });
    expect(refused.body.error.message).toMatch(/^Rate limit reached for key key_\w+ on requests per min \(RPM\): Limit 3, Used 3, Requested 1\. Please try again in /);
    expect(typeof refused.body.error.request_id).toBe('string');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(ratelimitHeaders(refused.headers)).toMatchObject({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0' });
    // The refused request was not counted.
    expect((await windowOf(key.id)).r).toBe('3');
  });

  it('/route: tpm counts prompt tokens + max_tokens; a request larger than the limit gets no Retry-After', async () => {
    const key = await createKey({ tpm: 100 });
    const first = await route(key.secret, { max_tokens: 40 });
    expect(first.status).toBe(200);
    const cost = first.body.prompt_tokens + 40;
    expect(first.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100 - cost));
    expect(first.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect((await route(key.secret, { max_tokens: 40 })).status).toBe(200);
    const refused = await route(key.secret, { max_tokens: 40 });
    expect(refused.status).toBe(429);
    expect(refused.body.error.details).toMatchObject({ limit: 'tokens', used: 2 * cost, requested: cost });
    expect(refused.headers.get('retry-after')).not.toBeNull();

    const other = await createKey({ tpm: 100 });
    const tooLarge = await route(other.secret, { max_tokens: 500 });
    expect(tooLarge.status).toBe(429);
    expect(tooLarge.body.error.message).toMatch(/^Request too large for key key_\w+ on tokens per min \(TPM\): Limit 100, Requested \d+\./);
    expect(tooLarge.headers.get('retry-after')).toBeNull();
    // Nothing was counted: a small request still fits whole.
    const small = await route(other.secret, { max_tokens: 10 });
    expect(small.status).toBe(200);
    expect(small.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100 - small.body.prompt_tokens - 10));
  });

  it('metrics endpoints: one request each, and the tokens they report', async () => {
    const key = await createKey({ rpm: 2, tpm: 1000 });
    const one = await send(api.url, key.secret, 'POST', '/api/v1/metrics', metric({ prompt_tokens: 300, completion_tokens: 200 }));
    expect(one.status).toBe(202);
    expect(ratelimitHeaders(one.headers)).toMatchObject({ 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-remaining-tokens': '500' });
    const tooMany = await send(api.url, key.secret, 'POST', '/api/v1/metrics', { metrics: [metric({ prompt_tokens: 300, completion_tokens: 201 })] });
    expect(tooMany.status).toBe(429);
    expect(tooMany.body.error.details).toMatchObject({ limit: 'tokens', used: 500, requested: 501 });
    const batch = await send(api.url, key.secret, 'POST', '/api/v1/metrics', { metrics: [metric({ prompt_tokens: 100, completion_tokens: 100 }), metric({ prompt_tokens: 50, completion_tokens: 50 })] });
    expect(batch.status).toBe(202);
    expect(ratelimitHeaders(batch.headers)).toMatchObject({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '200' });
    const third = await send(api.url, key.secret, 'POST', '/api/v1/metrics', metric({ prompt_tokens: 1, completion_tokens: 1 }));
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('RATE_LIMITED');
    // Refused requests counted nowhere.
    expect(await windowOf(key.id)).toMatchObject({ r: '2', t: '800' });
  });

  it('the A/B test metrics endpoint counts against the same window', async () => {
    const created = await send(api.url, ADMIN_KEY, 'POST', '/api/v1/abtests', {
      id: 'limits_ab',
      name: 'limits',
      strategy: 'consistent_hash',
      variants: [
        { id: 'a', model_id: 'gpt-4o', weight: 0.5 },
        { id: 'b', model_id: 'gpt-4o-mini', weight: 0.5 },
      ],
    });
    expect(created.status).toBe(201);
    expect((await send(api.url, ADMIN_KEY, 'POST', '/api/v1/abtests/limits_ab/start')).status).toBe(200);
    const key = await createKey({ rpm: 2, tpm: 100 });
    const abMetric = (tokens: number) => ({ variant_id: 'a', success: true, latency_ms: 90, prompt_tokens: tokens, completion_tokens: 0 });
    const first = await send(api.url, key.secret, 'POST', '/api/v1/metrics', metric({ prompt_tokens: 30, completion_tokens: 30 }));
    expect(first.status).toBe(202);
    const overTokens = await send(api.url, key.secret, 'POST', '/api/v1/abtests/limits_ab/metrics', abMetric(41));
    expect(overTokens.status).toBe(429);
    expect(overTokens.body.error.details).toMatchObject({ limit: 'tokens', used: 60, requested: 41 });
    const second = await send(api.url, key.secret, 'POST', '/api/v1/abtests/limits_ab/metrics', abMetric(40));
    expect(second.status).toBe(202);
    expect(ratelimitHeaders(second.headers)).toMatchObject({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '0' });
    const third = await send(api.url, key.secret, 'POST', '/api/v1/abtests/limits_ab/metrics', abMetric(0));
    expect(third.body.error.details).toMatchObject({ limit: 'requests', used: 2 });
  });

  it('gateway: 429 in OpenAI\'s shape (a RateLimitError of the official client), headers on answers', async () => {
    const key = await createKey({ rpm: 1 });
    const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: key.secret, maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }).withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const error = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimited.status).toBe(429);
    expect(rateLimited.code).toBe('rate_limit_exceeded');
    expect(rateLimited.type).toBe('requests');
    expect(Number(rateLimited.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(rateLimited.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('gateway: tokens are counted as estimated, then corrected to what the call used', async () => {
    const key = await createKey({ tpm: 100_000 });
    const answer = await send(api.url, key.secret, 'POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 5000 });
    expect(answer.status).toBe(200);
    // At admission: prompt tokens + max_tokens.
    const remainingAtAdmission = Number(answer.headers.get('x-ratelimit-remaining-tokens'));
    expect(100_000 - remainingAtAdmission).toBeGreaterThan(5000);
    const used = answer.body.usage.prompt_tokens + answer.body.usage.completion_tokens;
    expect(used).toBeLessThan(5000);
    await waitUntil(async () => (await windowOf(key.id)).t === String(used), { timeoutMs: 5000, intervalMs: 10, what: 'the correction' });
    // A streamed answer too: its usage replaces its estimate.
    const stream = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }], max_tokens: 3000, stream: true, stream_options: { include_usage: true } }),
    });
    expect(stream.headers.get('x-ratelimit-limit-tokens')).toBe('100000');
    const text = await stream.text();
    const usage = text
      .split('\n')
      .filter((line) => line.startsWith('data: {'))
      .map((line) => JSON.parse(line.slice(6)) as { usage?: { prompt_tokens: number; completion_tokens: number } })
      .find((chunk) => chunk.usage)?.usage;
    expect(usage).toBeDefined();
    const total = used + usage!.prompt_tokens + usage!.completion_tokens;
    await waitUntil(async () => (await windowOf(key.id)).t === String(total), { timeoutMs: 5000, intervalMs: 10, what: 'the stream\'s correction' });
  });

  it('a key without limits and the admin key cost no Redis round trip and get no headers', async () => {
    // Every command the API sends is watched (MONITOR on a connection of the test's own): none may
    // touch a key's tag `{prefix:key:ID}`, where all of a key's rate state lives. A limited key is
    // the control: its requests do touch its tag, so the watch sees what it should.
    const monitor = await monitorRedis(REDIS_URL);
    try {
      const free = await createKey({});
      const limited = await createKey({ rpm: 100 });
      for (const secret of [free.secret, ADMIN_KEY]) {
        const ok = await route(secret);
        expect(ok.status).toBe(200);
        expect(ratelimitHeaders(ok.headers)).toEqual({});
      }
      expect((await route(limited.secret)).status).toBe(200);
      const keys = redisKeys(env.redisPrefix);
      await waitUntil(async () => monitor.lines.some((command) => command.includes(keys.keyTag(limited.id))), { timeoutMs: 5000, intervalMs: 10, what: "the limited key's commands" });
      expect(monitor.lines.filter((command) => command.includes(keys.keyTag(free.id)) || command.includes(keys.keyTag('admin')))).toEqual([]);
    } finally {
      monitor.stop();
    }
  });

  it('fails open: while Redis is away a limited key is served without headers, and the metric counts it', async () => {
    const own = await startOwnRedis();
    const ownEnv = await createTestEnv();
    const replica = await startApi(ownEnv.config({ 'redis.url': own.url, 'catalog.endpoint_base_url': `${mock.url}/v1` }), quiet('api-own-redis'));
    try {
      const key = await createKey({ rpm: 1 }, replica.url);
      const body = { prompt: 'hello', max_tokens: 10 };
      expect((await send(replica.url, key.secret, 'POST', '/api/v1/route', body)).status).toBe(200);
      expect((await send(replica.url, key.secret, 'POST', '/api/v1/route', body)).status).toBe(429);
      await own.kill();
      for (let i = 0; i < 3; i++) {
        const served = await send(replica.url, key.secret, 'POST', '/api/v1/route', body);
        expect(served.status).toBe(200);
        expect(ratelimitHeaders(served.headers)).toEqual({});
      }
      const metrics = await (await fetch(`${replica.url}/metrics`)).text();
      expect(metrics).toMatch(/^model_router_key_rate_limit_unavailable_total\{service="api"\} 3$/m);
      expect(metrics).toMatch(/^model_router_key_rate_limited_total\{[^}]*limit="requests"[^}]*\} 1$/m);
    } finally {
      // Back before the replica stops: it flushes what it holds to Redis on the way out.
      if (own.pid() === null) await own.start();
      await replica.stop();
      await own.destroy();
      await ownEnv.cleanup();
    }
  });
});
