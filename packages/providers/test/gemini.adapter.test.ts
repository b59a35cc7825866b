import { describe, expect, it } from '@jest/globals';
import { type ChatCompletionRequest, chatCompletionRequestSchema, geminiAdapter, UnsupportedRequestError } from '../src/index.js';
import { CTX, fixtureJson, fixtureText, fold, thrownBy, translate } from './adapter-test-support.js';

const TARGET = { baseUrl: 'https://generativelanguage.googleapis.com', upstreamModel: 'gemini-2.5-flash', apiKey: 'AIza-test' };
const request = (body: Record<string, unknown>): ChatCompletionRequest => chatCompletionRequestSchema.parse({ model: 'gemini', ...body });
const wire = (req: ChatCompletionRequest, stream = false) => {
  const built = geminiAdapter.buildRequest(req, TARGET, { stream });
  return { ...built, json: JSON.parse(built.body) as Record<string, unknown> };
};
const PARAMS = { type: 'object', properties: { location: { type: 'string' } }, required: ['location'], additionalProperties: false };

describe('gemini buildRequest', () => {
  it('calls generateContent, or streamGenerateContent?alt=sse, under /v1beta with the key header', () => {
    const req = request({ messages: [{ role: 'user', content: 'hi' }] });
    for (const baseUrl of ['https://generativelanguage.googleapis.com', 'https://generativelanguage.googleapis.com/v1beta/']) {
      expect(geminiAdapter.buildRequest(req, { ...TARGET, baseUrl }, { stream: false }).url).toBe(
        'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent',
      );
    }
    expect(geminiAdapter.buildRequest(req, { ...TARGET, baseUrl: 'http://127.0.0.1:9010/v1' }, { stream: false }).url).toBe(
      'http://127.0.0.1:9010/v1/models/gemini-2.5-flash:generateContent',
    );
    const streamed = geminiAdapter.buildRequest(req, { ...TARGET, upstreamModel: 'models/gemini-2.5-pro' }, { stream: true });
    expect(streamed.url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
    expect(streamed.headers).toEqual({ 'content-type': 'application/json', accept: 'text/event-stream', 'x-goog-api-key': 'AIza-test' });
    expect(JSON.parse(streamed.body).stream).toBeUndefined(); // the method says it, not the body
  });

  it('maps system to systemInstruction, assistant to model turns and sampling to generationConfig', () => {
    const { json } = wire(
      request({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: [{ type: 'text', text: 'Sky colour?' }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQ' } }] },
        ],
        temperature: 1.5,
        top_p: 0.8,
        max_completion_tokens: 100,
        stop: ['\n\n'],
        n: 2,
        seed: 3,
        user: 'ignored',
      }),
    );
    expect(json).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }] },
        { role: 'model', parts: [{ text: 'Hello!' }] },
        { role: 'user', parts: [{ text: 'Sky colour?' }, { inlineData: { mimeType: 'image/jpeg', data: '/9j/4AAQ' } }] },
      ],
      generationConfig: { temperature: 1.5, topP: 0.8, maxOutputTokens: 100, stopSequences: ['\n\n'], candidateCount: 2, seed: 3 },
    });
  });

  it('maps tools, tool calls and tool results (named by the earlier call), and every tool_choice', () => {
    const base = {
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: '', tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_9', content: '{"temp_c": 18}' },
        { role: 'tool', tool_call_id: 'call_9', content: 'plain text' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: PARAMS } }],
    };
    const { json } = wire(request(base));
    expect(json.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { id: 'call_9', name: 'get_weather', args: { location: 'Paris' } } }] },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_9', name: 'get_weather', response: { temp_c: 18 } } },
          { functionResponse: { id: 'call_9', name: 'get_weather', response: { result: 'plain text' } } },
        ],
      },
    ]);
    expect(json.tools).toEqual([{ functionDeclarations: [{ name: 'get_weather', description: 'Weather', parametersJsonSchema: PARAMS }] }]);
    expect(json.toolConfig).toBeUndefined();
    const mode = (tool_choice: unknown) => wire(request({ ...base, tool_choice })).json.toolConfig;
    expect(mode('auto')).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(mode('required')).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(mode('none')).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(mode({ type: 'function', function: { name: 'get_weather' } })).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  });

  it('maps response_format to a JSON MIME type and schema', () => {
    const schema = { type: 'object', properties: { a: { type: 'integer' } } };
    expect(wire(request({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 's', schema } } })).json.generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
    });
    expect(wire(request({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } })).json.generationConfig).toEqual({ responseMimeType: 'application/json' });
  });

  it.each([
    ['a tool result for an unknown call', { messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }, 'messages.0.tool_call_id'],
    ['an image URL of unknown type', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x.test/image' } }] }] }, 'messages.0.content.0'],
    ['only a system message', { messages: [{ role: 'system', content: 'x' }] }, 'messages'],
  ])('refuses %s with an UnsupportedRequestError naming the param', (_name, body, param) => {
    const thrown = thrownBy(() => wire(request(body)));
    expect(thrown).toBeInstanceOf(UnsupportedRequestError);
    expect((thrown as UnsupportedRequestError).param).toBe(param);
  });
});

