/**
 * Any valid OpenAI request, through any adapter: either a wire request that keeps the provider's
 * structural rules, or an UnsupportedRequestError (a 400 for the client) — never another error.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { adapterFor, type ChatCompletionRequest, chatCompletionRequestSchema, PROVIDER_APIS, UnsupportedRequestError } from '../src/index.js';

const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', ' ', '\n', 'hello', '{"a":1}'));
const callId = fc.constantFrom('call_a', 'call_b', 'call_c');
const toolName = fc.constantFrom('get_weather', 'lookup');
const args = fc.oneof(fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }).map((o) => JSON.stringify(o)), fc.constantFrom('', '{}', 'not json', '[1]'));

const message = fc.oneof(
  fc.record({ role: fc.constantFrom('system', 'developer'), content: text }),
  fc.record({
    role: fc.constant('user'),
    content: fc.oneof(
      text,
      fc.array(
        fc.oneof(
          text.map((t) => ({ type: 'text', text: t })),
          fc.constantFrom('data:image/png;base64,iVBORw0KGgo=', 'https://x.test/a.jpg', 'https://x.test/a').map((url) => ({ type: 'image_url', image_url: { url } })),
          fc.constant({ type: 'input_audio', input_audio: { data: 'AAA', format: 'wav' } }),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    ),
  }),
  fc.record(
    {
      role: fc.constant('assistant'),
      content: fc.option(text, { nil: null }),
      tool_calls: fc.array(fc.record({ id: callId, type: fc.constant('function'), function: fc.record({ name: toolName, arguments: args }) }), { minLength: 1, maxLength: 2 }),
    },
    { requiredKeys: ['role', 'content'] },
  ),
  fc.record({ role: fc.constant('tool'), tool_call_id: callId, content: text }),
);

const requestArb = fc
  .record(
    {
      messages: fc.array(message, { minLength: 1, maxLength: 6 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      top_p: fc.double({ min: 0, max: 1, noNaN: true }),
      max_tokens: fc.integer({ min: 1, max: 100_000 }),
      max_completion_tokens: fc.integer({ min: 1, max: 100_000 }),
      stop: fc.oneof(text, fc.array(text, { maxLength: 4 })),
      n: fc.integer({ min: 1, max: 3 }),
      user: fc.string({ maxLength: 10 }),
      tools: fc.array(fc.record({ type: fc.constant('function'), function: fc.record({ name: toolName, parameters: fc.constant({ type: 'object', properties: {} }) }) }), { maxLength: 2 }),
      tool_choice: fc.oneof(fc.constantFrom('auto', 'none', 'required'), toolName.map((name) => ({ type: 'function', function: { name } }))),
      response_format: fc.oneof(fc.constant({ type: 'json_object' }), fc.constant({ type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } })),
    },
    { requiredKeys: ['messages'] },
  )
  .map((body) => chatCompletionRequestSchema.parse({ model: 'm', ...body }) as ChatCompletionRequest);

function build(api: (typeof PROVIDER_APIS)[number], req: ChatCompletionRequest, stream: boolean): Record<string, unknown> | null {
  try {
    const built = adapterFor(api).buildRequest(req, { baseUrl: 'https://upstream.test', upstreamModel: 'up-model', apiKey: 'k' }, { stream });
    expect(built.method).toBe('POST');
    expect(built.url.startsWith('https://upstream.test/')).toBe(true);
    return JSON.parse(built.body) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof UnsupportedRequestError) {
      expect(error.param).toMatch(/^(messages|n)/);
      return null;
    }
    throw error;
  }
}

const alternates = (roles: string[]) => roles.every((role, i) => i === 0 || role !== roles[i - 1]);

describe('buildRequest over generated OpenAI requests', () => {
  it('openai: forwards the request under the upstream model name', () => {
    fc.assert(
      fc.property(requestArb, fc.boolean(), (req, stream) => {
        const body = build('openai', req, stream)!;
        expect(body.model).toBe('up-model');
        // upstream.test is not OpenAI: the developer role goes as system, max_completion_tokens as max_tokens.
        expect(body.messages).toEqual(req.messages.map((msg) => (msg.role === 'developer' ? { ...msg, role: 'system' } : msg)));
        expect(body.max_completion_tokens).toBeUndefined();
        expect(body.max_tokens).toBe(req.max_completion_tokens ?? req.max_tokens);
        expect(body.stream === true).toBe(stream);
      }),
      { numRuns: 300 },
    );
  });

  it('anthropic: alternating user/assistant turns, no empty text, tool results answer earlier calls, temperature ≤ 1', () => {
    fc.assert(
      fc.property(requestArb, fc.boolean(), (req, stream) => {
        const body = build('anthropic', req, stream);
        if (!body) return;
        const turns = body.messages as Array<{ role: string; content: Array<Record<string, unknown>> }>;
        expect(turns.length).toBeGreaterThan(0);
        expect(alternates(turns.map((t) => t.role))).toBe(true);
        const seen = new Set<unknown>();
        for (const turn of turns) {
          expect(['user', 'assistant']).toContain(turn.role);
          expect(turn.content.length).toBeGreaterThan(0);
          for (const block of turn.content) {
            if (block.type === 'text') expect(block.text).not.toBe('');
            if (block.type === 'tool_use') {
              expect(turn.role).toBe('assistant');
              expect(typeof block.input === 'object' && block.input !== null && !Array.isArray(block.input)).toBe(true);
              seen.add(block.id);
            }
            if (block.type === 'tool_result') expect(seen.has(block.tool_use_id)).toBe(true);
          }
        }
        expect(typeof body.max_tokens).toBe('number');
        if (body.temperature !== undefined) expect(body.temperature as number).toBeLessThanOrEqual(1);
        expect(body.temperature !== undefined && body.top_p !== undefined).toBe(false);
        for (const stop of (body.stop_sequences as string[] | undefined) ?? []) expect(stop.trim()).not.toBe('');
      }),
      { numRuns: 300 },
    );
  });

  it('gemini: alternating user/model contents whose parts each hold one known thing', () => {
    fc.assert(
      fc.property(requestArb, fc.boolean(), (req, stream) => {
        const body = build('gemini', req, stream);
        if (!body) return;
        const contents = body.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>;
        expect(contents.length).toBeGreaterThan(0);
        expect(alternates(contents.map((c) => c.role))).toBe(true);
        for (const content of contents) {
          expect(['user', 'model']).toContain(content.role);
          expect(content.parts.length).toBeGreaterThan(0);
          for (const part of content.parts) {
            const keys = Object.keys(part);
            expect(keys).toHaveLength(1);
            expect(['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse']).toContain(keys[0]);
            if ('text' in part) expect(part.text).not.toBe('');
            if (part.functionCall) expect(content.role).toBe('model');
            if (part.functionResponse) expect(content.role).toBe('user');
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
