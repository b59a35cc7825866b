/**
 * The gateway feeds the circuit breakers and obeys them: failed attempts open a model's shared
 * circuit (outcome reporter → health checker), after which no gateway call reaches that model —
 * routed calls go to the next model and a call naming it is refused without touching the provider.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startHealthChecker } from '@model-router/health-checker';
import type OpenAI from 'openai';
import { type TestEnv, waitUntil } from '../support/index.js';
import { MOCK_CONTROL, type MockGateway, quietLogger as quiet, startMockGateway } from '../support/mock-gateway.js';

let gateway: MockGateway;
let env: TestEnv;
let mock: MockGateway['mock'];
let api: MockGateway['api'];
let checker: Awaited<ReturnType<typeof startHealthChecker>>;
let client: OpenAI;

beforeAll(async () => {
  gateway = await startMockGateway({
    // The circuit stays open for the whole test, and probes do not interfere.
    'circuit_breaker.cooldown': 120_000,
    'workers.health_checker.probe_interval': 600_000,
  });
  ({ env, mock, api, client } = gateway);
  checker = await startHealthChecker(gateway.config, { logger: quiet('health-checker'), opsPort: 0 });
}, 60_000);

afterAll(async () => {
  await checker?.stop();
  await gateway?.stop();
});

const FAILING = 'mistral-small-latest';
const NEXT = 'mistral-large-latest';
const routed = { model: 'router/cheapest', messages: [{ role: 'user' as const, content: 'circuit' }], max_tokens: 20, router: { providers: ['mistral'] } };

async function requestsTo(model: string): Promise<number> {
  const body = (await (await fetch(`${mock.url}/_control/stats`, { headers: MOCK_CONTROL })).json()) as { by_model: Record<string, { requests: number }> };
  return body.by_model[model]?.requests ?? 0;
}

describe('circuit breakers and the gateway', () => {
  it('opens the circuit from gateway failures, then never calls the model while it is open', async () => {
    await fetch(`${mock.url}/_control/models/${FAILING}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...MOCK_CONTROL }, body: JSON.stringify({ error_rate: 1 }) });
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
