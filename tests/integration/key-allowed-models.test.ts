/**
 * A stored key's `allowed_models` / `allowed_providers` bind routing (issue 12): with keys created
 * through POST /api/v1/keys, generated allow-lists over the seeded catalog, the real API and the
 * mock provider:
 * - /api/v1/route never answers a disallowed model as the choice or a fallback, and ?explain=true
 *   names every disallowed model `key_not_allowed`;
 * - the gateway's `router/*` names call allowed models only; a registry model the key may not use
 *   is refused with 403 `key_not_allowed` and never called; GET /v1/models lists what the key may use;
 * - an A/B test with a variant the key may not use is skipped for that key (normal routing, no
 *   assignment reported); a key that may use every variant takes part.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type RunningApi, startApi } from '@model-router/api';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { keyAllowsModel, ROUTING_STRATEGIES, seededRandom } from '@model-router/domain';
import { createLogger } from '@model-router/logger';
import { startMockProvider } from '@model-router/mock-provider';
import { ADMIN_KEY, createTestEnv, type TestEnv } from '../support/index.js';

const quiet = (name: string) => createLogger(name, 'error');
const CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };
let env: TestEnv;
let mock: Awaited<ReturnType<typeof startMockProvider>>;
let api: RunningApi;
type CatalogModel = { id: string; provider: string; enabled: boolean };
let catalog: CatalogModel[];

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ host: '127.0.0.1', port: 0, logger: quiet('mock') });
  api = await startApi(env.config({ 'catalog.endpoint_base_url': `${mock.url}/v1` }), quiet('api'));
  catalog = (await call(ADMIN_KEY, 'GET', '/api/v1/models')).body.models;
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await mock?.stop();
  await env?.cleanup();
});

async function call(secret: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

interface Grant {
  allowed_models: string[];
  allowed_providers: string[];
}
async function createKey(name: string, grant: Grant): Promise<string> {
  const res = await call(ADMIN_KEY, 'POST', '/api/v1/keys', { name, ...grant });
  expect(res.status).toBe(201);
  return res.body.secret;
}
const chat = (secret: string, model: string, extra: Record<string, unknown> = {}) =>
  call(secret, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 16, ...extra });
const mockCalls = async (): Promise<Record<string, { requests: number }>> =>
  ((await (await fetch(`${mock.url}/_control/stats`, { headers: CONTROL })).json()) as { by_model: Record<string, { requests: number }> }).by_model;

describe('allowed models and providers filter routing', () => {
  it('for generated grants, /route and the gateway never choose nor fall back to a disallowed model', async () => {
    const ids = catalog.map((m) => m.id);
    const providers = [...new Set(catalog.map((m) => m.provider))];
    const enabled = catalog.filter((m) => m.enabled);
    // Generated from a fixed seed: up to 5 model ids and up to 2 providers each (either may be
    // empty: all). Grants that leave at least one enabled model; refusals are checked on their own below.
    const random = seededRandom(12);
    const pick = (from: readonly string[], most: number): string[] => {
      const n = Math.floor(random() * (most + 1));
      return [...from].sort(() => random() - 0.5).slice(0, n);
    };
    const grants = Array.from({ length: 60 }, () => ({ allowed_models: pick(ids, 5), allowed_providers: pick(providers, 2) }))
      .filter((g) => enabled.some((m) => keyAllowsModel(g, m)))
      .slice(0, 20);
    expect(grants.length).toBeGreaterThanOrEqual(10);
    let i = 0;
    for (const grant of grants) {
      const secret = await createKey(`generated ${i++}`, grant);
      const allowed = (id: string) => keyAllowsModel(grant, catalog.find((m) => m.id === id)!);
      for (const strategy of ROUTING_STRATEGIES) {
        const res = await call(secret, 'POST', '/api/v1/route?explain=true', { prompt: 'hello there', max_tokens: 50, strategy });
        expect(res.status).toBe(200);
        expect(allowed(res.body.model_id)).toBe(true);
        for (const fallback of res.body.fallbacks as string[]) expect(allowed(fallback)).toBe(true);
        for (const c of res.body.candidates as Array<{ model_id: string }>) expect(allowed(c.model_id)).toBe(true);
        // Every enabled model the key may not use is named for that reason.
        const named = new Set((res.body.excluded as Array<{ model_id: string; reason: string }>).filter((e) => e.reason === 'key_not_allowed').map((e) => e.model_id));
        expect(named).toEqual(new Set(enabled.filter((m) => !allowed(m.id)).map((m) => m.id)));

        const answered = await chat(secret, `router/${strategy}`);
        expect(answered.status).toBe(200);
        expect(allowed(answered.headers.get('x-router-model')!)).toBe(true);
      }
      const listed = ((await call(secret, 'GET', '/v1/models')).body.data as Array<{ id: string }>).map((m) => m.id).filter((id) => !id.startsWith('router/'));
      expect(new Set(listed)).toEqual(new Set(enabled.filter((m) => allowed(m.id)).map((m) => m.id)));
    }
  });

  it('an explicit model the key may not use: 403 key_not_allowed in OpenAI shape, and the provider is never called', async () => {
    const secret = await createKey('mini only', { allowed_models: ['gpt-4o-mini'], allowed_providers: [] });
    const before = (await mockCalls())['gpt-4o']?.requests ?? 0;
    const refused = await chat(secret, 'gpt-4o');
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ type: 'permission_error', code: 'key_not_allowed', param: 'model' });
    expect((await chat(secret, 'gpt-4o', { stream: true })).status).toBe(403);
    expect((await mockCalls())['gpt-4o']?.requests ?? 0).toBe(before);
    expect((await chat(secret, 'gpt-4o-mini')).status).toBe(200);

    // A provider allow-list works the same way; /route says why in its 4xx when nothing is left.
    const anthropic = await createKey('anthropic only', { allowed_models: [], allowed_providers: ['anthropic'] });
    expect((await chat(anthropic, 'gpt-4o-mini')).body.error.code).toBe('key_not_allowed');
    const none = await call(anthropic, 'POST', '/api/v1/route', { prompt: 'hi', providers: ['openai'] });
    expect(none.status).toBe(503);
    expect(new Set((none.body.error.details.excluded as Array<{ reason: string }>).map((e) => e.reason))).toContain('key_not_allowed');
  });

  it('an A/B test with a variant the key may not use is skipped for that key; a key that may use every variant takes part', async () => {
    const created = await call(ADMIN_KEY, 'POST', '/api/v1/abtests', {
      id: 'key_scope_test',
      name: 'gpt-4o vs claude',
      start_time: new Date(Date.now() - 60_000).toISOString(),
      end_time: new Date(Date.now() + 86_400_000).toISOString(),
      strategy: 'consistent_hash',
      variants: [
        { id: 'a', model_id: 'gpt-4o', weight: 0.5 },
        { id: 'b', model_id: 'claude-haiku-4-5', weight: 0.5 },
      ],
    });
    expect(created.status).toBe(201);
    expect((await call(ADMIN_KEY, 'POST', '/api/v1/abtests/key_scope_test/start')).status).toBe(200);

    const narrow = await createKey('openai only', { allowed_models: [], allowed_providers: ['openai'] });
    const wide = await createKey('both variants', { allowed_models: ['gpt-4o', 'claude-haiku-4-5'], allowed_providers: [] });
    const variantsSeen = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const narrowRoute = await call(narrow, 'POST', '/api/v1/route', { prompt: 'hi', user_id: `user-${u}`, enable_ab_test: true });
      expect(narrowRoute.body).toMatchObject({ is_ab_test: false, ab_test_id: null, variant_id: null, provider: 'openai' });
      const narrowChat = await chat(narrow, 'router/balanced', { user: `user-${u}` });
      expect(narrowChat.status).toBe(200);
      expect(narrowChat.headers.get('x-router-ab-test')).toBeNull();
      expect(narrowChat.headers.get('x-router-provider')).toBe('openai');

      const wideRoute = await call(wide, 'POST', '/api/v1/route', { prompt: 'hi', user_id: `user-${u}`, enable_ab_test: true });
      expect(wideRoute.body).toMatchObject({ is_ab_test: true, ab_test_id: 'key_scope_test' });
      expect(['gpt-4o', 'claude-haiku-4-5']).toContain(wideRoute.body.model_id);
      variantsSeen.add(wideRoute.body.variant_id);
    }
    expect(variantsSeen).toEqual(new Set(['a', 'b']));
  });
});
