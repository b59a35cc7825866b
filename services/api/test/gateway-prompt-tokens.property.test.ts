/**
 * The gateway counts a prompt's tokens only when something needs the count: a named model whose
 * prompt surely fits is routed on the prompt's UTF-8 length (an upper bound). Generated prompts,
 * context windows and max tokens: the plan (or its refusal) is the same as with the exact count,
 * and prompt_tokens, when read, is the exact count.
 */
import { describe, expect, it } from '@jest/globals';
import { countPromptTokens, type Model, tokenizerWorkTotals } from '@model-router/domain';
import fc from 'fast-check';
import { PromptTokens, promptText } from '../src/gateway/gateway-router.js';
import { OpenAIError } from '../src/gateway/openai-error.js';
import { routerFor, snapshotOf } from './gateway-router-fixture.js';

function model(contextWindow: number): Model {
  return {
    id: 'm',
    name: 'm',
    provider: 'openai',
    input_price_per_1k: 0.001,
    output_price_per_1k: 0.002,
    context_window: contextWindow,
    max_output_tokens: 100_000,
    capabilities: ['chat'],
    enabled: true,
    latency_ms: 100,
    endpoint: null,
  };
}

const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme-ascii', maxLength: 400 }), fc.constantFrom('Hello, how are you today?', '日本語のテキスト', '🙂🙂🙂'));

describe('a named model routed on the prompt\'s upper bound', () => {
  it('is accepted or refused exactly as with the exact count, and prompt_tokens is the exact count', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 1200 }), async (contents, maxTokens, window) => {
        const body = { model: 'm', messages: contents.map((content) => ({ role: 'user' as const, content })), max_tokens: maxTokens };
        const exact = countPromptTokens(promptText(body as never));
        const fits = exact + maxTokens <= window;
        let plan;
        try {
          plan = await routerFor(snapshotOf([model(window)])).plan(body as never, { keyId: 'default', grant: null });
        } catch (error) {
          expect(error).toBeInstanceOf(OpenAIError);
          expect((error as OpenAIError).body().error.code).toBe('context_length_exceeded');
          expect(fits).toBe(false);
          return;
        }
        expect(fits).toBe(true);
        expect(plan.candidates.map((c) => c.model.id)).toEqual(['m']);
        expect(plan.prompt_tokens).toBe(exact);
      }),
      { numRuns: 400 },
    );
  });

  it('does no tokenizing for a prompt that surely fits until prompt_tokens is read', async () => {
    const body = { model: 'm', messages: [{ role: 'user' as const, content: 'Hello, how are you today?' }], max_tokens: 16 };
    const examined = () => tokenizerWorkTotals().codePointsExamined;
    let before = examined();
    const plan = await routerFor(snapshotOf([model(128_000)])).plan(body as never, { keyId: 'default', grant: null });
    expect(examined() - before).toBe(0);
    before = examined();
    expect(plan.prompt_tokens).toBe(countPromptTokens('Hello, how are you today?'));
    expect(examined() - before).toBeGreaterThan(0);
    // A prompt whose bound does not fit is counted while routing (here it fits once counted).
    before = examined();
    await routerFor(snapshotOf([model(40)])).plan(body as never, { keyId: 'default', grant: null });
    expect(examined() - before).toBeGreaterThan(0);
  });

  it('counts once, and only when asked', () => {
    const examined = () => tokenizerWorkTotals().codePointsExamined;
    let before = examined();
    const prompt = new PromptTokens('Hello, how are you today?');
    expect(prompt.bound).toBe(25);
    expect(examined() - before).toBe(0); // not asked yet
    const expected = countPromptTokens('Hello, how are you today?');
    before = examined();
    expect(prompt.count()).toBe(expected);
    expect(examined() - before).toBeGreaterThan(0);
    before = examined();
    expect(prompt.count()).toBe(prompt.count());
    expect(examined() - before).toBe(0); // counted once
  });
});
