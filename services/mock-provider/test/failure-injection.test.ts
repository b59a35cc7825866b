/**
 * The mock's behaviour over real HTTP: time to first token and pace, each failure kind, rate-limit
 * windows, and the count of requests whose client left before the answer was complete.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '@model-router/tests/support';
import request from 'supertest';
import { type RunningMockProvider, startMockProvider } from '../src/index.js';
import { chat, expectOpenAIError, logger, makeApp } from './helpers.js';
import { DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';

// The mock's control API needs its key: startMockProvider's default, the development key.
const CONTROL = { authorization: `Bearer ${DEVELOPMENT_ADMIN_API_KEY}` };

let mock: RunningMockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ port: 0, logger, initial: { defaults: { latency_ms: 0 } } });
});
afterAll(async () => {
  await mock.stop();
});
beforeEach(() => {
  mock.settings.resetAll();
  mock.stats.reset();
});

const post = (body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: signal ?? null });

const LONG = 'one two three four five six seven eight nine ten';

/** Reads a body, noting the time of the first byte and how many reads it took. */
async function readTimed(res: Response, started: number) {
  let firstByte = -1;
  let reads = 0;
  let text = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body!) {
    if (firstByte < 0) firstByte = performance.now() - started;
    reads += 1;
    text += decoder.decode(bytes as Uint8Array, { stream: true });
  }
  return { firstByte, reads, text, total: performance.now() - started };
}

