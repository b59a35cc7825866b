import { describe, expect, it } from '@jest/globals';
import { countPromptTokens } from '@model-router/domain';
import request from 'supertest';
import { CONTROL, chat, expectOpenAIError, makeApp, sequence } from './helpers.js';

const FAST = { defaults: { latency_ms: 0 } };

describe('GET /v1/models', () => {
  it('lists the configured and listed models as OpenAI model objects', async () => {
    const { app } = makeApp({ models: { 'gpt-4o': { latency_ms: 5 }, 'claude-haiku-4-5': {} } }, { models: ['gemini-2.5-flash'] });
    const res = await request(app).get('/v1/models').expect(200).expect('content-type', /json/);
    expect(res.body.object).toBe('list');
    expect(res.body.data.map((m: { id: string }) => m.id)).toEqual(['claude-haiku-4-5', 'gemini-2.5-flash', 'gpt-4o']);
    for (const model of res.body.data) {
      expect(Object.keys(model).sort()).toEqual(['created', 'id', 'object', 'owned_by']);
      expect(model).toMatchObject({ object: 'model', owned_by: 'mock-provider', created: expect.any(Number) });
      expect(Number.isInteger(model.created)).toBe(true);
    }
  });

  it('answers an empty list when nothing is configured', async () => {
    const { app } = makeApp();
    const res = await request(app).get('/v1/models').expect(200);
    expect(res.body).toEqual({ object: 'list', data: [] });
  });

  it('lists a model set through the control API, until it is reset', async () => {
    const { app } = makeApp();
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ latency_ms: 1 }).expect(200);
    expect((await request(app).get('/v1/models')).body.data.map((m: { id: string }) => m.id)).toEqual(['gpt-4o']);
    await request(app).delete('/_control/models/gpt-4o').set(CONTROL).expect(200);
    expect((await request(app).get('/v1/models')).body.data).toEqual([]);
  });
});

describe('GET /v1/models/:id (the per-model probe)', () => {
  it('answers the model object for any id, including ids with "/" and ":"', async () => {
    const { app } = makeApp();
    for (const id of ['gpt-4o', 'meta-llama/Llama-3.3-70B-Instruct', 'ft:gpt-4o-mini:acme::abc123']) {
      const res = await request(app).get(`/v1/models/${id}`).expect(200);
      expect(res.body).toEqual({ id, object: 'model', created: expect.any(Number), owned_by: 'mock-provider' });
    }
  });

  it('answers 503 in OpenAI shape while the model is down, and never applies latency or error rate', async () => {
    const { app } = makeApp({ models: { slow: { latency_ms: 5000, error_rate: 1 }, broken: { down: true } } });
    const started = performance.now();
    await request(app).get('/v1/models/slow').expect(200);
    expect(performance.now() - started).toBeLessThan(5000); // the probe must not wait the 5 s latency
    const res = await request(app).get('/v1/models/broken').expect(503);
    expectOpenAIError(res.body, 'server_error', 'model_unavailable');
  });

  it('answers 404 model_not_found for unknown ids when the mock only accepts its own models', async () => {
    const { app } = makeApp({ models: { 'gpt-4o': {} } }, { acceptAnyModel: false, models: ['listed-model'] });
    await request(app).get('/v1/models/gpt-4o').expect(200);
    await request(app).get('/v1/models/listed-model').expect(200);
    const res = await request(app).get('/v1/models/nope').expect(404);
    expectOpenAIError(res.body, 'invalid_request_error', 'model_not_found');
    const chatRes = await request(app).post('/v1/chat/completions').send(chat('nope')).expect(404);
    expectOpenAIError(chatRes.body, 'invalid_request_error', 'model_not_found');
  });
});

