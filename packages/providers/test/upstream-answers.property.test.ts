/** Whatever an upstream answers, reading it is a ChatCompletion, an UpstreamFormatError, or (errors) OpenAI's fields. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { adapterFor, PROVIDER_APIS, UpstreamFormatError } from '../src/index.js';

const CTX = { model: 'm', id: 'i', created: 1 };
const answer = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ choices: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }), usage: fc.jsonValue({ maxDepth: 2 }) }),
  fc.record({ content: fc.array(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ type: fc.constantFrom('text', 'tool_use'), text: fc.jsonValue(), input: fc.jsonValue() })), { maxLength: 3 }), stop_reason: fc.jsonValue(), usage: fc.jsonValue() }),
  fc.record({ candidates: fc.array(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ content: fc.record({ parts: fc.array(fc.jsonValue({ maxDepth: 2 })) }), finishReason: fc.jsonValue() })), { maxLength: 3 }), usageMetadata: fc.jsonValue() }),
);

describe.each(PROVIDER_APIS)('%s', (api) => {
  const adapter = adapterFor(api);

  it('parseResponse answers a well-formed completion or throws UpstreamFormatError', () => {
    fc.assert(
      fc.property(answer, (body) => {
        let completion;
        try {
          completion = adapter.parseResponse(body, CTX);
        } catch (error) {
          expect(error).toBeInstanceOf(UpstreamFormatError);
          return;
        }
        expect(completion).toMatchObject({ id: 'i', object: 'chat.completion', created: 1, model: 'm' });
        expect(Array.isArray(completion.choices)).toBe(true);
        for (const choice of completion.choices) expect(typeof choice).toBe('object');
        if (completion.usage) expect(Number.isFinite(completion.usage.total_tokens)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('parseError answers a message and a type for any status and body', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), fc.constant(undefined)), (status, body) => {
        const error = adapter.parseError(status, body);
        expect(typeof error.message).toBe('string');
        expect(error.message.length).toBeGreaterThan(0);
        expect(typeof error.type).toBe('string');
        expect(error.code === null || typeof error.code === 'string').toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
