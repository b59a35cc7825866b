/**
 * The gateway's provider adapters (@model-router/providers) against the mock's three wire formats
 * (which the SDK tests hold to the real ones): one OpenAI request, answered by each provider
 * format, comes back as the same OpenAI answer, streamed or not, tool calls included.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  adapterFor,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  chatCompletionRequestSchema,
  PROVIDER_APIS,
  type ProviderApi,
} from '@model-router/providers';
import { type RunningMockProvider, startMockProvider } from '../src/index.js';
import { logger } from './helpers.js';

let mock: RunningMockProvider;
beforeAll(async () => {
  mock = await startMockProvider({ port: 0, logger, initial: { defaults: { latency_ms: 0 } } });
});
afterAll(async () => {
  await mock.stop();
});

const CTX = { model: 'router-id', id: 'chatcmpl-gateway', created: 1_760_000_000 };
/** Where a registry would point each api at the mock (the Anthropic and Gemini adapters add their version). */
const baseUrl = (api: ProviderApi) => (api === 'openai' ? `${mock.url}/v1` : mock.url);

async function call(api: ProviderApi, req: ChatCompletionRequest, stream: boolean, headers: Record<string, string> = {}) {
  const adapter = adapterFor(api);
  const upstream = adapter.buildRequest(req, { baseUrl: baseUrl(api), upstreamModel: `mock-${api}`, apiKey: 'secret' }, { stream });
  const res = await fetch(upstream.url, { method: upstream.method, headers: { ...upstream.headers, ...headers }, body: upstream.body });
  return { adapter, res };
}

async function streamed(api: ProviderApi, req: ChatCompletionRequest, headers: Record<string, string> = {}) {
  const { adapter, res } = await call(api, req, true, headers);
  expect(res.status).toBe(200);
  const translator = adapter.createStreamTranslator({ ...CTX, includeUsage: true });
  const chunks: ChatCompletionChunk[] = [];
  const decoder = new TextDecoder();
  try {
    for await (const bytes of res.body!) chunks.push(...translator.push(decoder.decode(bytes as Uint8Array, { stream: true })));
  } catch {
    // a cut connection: the translator says what arrived
  }
  chunks.push(...translator.end());
  return { chunks, translator };
}

const request = (body: Record<string, unknown>) => chatCompletionRequestSchema.parse({ model: 'router-id', ...body });
const PROMPT = 'Tell me about the weather in Lisbon';
const TOOLS = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
];

describe.each(PROVIDER_APIS)('the %s adapter against the mock', (api) => {
  const reply = `This is a mock response from mock-${api}. You said: "${PROMPT}"`;

  it('answers an OpenAI completion with the reply and the provider’s usage', async () => {
    const { adapter, res } = await call(api, request({ messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: PROMPT }] }), false);
    expect(res.status).toBe(200);
    const completion = adapter.parseResponse(await res.json(), CTX);
    expect(completion).toMatchObject({ ...CTX, object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: reply } }] });
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it('streams the same reply, with finish reason and usage equal to the non-streamed answer', async () => {
    const req = request({ messages: [{ role: 'user', content: PROMPT }], max_tokens: 500 });
    const { adapter, res } = await call(api, req, false);
    const whole = adapter.parseResponse(await res.json(), CTX);
    const { chunks, translator } = await streamed(api, req);
    const content = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe(reply);
    expect(translator).toMatchObject({ completed: true, error: null, finishReason: 'stop', outputText: reply });
    expect(translator.usage).toEqual(whole.usage);
    expect(chunks[chunks.length - 1]).toMatchObject({ choices: [], usage: whole.usage });
  });

  it('stops at max_tokens with finish_reason "length"', async () => {
    const { adapter, res } = await call(api, request({ messages: [{ role: 'user', content: PROMPT }], max_completion_tokens: 4 }), false);
    const completion = adapter.parseResponse(await res.json(), CTX);
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(4);
  });

  it('a tool call comes back as OpenAI tool_calls, streamed or not, and the tool result gets a reply', async () => {
    const req = request({ messages: [{ role: 'user', content: PROMPT }], tools: TOOLS, tool_choice: 'required' });
    const { adapter, res } = await call(api, req, false);
    const completion = adapter.parseResponse(await res.json(), CTX);
    const message = completion.choices[0]!.message;
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0]!.function.name).toBe('get_weather');
    expect(JSON.parse(message.tool_calls![0]!.function.arguments)).toEqual({ city: 'mock' });

    const { chunks, translator } = await streamed(api, req);
    const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(calls.map((c) => c.function?.arguments ?? '').join(''))).toEqual({ city: 'mock' });
    expect(translator.finishReason).toBe('tool_calls');

    const followUp = request({
      messages: [
        { role: 'user', content: PROMPT },
        { role: 'assistant', content: null, tool_calls: message.tool_calls },
        { role: 'tool', tool_call_id: message.tool_calls![0]!.id, content: '{"temp_c": 21}' },
      ],
      tools: TOOLS,
    });
    const after = await call(api, followUp, false);
    expect(after.res.status).toBe(200);
    const answer = after.adapter.parseResponse(await after.res.json(), CTX);
    expect(answer.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: expect.stringContaining('temp_c') } });
  });

  it('reads the provider’s 429 and 5xx bodies into OpenAI error fields', async () => {
    const req = request({ messages: [{ role: 'user', content: 'hi' }] });
    const limited = await call(api, req, false, { 'x-mock-fail': 'rate_limit', 'x-mock-retry-after-s': '7' });
    expect(limited.res.status).toBe(429);
    expect(limited.res.headers.get('retry-after')).toBe('7');
    expect(limited.res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const error = limited.adapter.parseError(429, await limited.res.text());
    expect(error.type).toMatch(/rate_limit|requests/);
    expect(error.message).toContain('Rate limit reached');

    const failed = await call(api, req, false, { 'x-mock-fail': 'server_error' });
    expect(failed.res.status).toBe(500);
    expect(failed.adapter.parseError(500, await failed.res.json()).message).toContain('injected');
  });

  it('a mid-stream error event ends the translation with an error; a cut stream is not completed', async () => {
    const req = request({ messages: [{ role: 'user', content: PROMPT }] });
    const errored = await streamed(api, req, { 'x-mock-fail': 'mid_stream_error', 'x-mock-fail-after-pieces': '3' });
    expect(errored.translator.error).toMatchObject({ message: expect.stringContaining('injected') });
    expect(errored.translator.completed).toBe(false);
    expect(errored.translator.outputText).toBe('This is a ');

    const cut = await streamed(api, req, { 'x-mock-fail': 'mid_stream_reset', 'x-mock-fail-after-pieces': '2' });
    expect(cut.translator).toMatchObject({ completed: false, error: null, outputText: 'This is ' });
  });
});