describe('POST /v1/chat/completions', () => {
  it('answers an OpenAI chat.completion with usage counted by the o200k tokenizer', async () => {
    const { app } = makeApp(FAST, { now: () => 1_750_000_000_123 });
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is the capital of France?' },
    ];
    const res = await request(app).post('/v1/chat/completions').send({ model: 'gpt-4o', messages, temperature: 0.2 }).expect(200);
    const body = res.body;
    expect(body).toMatchObject({ object: 'chat.completion', created: 1_750_000_000, model: 'gpt-4o' });
    expect(body.id).toMatch(/^chatcmpl-[A-Za-z0-9]+$/);
    expect(body.choices).toHaveLength(1);
    const [choice] = body.choices;
    expect(choice).toMatchObject({ index: 0, finish_reason: 'stop', message: { role: 'assistant' } });
    expect(choice.message.content).toContain('gpt-4o');
    expect(choice.message.content).toContain('What is the capital of France?');

    const promptTokens = countPromptTokens('You are terse.') + countPromptTokens('What is the capital of France?');
    expect(body.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: countPromptTokens(choice.message.content),
      total_tokens: promptTokens + countPromptTokens(choice.message.content),
    });
  });

  it("reports exactly the router's prompt count for a single-message prompt", async () => {
    const { app } = makeApp(FAST);
    const prompt = '用户的问题: explain the difference between TCP and UDP in two sentences.';
    const res = await request(app).post('/v1/chat/completions').send(chat('deepseek-chat', prompt)).expect(200);
    expect(res.body.usage.prompt_tokens).toBe(countPromptTokens(prompt));
  });

  it('counts the text parts of array content and ignores other parts', async () => {
    const { app } = makeApp(FAST);
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Describe this image' },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
          { type: 'text', text: ' in one word.' },
        ],
      },
    ];
    const res = await request(app).post('/v1/chat/completions').send({ model: 'gpt-4o', messages }).expect(200);
    expect(res.body.usage.prompt_tokens).toBe(countPromptTokens('Describe this image in one word.'));
  });

  it('stops at max_tokens (or max_completion_tokens) with finish_reason "length"', async () => {
    const { app } = makeApp(FAST);
    for (const limit of [{ max_tokens: 3 }, { max_completion_tokens: 3 }, { max_tokens: 1 }]) {
      const res = await request(app).post('/v1/chat/completions').send(chat('gpt-4o', 'tell me a long story', limit)).expect(200);
      const cap = Object.values(limit)[0]!;
      expect(res.body.choices[0].finish_reason).toBe('length');
      expect(res.body.usage.completion_tokens).toBeGreaterThan(0);
      expect(res.body.usage.completion_tokens).toBeLessThanOrEqual(cap);
      expect(res.body.usage.completion_tokens).toBe(countPromptTokens(res.body.choices[0].message.content));
    }
  });

  it('answers n choices and counts completion tokens for each', async () => {
    const { app } = makeApp(FAST);
    const res = await request(app).post('/v1/chat/completions').send(chat('gpt-4o', 'hi', { n: 3 })).expect(200);
    expect(res.body.choices.map((c: { index: number }) => c.index)).toEqual([0, 1, 2]);
    const each = countPromptTokens(res.body.choices[0].message.content);
    expect(res.body.usage.completion_tokens).toBe(3 * each);
    expect(res.body.usage.total_tokens).toBe(res.body.usage.prompt_tokens + 3 * each);
  });

  it('echoes the request id', async () => {
    const { app } = makeApp(FAST);
    const res = await request(app).post('/v1/chat/completions').set('x-request-id', 'req-abc.1').send(chat('gpt-4o')).expect(200);
    expect(res.headers['x-request-id']).toBe('req-abc.1');
  });

  const BAD: Array<[string, unknown, number, string]> = [
    ['no model', { messages: [{ role: 'user', content: 'hi' }] }, 400, 'invalid_value'],
    ['empty model', chat(''), 400, 'invalid_value'],
    ['model not a string', chat('x', 'hi', { model: 42 }), 400, 'invalid_value'],
    ['no messages', { model: 'gpt-4o' }, 400, 'invalid_value'],
    ['empty messages', { model: 'gpt-4o', messages: [] }, 400, 'invalid_value'],
    ['unknown role', { model: 'gpt-4o', messages: [{ role: 'robot', content: 'hi' }] }, 400, 'invalid_value'],
    ['content a number', { model: 'gpt-4o', messages: [{ role: 'user', content: 7 }] }, 400, 'invalid_value'],
    ['max_tokens 0', chat('gpt-4o', 'hi', { max_tokens: 0 }), 400, 'invalid_value'],
    ['max_tokens -1', chat('gpt-4o', 'hi', { max_tokens: -1 }), 400, 'invalid_value'],
    ['max_tokens 1.5', chat('gpt-4o', 'hi', { max_tokens: 1.5 }), 400, 'invalid_value'],
    ['max_tokens "10"', chat('gpt-4o', 'hi', { max_tokens: '10' }), 400, 'invalid_value'],
    ['n 0', chat('gpt-4o', 'hi', { n: 0 }), 400, 'invalid_value'],
    ['stream true', chat('gpt-4o', 'hi', { stream: true }), 400, 'unsupported_parameter'],
    ['an array body', [chat('gpt-4o')], 400, 'invalid_value'],
  ];
  it.each(BAD)('answers %s with %i in OpenAI shape', async (_name, body, status, code) => {
    const { app } = makeApp(FAST);
    const res = await request(app).post('/v1/chat/completions').send(body as object).expect(status);
    expectOpenAIError(res.body, 'invalid_request_error', code);
  });

  it('names the bad parameter', async () => {
    const { app } = makeApp(FAST);
    const res = await request(app).post('/v1/chat/completions').send(chat('gpt-4o', 'hi', { max_tokens: 0 })).expect(400);
    expect(res.body.error.param).toBe('max_tokens');
  });

  it('answers a body that is not JSON with 400 invalid_json', async () => {
    const { app } = makeApp(FAST);
    const res = await request(app).post('/v1/chat/completions').set('content-type', 'application/json').send('{"model": ').expect(400);
    expectOpenAIError(res.body, 'invalid_request_error', 'invalid_json');
  });

  it('answers a body over the limit with 413', async () => {
    const { app } = makeApp(FAST, { bodyLimit: '1kb' });
    const res = await request(app).post('/v1/chat/completions').send(chat('gpt-4o', 'x'.repeat(2048))).expect(413);
    expectOpenAIError(res.body, 'invalid_request_error', 'payload_too_large');
  });

  it('answers an unknown /v1 path with 404 in OpenAI shape', async () => {
    const { app } = makeApp();
    const res = await request(app).post('/v1/embeddings').send({}).expect(404);
    expectOpenAIError(res.body, 'invalid_request_error', 'unknown_url');
  });
});

