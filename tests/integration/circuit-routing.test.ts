/**
 * Across services: two API replicas, the health checker and the mock provider. A model whose
 * endpoint starts failing leaves routing on both replicas once its shared circuit opens, is tried
 * again after the cooldown, and comes back when it recovers. Reported failures open it too.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { startHealthChecker } from '@model-router/health-checker';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import { createTestEnv, type TestEnv, waitUntil } from '../support/index.js';

const quiet = (name: string) => createLogger(name, 'error');
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let apis: RunningApi[];
let checker: Awaited<ReturnType<typeof startHealthChecker>>;

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  const config = env.config({
    'catalog.endpoint_base_url': `${mock.url}/v1`,
    'workers.health_checker.probe_interval': 200,
    'workers.health_checker.probe_timeout': 500,
    'circuit_breaker.cooldown': 1500,
  });
  apis = [await startApi(config, quiet('api-a')), await startApi(config, quiet('api-b'))];
  checker = await startHealthChecker(config, { logger: quiet('health-checker') });
}, 60_000);

afterAll(async () => {
  await checker?.stop();
  for (const api of apis ?? []) await api.stop();
  await mock?.stop();
  await env?.cleanup();
});

async function routeMistral(api: RunningApi): Promise<string> {
  const res = await fetch(`${api.url}/api/v1/route`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'hello', max_tokens: 100, strategy: 'cheapest', providers: ['mistral'] }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { model_id: string }).model_id;
}

async function health(api: RunningApi, id: string): Promise<{ circuit: string; health: string; consecutive_failures: number }> {
  return (await (await fetch(`${api.url}/api/v1/models/${id}/health`)).json()) as never;
}

const control = (id: string, settings: Record<string, unknown>) =>
  fetch(`${mock.url}/_control/models/${id}`, {
    method: 'PUT',
    // startMockProvider's control key when none is given: the development key.
    headers: { 'content-type': 'application/json', authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` },
    body: JSON.stringify(settings),
  });

describe('circuit breakers shared by API replicas', () => {
  it('takes a failing model out of routing on both replicas, retries it after the cooldown, and restores it', async () => {
    const model = 'mistral-small-latest';
    for (const api of apis) expect(await routeMistral(api)).toBe(model);

    expect((await control(model, { down: true })).status).toBe(200);
    await waitUntil(async () => (await health(apis[0]!, model)).circuit === 'open', { timeoutMs: 10_000, what: 'circuit open' });
    // It opened on the consecutive-failures rule: after 3 failed probes, not more.
    expect((await health(apis[1]!, model)).consecutive_failures).toBe(3);
    await waitUntil(async () => (await routeMistral(apis[0]!)) !== model && (await routeMistral(apis[1]!)) !== model, { timeoutMs: 2_000, what: 'both replicas route around it' });
    expect(await routeMistral(apis[1]!)).toBe('mistral-large-latest');

    // Still down: after the cooldown a trial fails and the circuit opens again.
    await waitUntil(async () => (await health(apis[0]!, model)).circuit === 'half_open', { timeoutMs: 10_000, what: 'half-open after cooldown' });
    await waitUntil(async () => (await health(apis[0]!, model)).circuit === 'open', { timeoutMs: 10_000, what: 'reopened after a failed trial' });

    expect((await control(model, { down: false })).status).toBe(200);
    await waitUntil(async () => (await health(apis[1]!, model)).circuit === 'closed', { timeoutMs: 15_000, what: 'closed after recovery' });
    await waitUntil(async () => (await routeMistral(apis[0]!)) === model && (await routeMistral(apis[1]!)) === model, { timeoutMs: 2_000, what: 'back in routing on both' });
    expect((await health(apis[0]!, model)).health).toBe('healthy');
  }, 60_000);

  it('opens a circuit from reported failures (passive health), seen by both replicas', async () => {
    const model = 'gemini-2.5-flash-lite';
    // The mock keeps answering probes for this model; only the reported calls fail.
    const failures = Array.from({ length: 5 }, () => ({ model_id: model, success: false, latency_ms: 900 }));
    const res = await fetch(`${apis[0]!.url}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: failures }),
    });
    expect(res.status).toBe(202);
    await waitUntil(() => apis.every((api) => api.snapshots.current.runtime.get(model)?.circuit === 'open'), {
      timeoutMs: 10_000,
      what: 'open on both replicas',
    });
  }, 30_000);
});
