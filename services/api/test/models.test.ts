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

const NEW_MODEL = {
  id: 'acme-large-1',
  name: 'Acme Large 1',
  provider: 'acme',
  input_price_per_1k: 0.001,
  output_price_per_1k: 0.002,
  context_window: 32_000,
  max_output_tokens: 4_000,
  capabilities: ['chat', 'tools'],
  latency_ms: 300,
  endpoint: 'http://127.0.0.1:9010/v1',
};

const listModels = async () => (await request(h.api.app).get('/api/v1/models').expect(200)).body.models;

describe('the seeded catalog', () => {
  it('has at least 12 models from at least 4 providers, each with prices and an endpoint', async () => {
    const models = await listModels();
    expect(models.length).toBeGreaterThanOrEqual(12);
    expect(new Set(models.map((m: { provider: string }) => m.provider)).size).toBeGreaterThanOrEqual(4);
    for (const m of models) {
      expect(m.input_price_per_1k).toBeGreaterThanOrEqual(0);
      expect(m.output_price_per_1k).toBeGreaterThan(0);
      expect(m.context_window).toBeGreaterThanOrEqual(m.max_output_tokens);
      expect(m.endpoint).toMatch(/^http:\/\//);
      expect(m.health).toBe('unknown');
      expect(m.circuit).toBe('closed');
    }
    // The seed's A/B example names these two models.
    const ids = models.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-4-turbo-preview', 'claude-3-opus-20240229']));
  });

  it('has the list price of gpt-4o ($2.50 / $10 per million tokens)', async () => {
    const { body } = await request(h.api.app).get('/api/v1/models/gpt-4o').expect(200);
    expect(body.input_price_per_1k).toBeCloseTo(0.0025, 12);
    expect(body.output_price_per_1k).toBeCloseTo(0.01, 12);
  });
});

describe('model CRUD', () => {
  it('creates, reads, replaces, patches and deletes a model, and routing follows', async () => {
    const created = await request(h.api.app).post('/api/v1/models').set(ADMIN).send(NEW_MODEL).expect(201);
    expect(created.headers.location).toBe('/api/v1/models/acme-large-1');
    expect(created.body).toMatchObject({ ...NEW_MODEL, enabled: true, health: 'unknown', circuit: 'closed' });

    const got = await request(h.api.app).get('/api/v1/models/acme-large-1').expect(200);
    expect(got.body.id).toBe('acme-large-1');

    const routed = await request(h.api.app)
      .post('/api/v1/route')
      .send({ prompt: 'hi', max_tokens: 10, providers: ['acme'] })
      .expect(200);
    expect(routed.body.model_id).toBe('acme-large-1');

    const replaced = await request(h.api.app)
      .put('/api/v1/models/acme-large-1')
      .set(ADMIN)
      .send({ ...NEW_MODEL, id: undefined, name: 'Acme Large 1.1', capabilities: [] })
      .expect(200);
    expect(replaced.body).toMatchObject({ name: 'Acme Large 1.1', capabilities: [] });

    const patched = await request(h.api.app)
      .patch('/api/v1/models/acme-large-1')
      .set(ADMIN)
      .send({ output_price_per_1k: 0.003 })
      .expect(200);
    expect(patched.body).toMatchObject({ name: 'Acme Large 1.1', output_price_per_1k: 0.003, input_price_per_1k: 0.001 });

    await request(h.api.app).delete('/api/v1/models/acme-large-1').set(ADMIN).expect(204);
    await request(h.api.app).get('/api/v1/models/acme-large-1').expect(404);
    const after = await request(h.api.app)
      .post('/api/v1/route')
      .send({ prompt: 'hi', max_tokens: 10, providers: ['acme'] })
      .expect(503);
    expect(after.body.error.code).toBe('NO_ELIGIBLE_MODEL');
  });

  it('filters the list by provider', async () => {
    const { body } = await request(h.api.app).get('/api/v1/models?provider=google').expect(200);
    expect(body.models.length).toBeGreaterThan(0);
    expect(body.models.every((m: { provider: string }) => m.provider === 'google')).toBe(true);
  });
});

describe('model writes need the admin key', () => {
  it('401 without a key, 403 with a wrong one, and nothing changes', async () => {
    const before = await listModels();
    const noKey = await request(h.api.app).post('/api/v1/models').send(NEW_MODEL).expect(401);
    expect(noKey.body.error.code).toBe('UNAUTHORIZED');
    const wrong = await request(h.api.app)
      .delete('/api/v1/models/gpt-4o')
      .set({ Authorization: 'Bearer not-the-admin-key-at-all' })
      .expect(403);
    expect(wrong.body.error.code).toBe('FORBIDDEN');
    await request(h.api.app).patch('/api/v1/models/gpt-4o').send({ enabled: false }).expect(401);
    expect(await listModels()).toEqual(before);
  });
});

describe('bad model input changes nothing', () => {
  const cases: Array<[string, 'post' | 'put' | 'patch' | 'delete' | 'get', string, unknown, number, string]> = [
    ['negative input price', 'post', '/api/v1/models', { ...NEW_MODEL, input_price_per_1k: -0.1 }, 400, 'VALIDATION_ERROR'],
    ['negative output price', 'post', '/api/v1/models', { ...NEW_MODEL, output_price_per_1k: -1 }, 400, 'VALIDATION_ERROR'],
    ['duplicate id', 'post', '/api/v1/models', { ...NEW_MODEL, id: 'gpt-4o' }, 409, 'CONFLICT'],
    ['missing name', 'post', '/api/v1/models', { ...NEW_MODEL, name: undefined }, 400, 'VALIDATION_ERROR'],
    ['unknown field', 'post', '/api/v1/models', { ...NEW_MODEL, colour: 'blue' }, 400, 'VALIDATION_ERROR'],
    ['context window as string', 'post', '/api/v1/models', { ...NEW_MODEL, context_window: '32000' }, 400, 'VALIDATION_ERROR'],
    ['output above context', 'post', '/api/v1/models', { ...NEW_MODEL, max_output_tokens: 64_000 }, 400, 'VALIDATION_ERROR'],
    ['bad id characters', 'post', '/api/v1/models', { ...NEW_MODEL, id: 'has space' }, 400, 'VALIDATION_ERROR'],
    ['bad endpoint', 'post', '/api/v1/models', { ...NEW_MODEL, endpoint: 'not a url' }, 400, 'VALIDATION_ERROR'],
    ['get unknown id', 'get', '/api/v1/models/no-such-model', undefined, 404, 'MODEL_NOT_FOUND'],
    ['put unknown id', 'put', '/api/v1/models/no-such-model', { ...NEW_MODEL, id: undefined }, 404, 'MODEL_NOT_FOUND'],
    ['put id mismatch', 'put', '/api/v1/models/gpt-4o', { ...NEW_MODEL }, 400, 'VALIDATION_ERROR'],
    ['patch unknown id', 'patch', '/api/v1/models/no-such-model', { enabled: false }, 404, 'MODEL_NOT_FOUND'],
    ['patch nothing', 'patch', '/api/v1/models/gpt-4o', {}, 400, 'VALIDATION_ERROR'],
    ['patch negative price', 'patch', '/api/v1/models/gpt-4o', { input_price_per_1k: -2 }, 400, 'VALIDATION_ERROR'],
    ['patch output above context', 'patch', '/api/v1/models/gpt-4o', { max_output_tokens: 500_000 }, 400, 'VALIDATION_ERROR'],
    ['patch read-only field', 'patch', '/api/v1/models/gpt-4o', { health: 'healthy' }, 400, 'VALIDATION_ERROR'],
    ['delete unknown id', 'delete', '/api/v1/models/no-such-model', undefined, 404, 'MODEL_NOT_FOUND'],
  ];

  it.each(cases)('%s', async (_name, method, path, body, status, code) => {
    const before = await listModels();
    let req = request(h.api.app)[method](path).set(ADMIN);
    if (body !== undefined) req = req.send(body as object);
    const res = await req.expect(status);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.request_id).toBeTruthy();
    expect(await listModels()).toEqual(before);
  });

  it('a body that is not JSON → 400 and nothing changes', async () => {
    const before = await listModels();
    const res = await request(h.api.app)
      .post('/api/v1/models')
      .set(ADMIN)
      .set('content-type', 'application/json')
      .send('{"id": "x"')
      .expect(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
    expect(await listModels()).toEqual(before);
  });
});
