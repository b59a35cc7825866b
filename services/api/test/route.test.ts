import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const SEED_EXAMPLE = {
  prompt: '用户的问题',
  max_tokens: 1000,
  strategy: 'cheapest',
  user_id: 'user123',
  enable_ab_test: true,
};

describe('POST /api/v1/route', () => {
  it("answers the seed's example with every field of the seed's response and the spec's additions", async () => {
    const res = await request(h.api.app).post('/api/v1/route').send(SEED_EXAMPLE).expect(200);
    const body = res.body;
    for (const key of [
      'model_id',
      'model_name',
      'provider',
      'estimated_cost',
      'estimated_latency',
      'reason',
      'ab_test_id',
      'variant_id',
      'is_ab_test',
      'request_id',
      'estimated_latency_ms',
      'prompt_tokens',
      'fallbacks',
    ]) {
      expect(body).toHaveProperty(key);
    }
    expect(body.estimated_latency).toBe(`${body.estimated_latency_ms}ms`);
    expect(body.is_ab_test).toBe(false);
    expect(body.request_id).toBe(res.headers['x-request-id']);
    expect(body.prompt_tokens).toBeGreaterThan(0);
    expect(body.fallbacks).toHaveLength(3);
    expect(body.fallbacks).not.toContain(body.model_id);
  });

  it('cheapest picks the model with the lowest estimate among all seeded models', async () => {
    const { body: route } = await request(h.api.app)
      .post('/api/v1/route?explain=true')
      .send({ prompt: 'Summarise this paragraph in one line.', max_tokens: 200, strategy: 'cheapest' })
      .expect(200);
    const { body: list } = await request(h.api.app).get('/api/v1/models').expect(200);
    const estimates = list.models.map(
      (m: { id: string; input_price_per_1k: number; output_price_per_1k: number }) => ({
        id: m.id,
        cost: (route.prompt_tokens * m.input_price_per_1k + 200 * m.output_price_per_1k) / 1000,
      }),
    );
    const min = Math.min(...estimates.map((e: { cost: number }) => e.cost));
    expect(route.estimated_cost).toBeCloseTo(min, 12);
    expect(route.candidates[0].model_id).toBe(route.model_id);
    expect(route.candidates).toHaveLength(list.models.length);
    expect(route.excluded).toEqual([]);
  });

  it('fastest picks the lowest nominal latency; each strategy names itself in reason', async () => {
    for (const strategy of ['cheapest', 'fastest', 'most_available', 'balanced']) {
      const { body } = await request(h.api.app).post('/api/v1/route').send({ prompt: 'hi', max_tokens: 10, strategy }).expect(200);
      expect(body.reason).toContain(strategy);
      expect(body.strategy).toBe(strategy);
    }
    const { body } = await request(h.api.app)
      .post('/api/v1/route?explain=true')
      .send({ prompt: 'hi', max_tokens: 10, strategy: 'fastest' })
      .expect(200);
    const latencies = body.candidates.map((c: { estimated_latency_ms: number }) => c.estimated_latency_ms);
    expect(body.estimated_latency_ms).toBe(Math.min(...latencies));
  });

  it('uses the configured default strategy when none is given', async () => {
    const { body } = await request(h.api.app).post('/api/v1/route').send({ prompt: 'hello' }).expect(200);
    expect(body.strategy).toBe('balanced');
  });

  it('explain lists the filter that removed each excluded model', async () => {
    const { body } = await request(h.api.app)
      .post('/api/v1/route?explain=true')
      .send({ prompt: 'describe the image', max_tokens: 100, providers: ['anthropic'], required_capabilities: ['vision'] })
      .expect(200);
    expect(body.provider).toBe('anthropic');
    const reasons = new Set(body.excluded.map((e: { reason: string }) => e.reason));
    expect(reasons).toEqual(new Set(['provider_not_allowed']));
    for (const c of body.candidates) expect(typeof c.score).toBe('number');
  });

  it('honours max_cost_usd and max_latency_ms', async () => {
    const { body } = await request(h.api.app)
      .post('/api/v1/route?explain=true')
      .send({ prompt: 'hi', max_tokens: 1000, strategy: 'balanced', max_cost_usd: 0.001, max_latency_ms: 600 })
      .expect(200);
    for (const c of body.candidates) {
      expect(c.estimated_cost).toBeLessThanOrEqual(0.001);
      expect(c.estimated_latency_ms).toBeLessThanOrEqual(600);
    }
    expect(body.excluded.length).toBeGreaterThan(0);
  });

  it('answers 503 NO_ELIGIBLE_MODEL with the reasons when nothing fits', async () => {
    const res = await request(h.api.app)
      .post('/api/v1/route')
      .send({ prompt: 'hi', max_tokens: 1000, required_capabilities: ['teleportation'] })
      .expect(503);
    expect(res.body.error.code).toBe('NO_ELIGIBLE_MODEL');
    expect(res.body.error.request_id).toBe(res.headers['x-request-id']);
    expect(res.body.error.details.excluded.length).toBeGreaterThan(0);
    expect(res.body.error.details.excluded.every((e: { reason: string }) => e.reason === 'missing_capabilities')).toBe(true);
  });

  it('excludes a model whose context window is too small for prompt + max_tokens', async () => {
    const { body } = await request(h.api.app)
      .post('/api/v1/route?explain=true')
      .send({ prompt: 'hello world', max_tokens: 127_999, strategy: 'cheapest' })
      .expect(200);
    const excluded = new Map(body.excluded.map((e: { model_id: string; reason: string }) => [e.model_id, e.reason]));
    // mistral-large-latest: 128,000 context and 128,000 output; 2 + 127,999 tokens do not fit.
    expect(body.prompt_tokens).toBe(2);
    expect(excluded.get('mistral-large-latest')).toBe('context_window_exceeded');
    // o4-mini: 200k context is enough, but 100,000 output tokens at most.
    expect(excluded.get('o4-mini')).toBe('max_output_tokens_exceeded');
    expect(body.candidates.map((c: { model_id: string }) => c.model_id)).toContain('gpt-5');
  });

  it('sees a model disabled through the registry on the next request', async () => {
    const first = await request(h.api.app).post('/api/v1/route').send({ prompt: 'hi', max_tokens: 10, strategy: 'cheapest' }).expect(200);
    await request(h.api.app).patch(`/api/v1/models/${first.body.model_id}`).set(ADMIN).send({ enabled: false }).expect(200);
    const second = await request(h.api.app).post('/api/v1/route').send({ prompt: 'hi', max_tokens: 10, strategy: 'cheapest' }).expect(200);
    expect(second.body.model_id).not.toBe(first.body.model_id);
    expect(second.body.model_id).toBe(first.body.fallbacks[0]);
    await request(h.api.app).patch(`/api/v1/models/${first.body.model_id}`).set(ADMIN).send({ enabled: true }).expect(200);
  });
});

