/**
 * The mock's three wire formats, checked by the providers' official SDKs: if an SDK reads an
 * answer (streamed or not, tool calls included), the mock speaks the real format.
 */
import Anthropic from '@anthropic-ai/sdk';
import { FunctionCallingConfigMode, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import OpenAI from 'openai';
import { type RunningMockProvider, startMockProvider } from '../src/index.js';
import { logger } from './helpers.js';

let mock: RunningMockProvider;
let openai: OpenAI;
let anthropic: Anthropic;
let gemini: GoogleGenAI;

beforeAll(async () => {
  mock = await startMockProvider({ port: 0, logger, initial: { defaults: { latency_ms: 0 } } });
  // No retries: a test sees each failure as the mock sent it.
  openai = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'sk-ant-test', baseURL: mock.url, maxRetries: 0 });
  // The SDK's own fetch fails inside jest's VM realm ("fetch failed"); this realm's fetch works the same.
  gemini = new GoogleGenAI({ apiKey: 'AIza-test', httpOptions: { baseUrl: mock.url, retryOptions: { attempts: 1 }, fetch: (url, init) => fetch(url, init) } });
});
afterAll(async () => {
  await mock.stop();
});
beforeEach(() => {
  mock.settings.resetAll();
  mock.stats.reset();
});

const PROMPT = 'What is the weather like in Paris today?';
const WEATHER_SCHEMA = {
  type: 'object',
  properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1 } },
  required: ['location', 'unit', 'days'],
};
const EXPECTED_ARGS = { location: 'mock', unit: 'celsius', days: 1 };

describe('OpenAI SDK against /v1/chat/completions', () => {
  it('reads a completion, and the same answer streamed with include_usage', async () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: PROMPT }] };
    const whole = await openai.chat.completions.create(body);
    expect(whole.choices[0]!.message.content).toBe(`This is a mock response from gpt-4o. You said: "${PROMPT}"`);
    expect(whole.choices[0]!.finish_reason).toBe('stop');

    const stream = openai.chat.completions.stream({ ...body, stream_options: { include_usage: true } });
    let chunks = 0;
    for await (const _chunk of stream) chunks += 1;
    const final = await stream.finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(whole.choices[0]!.message.content);
    expect(final.choices[0]!.finish_reason).toBe('stop');
    expect(final.usage).toEqual(whole.usage);
    // role chunk + one chunk per word + finish chunk + usage chunk
    expect(chunks).toBe(whole.choices[0]!.message.content!.split(' ').length + 3);
  });

  it('calls a tool (arguments streamed in pieces), then answers the tool result in words', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: WEATHER_SCHEMA } }];
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: PROMPT }];
    const whole = await openai.chat.completions.create({ model: 'gpt-4o', messages, tools });
    const call = whole.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual(EXPECTED_ARGS);

    const stream = openai.chat.completions.stream({ model: 'gpt-4o', messages, tools, tool_choice: 'required' });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(JSON.parse(streamed.function.arguments)).toEqual(EXPECTED_ARGS);

    const after = await openai.chat.completions.create({
      model: 'gpt-4o',
      tools,
      messages: [...messages, whole.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '18 degrees' }],
    });
    expect(after.choices[0]!.message.content).toContain('18 degrees');
    expect(after.choices[0]!.finish_reason).toBe('stop');
  });

  it('sees injected failures as the SDK error classes', async () => {
    const req = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };
    const error = (kind: string) => openai.chat.completions.create(req, { headers: { 'x-mock-fail': kind } }).then(() => null, (e: unknown) => e);
    const limited = await error('rate_limit');
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('1');
    expect(await error('server_error')).toBeInstanceOf(OpenAI.InternalServerError);
    expect(await error('reset')).toBeInstanceOf(OpenAI.APIConnectionError);
    // After the first byte: the stream's error event, or a cut connection, fails the iteration.
    for (const kind of ['mid_stream_error', 'mid_stream_reset']) {
      const stream = await openai.chat.completions.create({ ...req, stream: true }, { headers: { 'x-mock-fail': kind, 'x-mock-fail-after-pieces': '2' } });
      const seen: string[] = [];
      await expect(
        (async () => {
          for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
        })(),
      ).rejects.toThrow();
      expect(seen.join('')).toBe('This is '); // the role chunk ('') and two words
    }
  });
});