describe('time to first token and pace', () => {
  it('latency_ms passes before the first byte; tokens_per_second spaces the pieces', async () => {
    mock.settings.set('paced', { latency_ms: 120, tokens_per_second: 50 });
    const started = performance.now();
    const res = await post(chat('paced', LONG, { stream: true }));
    const { firstByte, reads, text, total } = await readTimed(res, started);
    const pieces = text.split('\n\n').filter((event) => event.includes('"content":"') && !event.includes('"content":""')).length;
    expect(pieces).toBe(`This is a mock response from paced. You said: "${LONG}"`.split(' ').length);
    expect(firstByte).toBeGreaterThanOrEqual(120);
    // The first piece goes with the head after the latency, each later one 20 ms after the one before.
    expect(total).toBeGreaterThanOrEqual(120 + (pieces - 1) * 20);
    expect(reads).toBeGreaterThan(1); // the client saw the stream arrive in parts
  });

  it('unpaced, the whole stream arrives complete', async () => {
    const res = await post(chat('fast', LONG, { stream: true }));
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { text } = await readTimed(res, performance.now());
    expect(text.startsWith('data: {"id":"chatcmpl-')).toBe(true);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('per-request headers override the model: x-mock-latency-ms and x-mock-tokens-per-second', async () => {
    mock.settings.set('slow', { latency_ms: 60_000 });
    const started = performance.now();
    const res = await post(chat('slow', 'a b c', { stream: true }), { 'x-mock-latency-ms': '30', 'x-mock-tokens-per-second': '100' });
    const { firstByte, text } = await readTimed(res, started);
    expect(firstByte).toBeGreaterThanOrEqual(30);
    expect(text).toContain('[DONE]');
  });

  it('a non-streamed answer waits for the whole generation before its first byte', async () => {
    mock.settings.set('paced', { latency_ms: 0, tokens_per_second: 100 });
    const started = performance.now();
    const res = await post(chat('paced', LONG));
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
    const words = body.choices[0]!.message.content.split(' ').length;
    expect(performance.now() - started).toBeGreaterThanOrEqual((words - 1) * 10 - 1);
  });
});

describe('failures', () => {
  it('error_kind decides what error_rate injects', async () => {
    mock.settings.set('m', { error_rate: 1, error_kind: 'overloaded' });
    const res = await post(chat('m'));
    expect(res.status).toBe(503);
    expectOpenAIError(await res.json(), 'server_error', 'overloaded');
    mock.settings.set('m', { error_kind: 'rate_limit', retry_after_s: 9 });
    const limited = await post(chat('m'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('9');
    expect(limited.headers.get('x-ratelimit-reset-requests')).toBe('9s');
    expectOpenAIError(await limited.json(), 'requests', 'rate_limit_exceeded');
    expect(mock.stats.snapshot()).toMatchObject({ requests: 2, failed: 2, ok: 0, aborted: 0, in_flight: 0 });
  });

  it('"x-mock-fail: none" answers even when error_rate is 1', async () => {
    mock.settings.set('m', { error_rate: 1 });
    expect((await post(chat('m'), { 'x-mock-fail': 'none' })).status).toBe(200);
    expect((await post(chat('m'))).status).toBe(500);
  });

  it('reset: the connection is reset before any byte', async () => {
    await expect(post(chat('m'), { 'x-mock-fail': 'reset' })).rejects.toThrow();
    expect(mock.stats.snapshot()).toMatchObject({ requests: 1, failed: 1, aborted: 0 });
  });

  it('a non-streamed mid_stream_error sends half the body, then closes', async () => {
    const res = await post(chat('m'), { 'x-mock-fail': 'mid_stream_error' });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it('stall: nothing is sent until the client gives up, which counts as an abort', async () => {
    const client = new AbortController();
    const pending = post(chat('stuck'), { 'x-mock-fail': 'stall' }, client.signal);
    await waitFor(() => mock.stats.snapshot().in_flight, (n) => n === 1, { what: 'the stalled request in flight' });
    client.abort();
    await expect(pending).rejects.toThrow();
    const stats = await waitFor(() => mock.stats.snapshot(), (s) => s.in_flight === 0, { what: 'the abort counted' });
    expect(stats).toMatchObject({ requests: 1, aborted: 1, ok: 0, failed: 0 });
    expect(stats.by_model.stuck).toMatchObject({ aborted: 1 });
    expect(stats.by_api.openai).toMatchObject({ aborted: 1 });
  });

  it('mid_stream_stall: the first pieces arrive, then nothing until the client leaves (an abort)', async () => {
    const client = new AbortController();
    const res = await post(chat('m', LONG, { stream: true }), { 'x-mock-fail': 'mid_stream_stall', 'x-mock-fail-after-pieces': '2' }, client.signal);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('"content":"is "');
    client.abort();
    await waitFor(() => mock.stats.snapshot().aborted, (n) => n === 1, { what: 'the abort counted' });
  });

  it('a client that leaves a slow stream midway counts as aborted, never as ok', async () => {
    mock.settings.set('slow-stream', { tokens_per_second: 20 });
    const client = new AbortController();
    const res = await post(chat('slow-stream', LONG, { stream: true }), {}, client.signal);
    await res.body!.getReader().read();
    client.abort();
    const stats = await waitFor(() => mock.stats.snapshot(), (s) => s.in_flight === 0, { what: 'the abort counted' });
    expect(stats).toMatchObject({ requests: 1, aborted: 1, ok: 0 });
    const metrics = await (await fetch(`${mock.url}/metrics`)).text();
    expect(metrics).toMatch(/model_router_mock_provider_completions_total\{model="slow-stream",outcome="aborted"[^}]*\} 1/);
  });

  it('GET /_control/stats answers the counts; DELETE clears them', async () => {
    await post(chat('a'));
    await post(chat('b', 'x', { stream: true })).then((res) => res.text());
    const stats = (await (await fetch(`${mock.url}/_control/stats`, { headers: CONTROL })).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ requests: 2, ok: 2, in_flight: 0, by_api: { openai: { requests: 2 } }, by_model: { a: { ok: 1 }, b: { ok: 1 } } });
    const cleared = await (await fetch(`${mock.url}/_control/stats`, { method: 'DELETE', headers: CONTROL })).json();
    expect(cleared).toEqual({ requests: 0, in_flight: 0, ok: 0, failed: 0, aborted: 0, by_api: {}, by_model: {} });
  });

  it('stop() ends stalled requests at once instead of waiting for its deadline', async () => {
    const own = await startMockProvider({ port: 0, logger, shutdownTimeoutMs: 120_000, initial: { defaults: { latency_ms: 0, error_rate: 1, error_kind: 'stall' } } });
    const pending = fetch(`${own.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chat('x')) });
    await waitFor(() => own.stats.snapshot().in_flight, (n) => n === 1);
    await own.stop(); // would hang for two minutes (past the test timeout) if the stall held it
    await expect(pending).rejects.toThrow();
    expect(own.stats.snapshot()).toMatchObject({ failed: 1, aborted: 0 });
  });
});

describe('rate-limit windows (rate_limit_requests per rate_limit_window_ms)', () => {
  it('announces the window on every answer, answers 429 with Retry-After past the limit, and opens again when it resets', async () => {
    let now = 1_000_000;
    const { app } = makeApp({ defaults: { latency_ms: 0 }, models: { limited: { rate_limit_requests: 2, rate_limit_window_ms: 10_000 } } }, { now: () => now });
    let res = await request(app).post('/v1/chat/completions').send(chat('limited')).expect(200);
    expect(res.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-reset-requests': '10s' });
    now += 2_500;
    res = await request(app).post('/v1/chat/completions').send(chat('limited')).expect(200);
    expect(res.headers).toMatchObject({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '7.5s' });
    res = await request(app).post('/v1/chat/completions').send(chat('limited')).expect(429);
    expect(res.headers['retry-after']).toBe('8');
    expectOpenAIError(res.body, 'requests', 'rate_limit_exceeded');
    // Other models are not limited, and the limit resets with its window.
    await request(app).post('/v1/chat/completions').send(chat('other')).expect(200);
    now += 7_500;
    res = await request(app).post('/v1/chat/completions').send(chat('limited')).expect(200);
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('1');
  });

  it('the Anthropic and Gemini surfaces announce and enforce it too, in their own error shapes', async () => {
    const { app } = makeApp({ defaults: { latency_ms: 0, rate_limit_requests: 1 } }, { now: () => 5_000 });
    const anthropic = { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    let res = await request(app).post('/v1/messages').send(anthropic).expect(200).expect('x-ratelimit-remaining-requests', '0');
    // Anthropic's own headers too, the reset as an RFC 3339 time (the window opened at now = 5 s).
    expect(res.headers).toMatchObject({
      'anthropic-ratelimit-requests-limit': '1',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '1970-01-01T00:01:05Z',
    });
    res = await request(app).post('/v1/messages').send(anthropic).expect(429).expect('retry-after', '60');
    expect(res.body).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: expect.any(String) } });
    const gemini = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };
    await request(app).post('/v1beta/models/gemini-2.5-flash:generateContent').send(gemini).expect(200);
    res = await request(app).post('/v1beta/models/gemini-2.5-flash:generateContent').send(gemini).expect(429);
    // Google says when to retry in the body (RetryInfo), not in headers.
    expect(res.body).toEqual({
      error: { code: 429, message: expect.any(String), status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '60s' }] },
    });
  });
});

describe('the Anthropic and Gemini surfaces', () => {
  it('answer bad requests with 400 in their own error shapes', async () => {
    const { app } = makeApp();
    let res = await request(app).post('/v1/messages').send({ model: 'claude', messages: [{ role: 'user', content: 'hi' }] }).expect(400);
    expect(res.body).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    res = await request(app).post('/v1/messages').set('content-type', 'application/json').send('{"model":').expect(400);
    expect(res.body.error.type).toBe('invalid_request_error');
    res = await request(app).post('/v1beta/models/gemini-2.5-flash:generateContent').send({ contents: [] }).expect(400);
    expect(res.body).toEqual({ error: { code: 400, message: expect.stringContaining('contents'), status: 'INVALID_ARGUMENT' } });
    res = await request(app).post('/v1beta/models/gemini-2.5-flash:countTokens').send({}).expect(404);
    expect(res.body.error.status).toBe('NOT_FOUND');
    res = await request(app).post('/v1/chat/completions').set('x-mock-fail', 'explode').send(chat('m')).expect(400);
    expectOpenAIError(res.body, 'invalid_request_error', 'invalid_value');
  });

  it('answer a model that is down with 503, and unknown models with 404, in their shapes', async () => {
    const { app } = makeApp({ models: { off: { down: true } } }, { acceptAnyModel: false });
    let res = await request(app).post('/v1/messages').send({ model: 'off', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).expect(503);
    expect(res.body.type).toBe('error');
    res = await request(app).post('/v1/messages').send({ model: 'nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).expect(404);
    expect(res.body.error.type).toBe('not_found_error');
    res = await request(app).post('/v1beta/models/off:streamGenerateContent?alt=sse').send({ contents: [{ parts: [{ text: 'x' }] }] }).expect(503);
    expect(res.body.error.status).toBe('UNAVAILABLE');
    await request(app).get('/v1beta/models/off').expect(503);
    await request(app).get('/v1beta/models/nope').expect(404);
  });

  it('Gemini streamGenerateContent without alt=sse answers one JSON array', async () => {
    const { app } = makeApp({ defaults: { latency_ms: 0 } });
    const res = await request(app).post('/v1beta/models/gemini-2.5-flash:streamGenerateContent').send({ contents: [{ parts: [{ text: 'hi' }] }] }).expect(200);
    expect(Array.isArray(res.body)).toBe(true);
    expect(res.body[0].candidates[0]).toMatchObject({ finishReason: 'STOP', content: { role: 'model' } });
  });
});