describe('gemini parseResponse', () => {
  it('turns parts into content and tool calls; STOP with a call is "tool_calls"; thinking tokens count as completion', () => {
    expect(geminiAdapter.parseResponse(fixtureJson('gemini/response-function-call.json'), CTX)).toEqual({
      id: CTX.id,
      object: 'chat.completion',
      created: CTX.created,
      model: CTX.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me look that up.',
            refusal: null,
            tool_calls: [{ id: 'fc_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Boston, MA"}' } }],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 70,
        completion_tokens: 70,
        total_tokens: 140,
        prompt_tokens_details: { cached_tokens: 32 },
        completion_tokens_details: { reasoning_tokens: 50 },
      },
    });
  });

  it.each([
    ['STOP', 'stop'],
    ['MAX_TOKENS', 'length'],
    ['SAFETY', 'content_filter'],
    ['RECITATION', 'content_filter'],
    ['PROHIBITED_CONTENT', 'content_filter'],
    ['MALFORMED_FUNCTION_CALL', 'stop'],
  ])('finishReason %s → finish_reason %s', (reason, finish) => {
    const body = { candidates: [{ content: { role: 'model', parts: [{ text: 'x' }] }, finishReason: reason, index: 0 }] };
    expect(geminiAdapter.parseResponse(body, CTX).choices[0]!.finish_reason).toBe(finish);
  });

  it('a blocked prompt (no candidates) answers an empty content_filter choice; thought parts are not content', () => {
    const blocked = geminiAdapter.parseResponse({ promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } }, CTX);
    expect(blocked.choices).toEqual([{ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' }]);
    expect(blocked.usage).toEqual({ prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 });
    const thinking = geminiAdapter.parseResponse({ candidates: [{ content: { parts: [{ text: 'hmm', thought: true }, { text: 'Answer' }] }, finishReason: 'STOP' }] }, CTX);
    expect(thinking.choices[0]!.message.content).toBe('Answer');
    expect(() => geminiAdapter.parseResponse({ something: 'else' }, CTX)).toThrow(/candidates/);
  });

  it('gives a function call without an id a stable one', () => {
    const body = { candidates: [{ content: { parts: [{ functionCall: { name: 'f', args: {} } }, { functionCall: { name: 'g' } }] }, finishReason: 'STOP' }] };
    const calls = geminiAdapter.parseResponse(body, CTX).choices[0]!.message.tool_calls!;
    expect(calls.map((call) => [call.id, call.function.arguments])).toEqual([
      [`call_${CTX.id}_0_0`, '{}'],
      [`call_${CTX.id}_0_1`, '{}'],
    ]);
  });
});

describe('gemini stream translator', () => {
  it('streams text (CRLF-framed events), the finish reason, then usage at the end of the body', () => {
    const { chunks, translator } = translate(geminiAdapter, fixtureText('gemini/stream-text.sse'), { includeUsage: true });
    expect(fold(chunks).get(0)).toEqual({ role: 'assistant', content: 'The sky is blue because of Rayleigh scattering.', toolCalls: [], finishReason: 'stop' });
    expect(chunks[chunks.length - 1]).toEqual({
      id: CTX.id,
      object: 'chat.completion.chunk',
      created: CTX.created,
      model: CTX.model,
      choices: [],
      usage: { prompt_tokens: 9, completion_tokens: 35, total_tokens: 44, completion_tokens_details: { reasoning_tokens: 24 } },
    });
    expect(translator).toMatchObject({ completed: true, error: null, finishReason: 'stop' });
  });

  it('streams whole function calls as tool calls with their full arguments', () => {
    const { chunks, translator } = translate(geminiAdapter, fixtureText('gemini/stream-function-call.sse'));
    expect(fold(chunks).get(0)).toEqual({
      role: 'assistant',
      content: null,
      toolCalls: [
        { id: `call_${CTX.id}_0_0`, type: 'function', function: { name: 'get_weather', arguments: '{"location":"Boston, MA","unit":"celsius"}' } },
        { id: `call_${CTX.id}_0_1`, type: 'function', function: { name: 'get_time', arguments: '{"timezone":"America/New_York"}' } },
      ],
      finishReason: 'tool_calls',
    });
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false);
    expect(translator.usage).toEqual({ prompt_tokens: 70, completion_tokens: 20, total_tokens: 90 });
  });

  it('an error object mid-stream is reported; a stream without a finishReason is not completed', () => {
    const text = `data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}\r\n\r\ndata: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n`;
    const { chunks, translator } = translate(geminiAdapter, text, { includeUsage: true });
    expect(fold(chunks).get(0)).toMatchObject({ content: 'Hi', finishReason: null });
    expect(translator.error).toEqual({ message: 'The model is overloaded.', type: 'overloaded_error', code: 'UNAVAILABLE' });
    expect(translator.completed).toBe(false);
    expect(chunks.some((chunk) => chunk.choices.length === 0)).toBe(false);
  });
});

describe('gemini parseError', () => {
  it('reads Google error bodies (object, text or a one-element array)', () => {
    const expected = { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'rate_limit_error', code: 'RESOURCE_EXHAUSTED' };
    expect(geminiAdapter.parseError(429, fixtureJson('gemini/error-quota.json'))).toEqual(expected);
    expect(geminiAdapter.parseError(429, fixtureText('gemini/error-quota.json'))).toEqual(expected);
    expect(geminiAdapter.parseError(429, [fixtureJson('gemini/error-quota.json')])).toEqual(expected);
    expect(geminiAdapter.parseError(502, 'Bad Gateway')).toEqual({ message: 'Upstream error 502: Bad Gateway', type: 'api_error', code: null });
  });
});
