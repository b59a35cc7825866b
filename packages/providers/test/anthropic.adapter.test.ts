import { describe, expect, it } from '@jest/globals';
import {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  anthropicAdapter,
  type ChatCompletionRequest,
  chatCompletionRequestSchema,
  UnsupportedRequestError,
} from '../src/index.js';
import { CTX, fixtureJson, fixtureText, fold, thrownBy, translate } from './adapter-test-support.js';

const TARGET = { baseUrl: 'https://api.anthropic.com/', upstreamModel: 'claude-sonnet-4-5', apiKey: 'sk-ant-test' };
const request = (body: Record<string, unknown>): ChatCompletionRequest => chatCompletionRequestSchema.parse({ model: 'claude', ...body });
const wire = (req: ChatCompletionRequest, stream = false) => {
  const built = anthropicAdapter.buildRequest(req, TARGET, { stream });
  return { ...built, json: JSON.parse(built.body) as Record<string, unknown> };
};
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

describe('anthropic buildRequest', () => {
  it('calls POST /v1/messages with the version header and the key, whether or not the base URL names /v1', () => {
    for (const baseUrl of ['https://api.anthropic.com', 'https://api.anthropic.com/', 'https://api.anthropic.com/v1', 'https://api.anthropic.com/v1/']) {
      const built = anthropicAdapter.buildRequest(request({ messages: [{ role: 'user', content: 'hi' }] }), { ...TARGET, baseUrl }, { stream: false });
      expect(built.url).toBe('https://api.anthropic.com/v1/messages');
      expect(built.method).toBe('POST');
      expect(built.headers).toEqual({ 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-test' });
    }
    const keyless = anthropicAdapter.buildRequest(request({ messages: [{ role: 'user', content: 'hi' }] }), { baseUrl: 'http://127.0.0.1:9010', upstreamModel: 'm' }, { stream: true });
    expect(keyless.headers['x-api-key']).toBeUndefined();
    expect(keyless.headers.accept).toBe('text/event-stream');
    expect(JSON.parse(keyless.body).stream).toBe(true);
  });

  it('moves system and developer messages to `system`, uses the upstream model name and always sets max_tokens', () => {
    const { json } = wire(
      request({
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
          { role: 'user', content: 'Hello' },
        ],
      }),
    );
    expect(json).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: ANTHROPIC_DEFAULT_MAX_TOKENS,
      system: 'You are terse.\n\nAnswer in French.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    });
  });

  it('maps sampling options: max_completion_tokens over max_tokens, temperature held to 1, stop, user', () => {
    const { json } = wire(
      request({
        messages: [{ role: 'user', content: 'x' }],
        max_tokens: 50,
        max_completion_tokens: 70,
        temperature: 1.6,
        top_p: 0.9,
        stop: 'END',
        user: 'user-42',
        seed: 7,
      }),
    );
    expect(json).toMatchObject({ max_tokens: 70, temperature: 1, stop_sequences: ['END'], metadata: { user_id: 'user-42' } });
    expect(json.top_p).toBeUndefined(); // not with temperature: current Claude models refuse both
    expect(json.seed).toBeUndefined();
    expect(wire(request({ messages: [{ role: 'user', content: 'x' }], top_p: 0.5, stop: ['\n', ' ', 'END'] })).json).toMatchObject({ top_p: 0.5, stop_sequences: ['END'] });
    expect(wire(request({ messages: [{ role: 'user', content: 'x' }], stop: ['\n\n'] })).json.stop_sequences).toBeUndefined();
    expect(wire(request({ messages: [{ role: 'user', content: 'x' }], temperature: 0.3, max_tokens: 5 })).json).toMatchObject({ temperature: 0.3, max_tokens: 5 });
  });

  it('turns a tool conversation into tool_use and tool_result blocks, merging consecutive tool results into one user turn', () => {
    const { json } = wire(
      request({
        messages: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
              { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18C' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24C' }] },
          { role: 'user', content: 'Thanks' },
        ],
        tools: [WEATHER_TOOL, { type: 'function', function: { name: 'noop' } }],
        tool_choice: 'required',
        parallel_tool_calls: false,
      }),
    );
    expect(json.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { location: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '24C' },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
    expect(json.tools).toEqual([
      { name: 'get_weather', description: 'Current weather', input_schema: WEATHER_TOOL.function.parameters },
      { name: 'noop', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(json.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
  });

  it('maps every tool_choice', () => {
    const base = { messages: [{ role: 'user', content: 'x' }], tools: [WEATHER_TOOL] };
    expect(wire(request(base)).json.tool_choice).toEqual({ type: 'auto' });
    expect(wire(request({ ...base, tool_choice: 'auto' })).json.tool_choice).toEqual({ type: 'auto' });
    expect(wire(request({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } })).json.tool_choice).toEqual({
      type: 'tool',
      name: 'get_weather',
    });
    const none = wire(request({ ...base, tool_choice: 'none' })).json;
    expect(none.tools).toBeUndefined();
    expect(none.tool_choice).toBeUndefined();
  });

  it('maps images (data URL and URL) and PDF files; refuses audio', () => {
    const { json } = wire(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
              { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0x' } },
            ],
          },
        ],
      }),
    );
    expect((json.messages as Array<{ content: unknown }>)[0]!.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
      { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0x' } },
    ]);
    const audio = request({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAA', format: 'wav' } }] }] });
    expect(() => wire(audio)).toThrow(UnsupportedRequestError);
  });

  it('maps response_format json_schema to output_config and json_object to an instruction', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const structured = wire(request({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'out', schema } } })).json;
    expect(structured.output_config).toEqual({ format: { type: 'json_schema', schema } });
    const jsonMode = wire(request({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } })).json;
    expect(jsonMode.system).toMatch(/JSON object/);
  });

  it.each([
    ['n > 1', { messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
    ['only a system message', { messages: [{ role: 'system', content: 'x' }] }, 'messages'],
    ['only an empty user message', { messages: [{ role: 'user', content: '' }] }, 'messages'],
    ['tool arguments that are not JSON', { messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, 'messages.0.tool_calls.0.function.arguments'],
    ['a deprecated function message', { messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages.0'],
  ])('refuses %s with an UnsupportedRequestError naming the param', (_name, body, param) => {
    const thrown = thrownBy(() => wire(request(body)));
    expect(thrown).toBeInstanceOf(UnsupportedRequestError);
    expect((thrown as UnsupportedRequestError).param).toBe(param);
  });
});

describe('anthropic parseResponse', () => {
  it('turns text and tool_use blocks into an assistant message with tool_calls; cached input counts as prompt', () => {
    const completion = anthropicAdapter.parseResponse(fixtureJson('anthropic/message-tool-use.json'), CTX);
    expect(completion).toEqual({
      id: CTX.id,
      object: 'chat.completion',
      created: CTX.created,
      model: CTX.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: "I'll check the current weather in San Francisco for you.",
            refusal: null,
            tool_calls: [
              { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' } },
            ],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: 500, completion_tokens: 92, total_tokens: 592, prompt_tokens_details: { cached_tokens: 100 } },
    });
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('stop_reason %s → finish_reason %s', (stopReason, finish) => {
    const body = { type: 'message', content: [{ type: 'text', text: 'x' }], stop_reason: stopReason, usage: { input_tokens: 1, output_tokens: 1 } };
    expect(anthropicAdapter.parseResponse(body, CTX).choices[0]!.finish_reason).toBe(finish);
  });

  it('refuses a body that is not a message', () => {
    expect(() => anthropicAdapter.parseResponse({ nope: true }, CTX)).toThrow(/content/);
  });
});

describe('anthropic stream translator', () => {
  it('streams text, then a tool call whose arguments arrive in pieces, then the finish reason and usage', () => {
    const { chunks, translator } = translate(anthropicAdapter, fixtureText('anthropic/stream-tool-use.sse'), { includeUsage: true });
    const folded = fold(chunks).get(0)!;
    expect(folded).toEqual({
      role: 'assistant',
      content: "Okay, let's check the weather for San Francisco, CA:",
      toolCalls: [{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '{"location": "San Francisco, CA", "unit": "fahrenheit"}' } }],
      finishReason: 'tool_calls',
    });
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const last = chunks[chunks.length - 1]!;
    expect(last).toEqual({ id: CTX.id, object: 'chat.completion.chunk', created: CTX.created, model: CTX.model, choices: [], usage: { prompt_tokens: 472, completion_tokens: 89, total_tokens: 561 } });
    for (const chunk of chunks.slice(0, -1)) expect(chunk.usage).toBeNull();
    expect(translator).toMatchObject({ completed: true, error: null, finishReason: 'tool_calls' });
    expect(translator.outputText).toBe(`Okay, let's check the weather for San Francisco, CA:{"location": "San Francisco, CA", "unit": "fahrenheit"}`);
  });

  it('without include_usage sends no usage chunk but still knows the usage', () => {
    const { chunks, translator } = translate(anthropicAdapter, fixtureText('anthropic/stream-text.sse'));
    expect(chunks.every((chunk) => chunk.choices.length === 1 && !('usage' in chunk))).toBe(true);
    expect(fold(chunks).get(0)).toMatchObject({ content: "Hello! Wie geht's? 👋", finishReason: 'length' });
    expect(translator.usage).toEqual({ prompt_tokens: 35, completion_tokens: 15, total_tokens: 50, prompt_tokens_details: { cached_tokens: 10 } });
  });

  it('an error event mid-stream stops the translation and is reported', () => {
    const { chunks, translator } = translate(anthropicAdapter, fixtureText('anthropic/stream-overloaded.sse'));
    expect(fold(chunks).get(0)).toMatchObject({ content: 'Partial', finishReason: null });
    expect(translator.error).toEqual({ message: 'Overloaded', type: 'overloaded_error', code: 'overloaded_error' });
    expect(translator.completed).toBe(false);
  });
});

describe('anthropic parseError', () => {
  it('reads Anthropic error bodies, parsed or as text', () => {
    const expected = { message: 'Number of request tokens has exceeded your per-minute rate limit', type: 'rate_limit_error', code: 'rate_limit_error' };
    expect(anthropicAdapter.parseError(429, fixtureJson('anthropic/error-rate-limit.json'))).toEqual(expected);
    expect(anthropicAdapter.parseError(429, fixtureText('anthropic/error-rate-limit.json'))).toEqual(expected);
  });

  it('falls back to the status for bodies of another shape', () => {
    expect(anthropicAdapter.parseError(529, '<html>bad gateway</html>')).toEqual({ message: 'Upstream error 529: <html>bad gateway</html>', type: 'overloaded_error', code: null });
    expect(anthropicAdapter.parseError(401, undefined)).toEqual({ message: 'Upstream error 401', type: 'authentication_error', code: null });
  });
});