describe('injected behaviour', () => {
  it('waits at least latency_ms before answering', async () => {
    const { app } = makeApp({ models: { slow: { latency_ms: 150 } } });
    const started = performance.now();
    await request(app).post('/v1/chat/completions').send(chat('slow')).expect(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('adds random() × jitter_ms to the latency', async () => {
    const random = sequence(0.5);
    const { app } = makeApp({ models: { jittery: { latency_ms: 50, jitter_ms: 200 } } }, { random });
    const started = performance.now();
    await request(app).post('/v1/chat/completions').send(chat('jittery')).expect(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150); // 50 + 0.5 × 200
    expect(random.calls).toBe(1);
  });

  it('waits the latency before an injected failure too', async () => {
    const { app } = makeApp({ models: { flaky: { latency_ms: 80, error_rate: 1 } } });
    const started = performance.now();
    await request(app).post('/v1/chat/completions').send(chat('flaky')).expect(500);
    expect(performance.now() - started).toBeGreaterThanOrEqual(80);
  });

  it('error_rate 1 always fails with a 500 in OpenAI shape', async () => {
    const random = sequence(0, 0.25, 0.5, 0.75, 0.999999);
    const { app } = makeApp({ defaults: { latency_ms: 0 }, models: { flaky: { error_rate: 1 } } }, { random });
    for (let i = 0; i < 20; i++) {
      const res = await request(app).post('/v1/chat/completions').send(chat('flaky'));
      expect(res.status).toBe(500);
      expectOpenAIError(res.body, 'server_error', 'injected_failure');
    }
  });

  it('error_rate 0 never fails', async () => {
    const random = sequence(0, 0.25, 0.5, 0.75, 0.999999);
    const { app } = makeApp({ defaults: { latency_ms: 0 }, models: { solid: { error_rate: 0 } } }, { random });
    for (let i = 0; i < 20; i++) {
      await request(app).post('/v1/chat/completions').send(chat('solid')).expect(200);
    }
  });

  it('fails exactly when random() < error_rate', async () => {
    const random = sequence(0.29, 0.3, 0.31, 0.0, 0.99);
    const { app } = makeApp({ defaults: { latency_ms: 0, error_rate: 0.3 } }, { random });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await request(app).post('/v1/chat/completions').send(chat('any'))).status);
    expect(statuses).toEqual([500, 200, 200, 500, 200]);
  });

  it('the down switch fails every completion at once with 503, and turning it off recovers', async () => {
    const { app } = makeApp({ models: { 'gpt-4o': { latency_ms: 5000 } } });
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ down: true }).expect(200);
    const started = performance.now();
    for (let i = 0; i < 3; i++) {
      const res = await request(app).post('/v1/chat/completions').send(chat('gpt-4o')).expect(503);
      expectOpenAIError(res.body, 'server_error', 'model_unavailable');
    }
    expect(performance.now() - started).toBeLessThan(5000); // no latency when down
    // Other models are unaffected.
    await request(app).put('/_control/models/other').set(CONTROL).send({ latency_ms: 0 }).expect(200);
    await request(app).post('/v1/chat/completions').send(chat('other')).expect(200);
    await request(app).put('/_control/models/gpt-4o').set(CONTROL).send({ down: false, latency_ms: 0 }).expect(200);
    await request(app).post('/v1/chat/completions').send(chat('gpt-4o')).expect(200);
  });

  it('counts completions by model and outcome in /metrics', async () => {
    const random = sequence(0.1);
    const { app } = makeApp({ defaults: { latency_ms: 0 }, models: { half: { error_rate: 0.5 }, off: { down: true } } }, { random });
    await request(app).post('/v1/chat/completions').send(chat('ok-model')).expect(200);
    await request(app).post('/v1/chat/completions').send(chat('half')).expect(500);
    await request(app).post('/v1/chat/completions').send(chat('off')).expect(503);
    const res = await request(app).get('/metrics').expect(200);
    expect(res.text).toMatch(/model_router_mock_provider_completions_total\{model="ok-model",outcome="ok"\} 1/);
    expect(res.text).toMatch(/model_router_mock_provider_completions_total\{model="half",outcome="error"\} 1/);
    expect(res.text).toMatch(/model_router_mock_provider_completions_total\{model="off",outcome="down"\} 1/);
  });
});
