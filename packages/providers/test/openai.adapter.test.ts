import { describe, expect, it } from '@jest/globals';
import { adapterFor, type ChatCompletionRequest, chatCompletionRequestSchema, openAIAdapter, PROVIDER_APIS } from '../src/index.js';
import { CTX, fixtureJson, fixtureText, fold, translate } from './adapter-test-support.js';

const TARGET = { baseUrl: 'https://api.groq.com/openai/v1/', upstreamModel: 'llama-3.3-70b-versatile', apiKey: 'gsk-test' };
const request = (body: Record<string, unknown>): ChatCompletionRequest => chatCompletionRequestSchema.parse({ model: 'groq-llama', ...body });

describe('openai buildRequest', () => {
  it('forwards every OpenAI field, renames the model and joins the URL', () => {
    const req = request({
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 0.5,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'auto',
      response_format: { type: 'json_object' },
      user: 'u1',
      stream: false,
    });
    const built = openAIAdapter.buildRequest(req, TARGET, { stream: false });
    expect(built.url).toBe('https://api.groq.com/openai/v1/chat/completions');
    expect(built.headers).toEqual({ 'content-type': 'application/json', authorization: 'Bearer gsk-test' });
    const { stream: _stream, ...forwarded } = req; // the gateway decides whether the upstream call streams
    expect(JSON.parse(built.body)).toEqual({ ...forwarded, model: 'llama-3.3-70b-versatile' });
  });

  it('streams with include_usage always on, and never sends fields outside OpenAI’s (a gateway extension)', () => {
    const req = { ...request({ messages: [{ role: 'user', content: 'hi' }], stream: true }), router: { strategy: 'cheapest' } } as ChatCompletionRequest;
    const built = openAIAdapter.buildRequest(req, { baseUrl: 'http://127.0.0.1:11434/v1', upstreamModel: 'llama3' }, { stream: true });
    expect(built.headers).toEqual({ 'content-type': 'application/json', accept: 'text/event-stream' });
    expect(JSON.parse(built.body)).toEqual({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    const unstreamed = JSON.parse(openAIAdapter.buildRequest({ ...req, stream_options: { include_usage: true } }, TARGET, { stream: false }).body);
    expect(unstreamed.stream).toBeUndefined();
    expect(unstreamed.stream_options).toBeUndefined();
  });
});

describe('newer OpenAI fields on other OpenAI-compatible servers', () => {
  const req = request({ messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_completion_tokens: 30, max_tokens: 10 });

  it('OpenAI and Azure OpenAI get them as the client sent them', () => {
    for (const baseUrl of ['https://api.openai.com/v1', 'https://acme.openai.azure.com/openai/v1']) {
      const body = JSON.parse(openAIAdapter.buildRequest(req, { ...TARGET, baseUrl }, { stream: false }).body);
      expect(body).toMatchObject({ max_completion_tokens: 30, max_tokens: 10, messages: req.messages });
    }
  });

  it('other servers get max_tokens and the system role', () => {
    const body = JSON.parse(openAIAdapter.buildRequest(req, TARGET, { stream: false }).body);
    expect(body.max_completion_tokens).toBeUndefined();
    expect(body.max_tokens).toBe(30);
    expect(body.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }]);
  });
});

describe('openai parseResponse', () => {
  it('keeps the answer, with the gateway’s id, model and created', () => {
    const upstream = fixtureJson('openai/completion.json') as Record<string, unknown>;
    expect(openAIAdapter.parseResponse(upstream, CTX)).toEqual({ ...upstream, id: CTX.id, model: CTX.model, created: CTX.created });
    expect(() => openAIAdapter.parseResponse({ object: 'list' }, CTX)).toThrow(/choices/);
  });
});

describe('openai stream translator', () => {
  it('passes chunks through, tool call pieces included, and the usage chunk only when asked for', () => {
    const text = fixtureText('openai/stream-tool-calls.sse');
    const withUsage = translate(openAIAdapter, text, { includeUsage: true });
    const without = translate(openAIAdapter, text, { includeUsage: false });
    for (const { chunks } of [withUsage, without]) {
      expect(fold(chunks).get(0)).toEqual({
        role: 'assistant',
        content: null,
        toolCalls: [{ id: 'call_DdmO9pD3xa9XTPNJ32zg2hcA', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
        finishReason: 'tool_calls',
      });
      for (const chunk of chunks) expect(chunk).toMatchObject({ id: CTX.id, model: CTX.model, created: CTX.created, object: 'chat.completion.chunk' });
    }
    expect(withUsage.chunks).toHaveLength(5);
    expect(withUsage.chunks[4]).toMatchObject({ choices: [], usage: { prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 } });
    expect(without.chunks).toHaveLength(4);
    expect(without.chunks.some((chunk) => 'usage' in chunk)).toBe(false);
    for (const { translator } of [withUsage, without]) {
      expect(translator).toMatchObject({ completed: true, error: null, finishReason: 'tool_calls', outputText: '{"location":"Paris"}' });
      expect(translator.usage).toMatchObject({ prompt_tokens: 82, completion_tokens: 17, total_tokens: 99 });
    }
  });

  it('an error object in the stream is reported and stops translation', () => {
    const text = 'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\ndata: {"error":{"message":"boom","type":"server_error","code":null}}\n\ndata: {"choices":[{"index":0,"delta":{"content":"late"},"finish_reason":null}]}\n\n';
    const { chunks, translator } = translate(openAIAdapter, text);
    expect(fold(chunks).get(0)!.content).toBe('Hi');
    expect(translator.error).toEqual({ message: 'boom', type: 'server_error', code: null });
    expect(translator.completed).toBe(false);
  });
});

describe('openai parseError', () => {
  it('reads OpenAI error bodies and the looser shapes of other OpenAI-compatible servers', () => {
    expect(openAIAdapter.parseError(400, fixtureJson('openai/error-invalid.json'))).toEqual({
      message: "Invalid value for 'temperature': must be between 0 and 2.",
      type: 'invalid_request_error',
      code: 'invalid_value',
    });
    expect(openAIAdapter.parseError(404, { error: 'model "x" not found, try pulling it first' })).toEqual({
      message: 'model "x" not found, try pulling it first',
      type: 'invalid_request_error',
      code: null,
    });
    expect(openAIAdapter.parseError(429, { error: { message: 'slow down', code: 429 } })).toEqual({ message: 'slow down', type: 'rate_limit_error', code: '429' });
    expect(openAIAdapter.parseError(500, '')).toEqual({ message: 'Upstream error 500', type: 'api_error', code: null });
  });
});

describe('adapterFor', () => {
  it('has an adapter for every api, each naming its api', () => {
    for (const api of PROVIDER_APIS) expect(adapterFor(api).api).toBe(api);
    expect(() => adapterFor('cohere' as never)).toThrow(/cohere/);
  });
});
