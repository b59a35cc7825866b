/**
 * The gateway feeds the circuit breakers and obeys them: failed attempts open a model's shared
 * circuit (outcome reporter → health checker), after which no gateway call reaches that model —
 * routed calls go to the next model and a call naming it is refused without touching the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { startHealthChecker } from '@model-router/health-checker';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import OpenAI from 'openai';
import { createTestEnv, type TestEnv, waitUntil } from '../support/index.js';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';

// The mock's control API needs its key: startMockProvider's default, the development key.
const CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };

const quiet = (name: string) => createLogger(name, 'error');
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let api: RunningApi;
let checker: Awaited<ReturnType<typeof startHealthChecker>>;
let client: OpenAI;

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  const config = env.config({
    'catalog.endpoint_base_url': `${mock.url}/v1`,
    // The circuit stays open for the whole test, and probes do not interfere.
    'circuit_breaker.cooldown': 120_000,
    'workers.health_checker.probe_interval': 600_000,
  });
  api = await startApi(config, quiet('api'));
  checker = await startHealthChecker(config, { logger: quiet('health-checker'), opsPort: 0 });
  client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 60_000);

afterAll(async () => {
  await checker?.stop();
  await api?.stop();
  await mock?.stop();
  await env?.cleanup();
});

const FAILING = 'mistral-small-latest';
const NEXT = 'mistral-large-latest';
const routed = { model: 'router/cheapest', messages: [{ role: 'user' as const, content: 'circuit' }], max_tokens: 20, router: { providers: ['mistral'] } };

async function requestsTo(model: string): Promise<number> {
  const body = (await (await fetch(`${mock.url}/_control/stats`, { headers: CONTROL })).json()) as { by_model: Record<string, { requests: number }> };
  return body.by_model[model]?.requests ?? 0;
}

describe('circuit breakers and the gateway', () => {
  it('opens the circuit from gateway failures, then never calls the model while it is open', async () => {
    await fetch(`${mock.url}/_control/models/${FAILING}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...CONTROL }, body: JSON.stringify({ error_rate: 1 }) });
    // Each call fails on the first model and is answered by the next; the failures are recorded.
    // (The health checker's first probe may land between them and reset the count: call until open.)
    const health = async () =>
      (await (await fetch(`${api.url}/api/v1/models/${FAILING}/health`)).json()) as { circuit: string; window: { failures: number } | null };
    for (let i = 0; i < 10 && (await health()).circuit !== 'open'; i++) {
      const seen = (await health()).window?.failures ?? 0;
      const { response } = await client.chat.completions.create(routed as never).withResponse();
      expect([response.headers.get('x-router-model'), response.headers.get('x-router-attempts')]).toEqual([NEXT, '2']);
      // The failure reached the shared circuit (outcome summary → health checker) before the next call.
      await waitUntil(async () => {
        const h = await health();
        return h.circuit === 'open' || (h.window?.failures ?? 0) > seen;
      }, { timeoutMs: 5_000, what: 'the failure recorded' });
    }
    expect((await health()).circuit).toBe('open');
    await waitUntil(() => api.snapshots.current.runtime.get(FAILING)?.circuit === 'open', { timeoutMs: 2_000, what: 'the replica sees it open' });

    const before = await requestsTo(FAILING);
    for (let i = 0; i < 5; i++) {
      const { response } = await client.chat.completions.create({ ...routed, stream: i % 2 === 1 } as never).withResponse();
      expect([response.headers.get('x-router-model'), response.headers.get('x-router-attempts')]).toEqual([NEXT, '1']);
    }
    const named = await client.chat.completions.create({ ...routed, model: FAILING } as never).then(
      () => null,
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    expect([named!.status, named!.code]).toEqual([503, 'model_unavailable']);
    expect(await requestsTo(FAILING)).toBe(before);
  });
});
