import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { adapterFor, PROVIDER_APIS, type ProviderApi } from '../src/index.js';
import { fixtureText, translate } from './adapter-test-support.js';

const STREAMS: Array<[ProviderApi, string]> = [
  ['openai', 'openai/stream-tool-calls.sse'],
  ['anthropic', 'anthropic/stream-text.sse'],
  ['anthropic', 'anthropic/stream-tool-use.sse'],
  ['anthropic', 'anthropic/stream-overloaded.sse'],
  ['gemini', 'gemini/stream-text.sse'],
  ['gemini', 'gemini/stream-function-call.sse'],
];

describe('stream translators do not care where the upstream bytes are cut', () => {
  it.each(STREAMS)('%s %s: any cuts give the same chunks, usage, finish reason and error as one piece', (api, file) => {
    const text = fixtureText(file);
    const adapter = adapterFor(api);
    for (const includeUsage of [false, true]) {
      const whole = translate(adapter, text, { includeUsage });
      expect(whole.chunks.length).toBeGreaterThan(0);
      fc.assert(
        fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 40 }), (cuts) => {
          const cut = translate(adapter, text, { includeUsage, cuts });
          expect(cut.chunks).toEqual(whole.chunks);
          expect(cut.translator.usage).toEqual(whole.translator.usage);
          expect(cut.translator.finishReason).toBe(whole.translator.finishReason);
          expect(cut.translator.error).toEqual(whole.translator.error);
          expect(cut.translator.completed).toBe(whole.translator.completed);
          expect(cut.translator.outputText).toBe(whole.translator.outputText);
        }),
        { numRuns: 60 },
      );
    }
  });

  it.each(STREAMS)('%s %s: a stream cut short is never "completed", and gives a prefix of the chunks', (api, file) => {
    const text = fixtureText(file);
    const adapter = adapterFor(api);
    const whole = translate(adapter, text);
    fc.assert(
      fc.property(fc.nat({ max: text.length - 1 }), (length) => {
        // Cut before the last event's data ends: the stream's final event is lost.
        const lastEvent = text.trimEnd().lastIndexOf('data:');
        const prefix = text.slice(0, Math.min(length, lastEvent));
        const cut = translate(adapter, prefix);
        expect(cut.translator.completed).toBe(false);
        expect(cut.chunks.length).toBeLessThanOrEqual(whole.chunks.length);
        // Every chunk of the cut stream matches the whole stream's, except possibly the last
        // (its event may have been cut inside a tool call's data).
        expect(cut.chunks.slice(0, -1)).toEqual(whole.chunks.slice(0, Math.max(0, cut.chunks.length - 1)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('stream translators take any bytes without throwing', () => {
  const fragment = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('data: ', 'event: error\n', '\n\n', '\r\n\r\n', 'data: [DONE]\n\n', ': keep-alive\n\n', '{"choices":', '{"type":"message_stop"}', '{"candidates":[{"index":0'),
    fc.jsonValue({ maxDepth: 3 }).map((value) => `data: ${JSON.stringify(value)}\n\n`),
    // Events of the right type with members of the wrong shape.
    fc.constantFrom(
      '{"choices":[null,1,"x"]}',
      '{"choices":[{"index":0,"delta":{"tool_calls":[null,{"function":null}]}}],"usage":{"prompt_tokens":"x"}}',
      '{"type":"message_start","message":null}',
      '{"type":"content_block_start","index":0,"content_block":null}',
      '{"type":"content_block_delta","index":"x","delta":{"type":"input_json_delta","partial_json":5}}',
      '{"type":"message_delta","delta":null,"usage":[1]}',
      '{"type":"error","error":null}',
      '{"candidates":[null,{"content":{"parts":[null,{"functionCall":null},{"text":5}]}}]}',
      '{"candidates":[{"index":"0","content":null,"finishReason":"STOP"}],"usageMetadata":null}',
      '{"error":"text"}',
    ).map((json) => `data: ${json}\n\n`),
  );
  it.each(PROVIDER_APIS)('%s: garbage and half events give well-formed chunks or nothing', (api) => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 20 }), fc.boolean(), (pieces, includeUsage) => {
        const translator = adapterFor(api).createStreamTranslator({ model: 'm', id: 'i', created: 1, includeUsage });
        const chunks = [...pieces.flatMap((piece) => translator.push(piece)), ...translator.end()];
        for (const chunk of chunks) {
          expect(chunk).toMatchObject({ id: 'i', object: 'chat.completion.chunk', created: 1, model: 'm' });
          expect(Array.isArray(chunk.choices)).toBe(true);
        }
        expect(typeof translator.outputText).toBe('string');
      }),
      { numRuns: 300 },
    );
  });
});
