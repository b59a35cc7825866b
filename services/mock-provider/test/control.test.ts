import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { DEFAULT_SETTINGS, parseInitialSettings, SettingsError } from '../src/settings.js';
import { CONTROL, CONTROL_KEY, makeApp } from './helpers.js';

describe('control API', () => {
  it('GET /_control/models shows the defaults and every configured model with its effective settings', async () => {
    const { app } = makeApp({ defaults: { latency_ms: 5 }, models: { 'gpt-4o': { error_rate: 0.25 } } });
    const res = await request(app).get('/_control/models').set(CONTROL).expect(200);
    expect(res.body).toEqual({
      defaults: { latency_ms: 5, jitter_ms: 0, error_rate: 0, down: false },
      models: [{ id: 'gpt-4o', latency_ms: 5, jitter_ms: 0, error_rate: 0.25, down: false }],
    });
  });

  it('defaults to 20 ms latency, no jitter, no errors, up', async () => {
    const { app } = makeApp();
    expect(DEFAULT_SETTINGS).toEqual({ latency_ms: 20, jitter_ms: 0, error_rate: 0, down: false });
    expect((await request(app).get('/_control/defaults').set(CONTROL).expect(200)).body).toEqual(DEFAULT_SETTINGS);
    expect((await request(app).get('/_control/models/never-configured').set(CONTROL).expect(200)).body).toEqual({ id: 'never-configured', ...DEFAULT_SETTINGS });
  });

  it('PUT merges the given keys into the model and answers its effective settings', async () => {
    const { app } = makeApp();
    let res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ latency_ms: 100, jitter_ms: 10 }).expect(200);
    expect(res.body).toEqual({ id: 'gpt-4o', latency_ms: 100, jitter_ms: 10, error_rate: 0, down: false });
    res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ error_rate: 0.5 }).expect(200);
    expect(res.body).toEqual({ id: 'gpt-4o', latency_ms: 100, jitter_ms: 10, error_rate: 0.5, down: false });
    res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({}).expect(200);
    expect(res.body).toEqual({ id: 'gpt-4o', latency_ms: 100, jitter_ms: 10, error_rate: 0.5, down: false });
    expect((await request(app).get('/_control/models/gpt-4o').set(CONTROL)).body.error_rate).toBe(0.5);
  });

  it('accepts model ids with "/" and encoded characters', async () => {
    const { app } = makeApp();
    await request(app).put('/_control/models/meta-llama/Llama-3.3-70B').set(CONTROL).send({ down: true }).expect(200);
    await request(app).put(`/_control/models/${encodeURIComponent('ft:gpt-4o:acme::x')}`).set(CONTROL).send({ down: true }).expect(200);
    const ids = (await request(app).get('/_control/models').set(CONTROL)).body.models.map((m: { id: string }) => m.id);
    expect(ids).toEqual(['ft:gpt-4o:acme::x', 'meta-llama/Llama-3.3-70B']);
    await request(app).get('/v1/models/meta-llama/Llama-3.3-70B').expect(503);
  });

  it('a model follows the defaults for every key it did not set', async () => {
    const { app } = makeApp();
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ down: true }).expect(200);
    const res = await request(app).put('/_control/defaults').set(CONTROL).send({ latency_ms: 7, error_rate: 0.1 }).expect(200);
    expect(res.body).toEqual({ latency_ms: 7, jitter_ms: 0, error_rate: 0.1, down: false });
    expect((await request(app).get('/_control/models/gpt-4o').set(CONTROL)).body).toEqual({ id: 'gpt-4o', latency_ms: 7, jitter_ms: 0, error_rate: 0.1, down: true });
    expect((await request(app).get('/_control/models/other').set(CONTROL)).body).toEqual({ id: 'other', latency_ms: 7, jitter_ms: 0, error_rate: 0.1, down: false });
  });

  const BAD: Array<[string, unknown]> = [
    ['error_rate above 1', { error_rate: 1.5 }],
    ['error_rate below 0', { error_rate: -0.1 }],
    ['error_rate as a string', { error_rate: '0.5' }],
    ['negative latency', { latency_ms: -1 }],
    ['fractional latency', { latency_ms: 1.5 }],
    ['latency as a string', { latency_ms: '10' }],
    ['latency above ten minutes', { latency_ms: 600_001 }],
    ['negative jitter', { jitter_ms: -5 }],
    ['down as a string', { down: 'yes' }],
    ['an unknown key', { latency: 10 }],
    ['an array', [{ latency_ms: 10 }]],
  ];
  it.each(BAD)('PUT with %s answers 400 VALIDATION_ERROR and changes nothing', async (_name, body) => {
    const { app } = makeApp({ models: { 'gpt-4o': { latency_ms: 42 } } });
    const before = (await request(app).get('/_control/models').set(CONTROL)).body;
    for (const path of ['/_control/models/gpt-4o', '/_control/models/new-model', '/_control/defaults']) {
      const res = await request(app).put(path).set(CONTROL).set('content-type', 'application/json').send(JSON.stringify(body)).expect(400);
      expect(res.body.error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.any(String), request_id: expect.any(String) });
    }
    expect((await request(app).get('/_control/models').set(CONTROL)).body).toEqual(before);
  });

  it('PUT with a body that is not JSON answers 400 and changes nothing', async () => {
    const { app } = makeApp();
    let res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).set('content-type', 'application/json').send('{"down": tru').expect(400);
    expect(res.body.error.code).toBe('INVALID_JSON');
    res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).set('content-type', 'application/json').send('null').expect(400);
    expect(res.body.error.code).toBe('INVALID_JSON'); // the strict parser takes objects and arrays only
    res = await request(app).put('/_control/models/gpt-4o').set(CONTROL).set('content-type', 'text/plain').send('down').expect(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect((await request(app).get('/_control/models').set(CONTROL)).body.models).toEqual([]);
  });

  it('PUT with an id that is blank or padded answers 400', async () => {
    const { app } = makeApp();
    const res = await request(app).put('/_control/models/%20gpt').set(CONTROL).send({ down: true }).expect(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
  });

  it('DELETE puts a model back to its start-up settings, or to the defaults', async () => {
    const { app } = makeApp({ models: { 'gpt-4o': { latency_ms: 42 } } });
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ latency_ms: 1, down: true }).expect(200);
    await request(app).put('/_control/models/added').set(CONTROL).send({ error_rate: 1 }).expect(200);

    let res = await request(app).delete('/_control/models/gpt-4o').set(CONTROL).expect(200);
    expect(res.body).toEqual({ id: 'gpt-4o', latency_ms: 42, jitter_ms: 0, error_rate: 0, down: false });
    res = await request(app).delete('/_control/models/added').set(CONTROL).expect(200);
    expect(res.body).toEqual({ id: 'added', ...DEFAULT_SETTINGS });
    expect((await request(app).get('/_control/models').set(CONTROL)).body.models.map((m: { id: string }) => m.id)).toEqual(['gpt-4o']);
    await request(app).delete('/_control/models/never-set').set(CONTROL).expect(200); // idempotent
  });

  it('POST /_control/reset puts everything back as it was at start-up', async () => {
    const initial = { defaults: { latency_ms: 3 }, models: { 'gpt-4o': { jitter_ms: 4 } } };
    const { app } = makeApp(initial);
    const before = (await request(app).get('/_control/models').set(CONTROL)).body;
    await request(app).put('/_control/defaults').set(CONTROL).send({ latency_ms: 500, down: true }).expect(200);
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ error_rate: 1 }).expect(200);
    await request(app).put('/_control/models/x').set(CONTROL).send({ down: true }).expect(200);
    const res = await request(app).post('/_control/reset').set(CONTROL).expect(200);
    expect(res.body).toEqual(before);
    expect((await request(app).get('/_control/models').set(CONTROL)).body).toEqual(before);
    await request(app).post('/v1/chat/completions').send({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }).expect(200);
  });

  it('answers unknown paths outside /v1 in the project error envelope', async () => {
    const { app } = makeApp();
    const res = await request(app).get('/_control/nothing').set(CONTROL).expect(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', request_id: expect.any(String) });
  });
});