describe('POST /api/v1/route with bad input', () => {
  const cases: Array<[string, unknown, number, string]> = [
    ['missing prompt', { max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['empty prompt', { prompt: '', max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['prompt not a string', { prompt: 42, max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens 0', { prompt: 'hi', max_tokens: 0 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens -1', { prompt: 'hi', max_tokens: -1 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens 1.5', { prompt: 'hi', max_tokens: 1.5 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens "10"', { prompt: 'hi', max_tokens: '10' }, 400, 'VALIDATION_ERROR'],
    ['max_tokens 10^9', { prompt: 'hi', max_tokens: 1e9 }, 400, 'VALIDATION_ERROR'],
    ['unknown strategy', { prompt: 'hi', strategy: 'random' }, 400, 'VALIDATION_ERROR'],
    ['enable_ab_test not boolean', { prompt: 'hi', enable_ab_test: 'yes' }, 400, 'VALIDATION_ERROR'],
    ['providers not an array', { prompt: 'hi', providers: 'openai' }, 400, 'VALIDATION_ERROR'],
    ['negative max_cost_usd', { prompt: 'hi', max_cost_usd: -1 }, 400, 'VALIDATION_ERROR'],
    ['unknown field', { prompt: 'hi', temperature: 0.2 }, 400, 'VALIDATION_ERROR'],
    ['array body', [{ prompt: 'hi' }], 400, 'VALIDATION_ERROR'],
  ];

  it.each(cases)('%s is refused', async (_name, body, status, code) => {
    const res = await request(h.api.app).post('/api/v1/route').send(body as object).expect(status);
    expect(res.body.error.code).toBe(code);
    expect(typeof res.body.error.message).toBe('string');
    expect(res.body.error.request_id).toBeTruthy();
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a body that is not JSON → 400 INVALID_JSON', async () => {
    const res = await request(h.api.app)
      .post('/api/v1/route')
      .set('content-type', 'application/json')
      .send('{"prompt": "hi",')
      .expect(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
  });

  it('a 2 MB body → 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await request(h.api.app)
      .post('/api/v1/route')
      .send({ prompt: 'x'.repeat(2 * 1024 * 1024) })
      .expect(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a body that is not declared as JSON → 415', async () => {
    const res = await request(h.api.app).post('/api/v1/route').set('content-type', 'text/plain').send('prompt=hi').expect(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});
