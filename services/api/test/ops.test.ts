import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

describe('operations endpoints', () => {
  it('/healthz answers while the process is up', async () => {
    expect((await request(h.api.app).get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
  });

  it('/readyz checks Postgres and Redis', async () => {
    const { body } = await request(h.api.app).get('/readyz').expect(200);
    expect(body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
  });

  it('/metrics counts route decisions by strategy, model and provider', async () => {
    const { body: decision } = await request(h.api.app)
      .post('/api/v1/route')
      .send({ prompt: 'hi', max_tokens: 10, strategy: 'cheapest' })
      .expect(200);
    const text = (await request(h.api.app).get('/metrics').expect(200)).text;
    const line = text
      .split('\n')
      .find((l) => l.startsWith('model_router_route_decisions_total{') && l.includes(`model="${decision.model_id}"`));
    expect(line).toContain('strategy="cheapest"');
    expect(line).toContain(`provider="${decision.provider}"`);
    expect(line).toMatch(/ 1$/);
    expect(text).toContain('model_router_route_decision_seconds_bucket');
    expect(text).toMatch(/model_router_http_requests_total\{[^}]*route="\/api\/v1\/route"[^}]*status="200"/);
  });

  it('echoes a safe X-Request-Id and replaces an unsafe one', async () => {
    const safe = await request(h.api.app).get('/healthz').set('x-request-id', 'abc-123').expect(200);
    expect(safe.headers['x-request-id']).toBe('abc-123');
    const unsafe = await request(h.api.app).get('/healthz').set('x-request-id', 'bad id <script>').expect(200);
    expect(unsafe.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an unknown path answers the JSON error envelope', async () => {
    const res = await request(h.api.app).get('/api/v1/nothing-here').expect(404);
    expect(res.body).toEqual({
      error: { code: 'NOT_FOUND', message: 'no endpoint GET /api/v1/nothing-here', request_id: res.headers['x-request-id'] },
    });
  });
});