describe('Anthropic SDK against /v1/messages', () => {
  it('reads a message, and the same message streamed', async () => {
    const body = { model: 'claude-haiku-4-5', max_tokens: 200, system: 'Be brief.', messages: [{ role: 'user' as const, content: PROMPT }] };
    const whole = await anthropic.messages.create(body);
    expect(whole.content).toEqual([{ type: 'text', text: `This is a mock response from claude-haiku-4-5. You said: "${PROMPT}"` }]);
    expect(whole.stop_reason).toBe('end_turn');
    expect(whole.usage.input_tokens).toBeGreaterThan(0);

    const events: string[] = [];
    const stream = anthropic.messages.stream(body).on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();
    expect(final.content).toEqual(whole.content);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(whole.usage.output_tokens);
    expect(events[0]).toBe('message_start');
    expect(events.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
  });

  it('stops at max_tokens with stop_reason "max_tokens"', async () => {
    const whole = await anthropic.messages.create({ model: 'claude', max_tokens: 3, messages: [{ role: 'user', content: PROMPT }] });
    expect(whole.stop_reason).toBe('max_tokens');
    expect(whole.usage.output_tokens).toBeLessThanOrEqual(3);
  });

  it('calls a tool (input_json_delta pieces assembled by the SDK), then answers the tool result', async () => {
    const tools = [{ name: 'get_weather', input_schema: WEATHER_SCHEMA as Anthropic.Tool.InputSchema }];
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: PROMPT }];
    const whole = await anthropic.messages.create({ model: 'claude', max_tokens: 100, messages, tools });
    expect(whole.stop_reason).toBe('tool_use');
    const use = whole.content[0] as Anthropic.ToolUseBlock;
    expect(use).toMatchObject({ type: 'tool_use', name: 'get_weather', input: EXPECTED_ARGS });
    expect(use.id).toMatch(/^toolu_/);

    const final = await anthropic.messages.stream({ model: 'claude', max_tokens: 100, messages, tools, tool_choice: { type: 'any' } }).finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    expect(final.content[0]).toMatchObject({ type: 'tool_use', name: 'get_weather', input: EXPECTED_ARGS });

    const after = await anthropic.messages.create({
      model: 'claude',
      max_tokens: 100,
      tools,
      messages: [...messages, { role: 'assistant', content: whole.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 degrees' }] }],
    });
    expect(after.stop_reason).toBe('end_turn');
    expect((after.content[0] as Anthropic.TextBlock).text).toContain('mock response');
  });

  it('sees injected failures as the SDK error classes (overloaded is 529)', async () => {
    const body = { model: 'claude', max_tokens: 50, messages: [{ role: 'user' as const, content: 'hi' }] };
    const error = (kind: string) => anthropic.messages.create(body, { headers: { 'x-mock-fail': kind } }).then(() => null, (e: unknown) => e);
    const overloaded = await error('overloaded');
    expect(overloaded).toBeInstanceOf(Anthropic.APIError);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    expect((overloaded as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(await error('rate_limit')).toBeInstanceOf(Anthropic.RateLimitError);
    expect(await error('reset')).toBeInstanceOf(Anthropic.APIConnectionError);
    const stream = anthropic.messages.stream(body, { headers: { 'x-mock-fail': 'mid_stream_error' } });
    await expect(stream.finalMessage()).rejects.toThrow(/injected/);
  });
});

describe('Google GenAI SDK against /v1beta/models/{model}:generateContent', () => {
  it('reads a response, and the same response streamed', async () => {
    const params = { model: 'gemini-2.5-flash', contents: PROMPT, config: { systemInstruction: 'Be brief.' } };
    const whole = await gemini.models.generateContent(params);
    expect(whole.text).toBe(`This is a mock response from gemini-2.5-flash. You said: "${PROMPT}"`);
    expect(whole.candidates![0]!.finishReason).toBe('STOP');
    expect(whole.usageMetadata!.promptTokenCount).toBeGreaterThan(0);

    let text = '';
    let last: Awaited<ReturnType<typeof gemini.models.generateContent>> | undefined;
    let chunks = 0;
    for await (const chunk of await gemini.models.generateContentStream(params)) {
      text += chunk.text ?? '';
      last = chunk;
      chunks += 1;
    }
    expect(text).toBe(whole.text);
    expect(chunks).toBe(whole.text!.split(' ').length);
    expect(last!.candidates![0]!.finishReason).toBe('STOP');
    expect(last!.usageMetadata).toEqual(whole.usageMetadata);
  });

  it('calls a function, streamed or not, then answers the function response', async () => {
    const config = {
      tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: WEATHER_SCHEMA }] }],
      toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: ['get_weather'] } },
    };
    const whole = await gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: PROMPT, config });
    expect(whole.functionCalls).toEqual([{ name: 'get_weather', args: EXPECTED_ARGS }]);
    const calls = [];
    for await (const chunk of await gemini.models.generateContentStream({ model: 'gemini-2.5-flash', contents: PROMPT, config })) calls.push(...(chunk.functionCalls ?? []));
    expect(calls).toEqual([{ name: 'get_weather', args: EXPECTED_ARGS }]);

    const after = await gemini.models.generateContent({
      model: 'gemini-2.5-flash',
      config,
      contents: [
        { role: 'user', parts: [{ text: PROMPT }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: EXPECTED_ARGS } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp_c: 18 } } }] },
      ],
    });
    expect(after.functionCalls).toBeUndefined();
    expect(after.text).toContain('temp_c');
  });

  it('sees injected failures as SDK errors with their status', async () => {
    const call = (kind: string) =>
      gemini.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hi', config: { httpOptions: { headers: { 'x-mock-fail': kind } } } }).then(
        () => null,
        (e: unknown) => e as { status?: number; message: string },
      );
    expect(await call('rate_limit')).toMatchObject({ status: 429, message: expect.stringContaining('RESOURCE_EXHAUSTED') });
    expect(await call('overloaded')).toMatchObject({ status: 503, message: expect.stringContaining('UNAVAILABLE') });
  });
});