describe('MOCK_PROVIDER_MODELS', () => {
  it('parses model settings, with "*" as the defaults', () => {
    const parsed = parseInitialSettings('{"gpt-4o": {"latency_ms": 300, "error_rate": 0.1}, "*": {"latency_ms": 50}, "claude-haiku-4-5": {"down": true}}');
    expect(parsed).toEqual({
      defaults: { latency_ms: 50 },
      models: { 'gpt-4o': { latency_ms: 300, error_rate: 0.1 }, 'claude-haiku-4-5': { down: true } },
    });
  });

  it('treats an unset or blank variable as no settings', () => {
    expect(parseInitialSettings(undefined)).toEqual({});
    expect(parseInitialSettings('  ')).toEqual({});
  });

  it.each([
    ['not JSON', '{gpt-4o: 1}', /not valid JSON/],
    ['an array', '[]', /MOCK_PROVIDER_MODELS/],
    ['a bad error rate', '{"gpt-4o": {"error_rate": 2}}', /gpt-4o\.error_rate/],
    ['an unknown key', '{"gpt-4o": {"latency": 2}}', /gpt-4o/],
    ['settings that are not an object', '{"gpt-4o": 5}', /gpt-4o/],
  ])('rejects %s with a SettingsError naming the problem', (_name, text, message) => {
    expect(() => parseInitialSettings(text)).toThrow(SettingsError);
    expect(() => parseInitialSettings(text)).toThrow(message);
  });
});

describe('the control API needs its key', () => {
  it('answers 401 without a key and 403 with another, changes nothing, and leaves /v1 open', async () => {
    const { app, settings } = makeApp();
    const calls: [string, string, unknown?][] = [
      ['get', '/_control/models'],
      ['get', '/_control/models/gpt-4o'],
      ['put', '/_control/models/gpt-4o', { down: true }],
      ['delete', '/_control/models/gpt-4o'],
      ['get', '/_control/defaults'],
      ['put', '/_control/defaults', { error_rate: 1 }],
      ['post', '/_control/reset'],
      ['get', '/_control/nothing'],
    ];
    for (const [method, path, body] of calls) {
      const call = () => request(app)[method as 'get' | 'put' | 'post' | 'delete'](path);
      const none = await (body ? call().send(body as object) : call());
      expect(none.status).toBe(401);
      expect(none.body.error).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('mock provider control API key required') });
      const wrong = await (body ? call().set({ Authorization: 'Bearer not-the-control-key-000' }).send(body as object) : call().set({ Authorization: 'Bearer not-the-control-key-000' }));
      expect(wrong.status).toBe(403);
    }
    expect(settings.list()).toEqual([]);
    expect(settings.getDefaults()).toEqual(DEFAULT_SETTINGS);
    await request(app).put('/_control/models/gpt-4o').set({ Authorization: `Bearer ${CONTROL_KEY}` }).send({ down: true }).expect(200);
    await request(app).get('/v1/models').expect(200);
  });
});
