import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { gatewayRequestSchema, parseGatewayRequestFast } from '../src/gateway/chat-completions.schema.js';

/** Values valid for some field and invalid for others, to hit every rule's edges. */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, -0, 1, 2, -1, -2, -2.5, 0.5, 1.5, 2.5, 128, 4096, 1e9, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2),
  fc.double({ noNaN: true }),
  fc.constantFrom('', 'x', 'bench-gateway', 'router/cheapest', 'a\u0000b', 'é'.repeat(256), 'y'.repeat(257)),
  fc.string({ maxLength: 40 }),
  fc.constantFrom({}, { include_usage: true }, { include_usage: 'yes' }, { include_usage: false, extra: 1 }, []),
);

const roleArb = fc.constantFrom('system', 'developer', 'user', 'assistant', 'tool', 'function', 'robot', 1);
const contentArb = fc.oneof(fc.string({ maxLength: 30 }), fc.constant(null), fc.integer(), fc.constant([{ type: 'text', text: 'hi' }]));
const messageArb = fc.oneof(
  fc.record({ role: roleArb, content: contentArb, name: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) }, { requiredKeys: ['role', 'content'] }),
  fc.record({ role: roleArb, content: contentArb, tool_call_id: fc.string({ minLength: 1, maxLength: 10 }) }),
  anyValue,
);

const FIELDS = ['max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'presence_penalty', 'frequency_penalty', 'seed', 'stream', 'stream_options', 'n', 'user'];

/** A value the schema accepts for each field, mixed with anything: most bodies are then valid. */
const VALID: Record<string, fc.Arbitrary<unknown>> = {
  max_tokens: fc.integer({ min: 1, max: 1e6 }),
  max_completion_tokens: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 1e6 })),
  temperature: fc.double({ min: 0, max: 2, noNaN: true }),
  top_p: fc.double({ min: 0, max: 1, noNaN: true }),
  presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  seed: fc.integer(),
  stream: fc.boolean(),
  stream_options: fc.constantFrom({}, { include_usage: true }, { include_usage: false }, null),
  n: fc.constantFrom(1, null),
  user: fc.string({ minLength: 1, maxLength: 20 }),
};
const plainMessage = fc.record(
  { role: fc.constantFrom('system', 'developer', 'user', 'assistant'), content: fc.string({ maxLength: 30 }), name: fc.string({ maxLength: 10 }) },
  { requiredKeys: ['role', 'content'] },
);
const nearlyValidArb = fc.record(
  {
    model: fc.oneof(fc.constantFrom('bench-gateway', 'router/balanced'), fc.string({ minLength: 1, maxLength: 20 })),
    messages: fc.array(fc.oneof({ weight: 9, arbitrary: plainMessage }, { weight: 1, arbitrary: messageArb }), { minLength: 1, maxLength: 4 }),
    ...Object.fromEntries(FIELDS.map((f) => [f, fc.oneof({ weight: 4, arbitrary: VALID[f]! }, { weight: 1, arbitrary: anyValue })])),
  },
  { requiredKeys: ['model', 'messages'] },
);

const bodyArb = fc.oneof(
  nearlyValidArb,
  fc.record(
    {
      model: fc.oneof(fc.constantFrom('bench-gateway', 'router/balanced'), anyValue),
      messages: fc.oneof(fc.array(messageArb, { maxLength: 4 }), anyValue),
      ...Object.fromEntries(FIELDS.map((f) => [f, anyValue])),
      router: fc.constantFrom({ strategy: 'cheapest' }, { timeout_ms: 5 }),
      tools: fc.constant([{ type: 'function', function: { name: 'f' } }]),
      unknown_field: anyValue,
    },
    { requiredKeys: [] },
  ),
  anyValue,
);

/** Bodies arrive through JSON.parse: undefined members vanish, as they do on the wire. */
const wire = (raw: unknown): unknown => (raw === undefined ? undefined : JSON.parse(JSON.stringify(raw) ?? 'null'));

describe('the gateway hot path request parse', () => {
  it('accepts only what zod accepts, with the same result; anything it leaves is for zod', () => {
    let accepted = 0;
    fc.assert(
      fc.property(bodyArb, (raw) => {
        const body = wire(raw);
        const fast = parseGatewayRequestFast(body);
        const reference = gatewayRequestSchema.safeParse(body);
        if (fast === null) return;
        accepted++;
        expect(reference.success).toBe(true);
        expect(fast).toEqual(reference.data);
      }),
      { numRuns: 20_000 },
    );
    // The generated cases reach the accepting path, not only the refusals.
    expect(accepted).toBeGreaterThan(500);
  });

  it('takes the common requests itself', () => {
    const common = [
      { model: 'bench-gateway', messages: [{ role: 'user', content: 'Hello, how are you today?' }], max_tokens: 16 },
      { model: 'bench-gateway', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16, stream: true, stream_options: { include_usage: true } },
      {
        model: 'router/cheapest',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi', name: 'ann' },
          { role: 'assistant', content: 'Hello' },
          { role: 'developer', content: 'x' },
        ],
        temperature: 0.2,
        top_p: 1,
        n: 1,
        seed: 7,
        user: 'user-1',
        max_completion_tokens: null,
      },
    ];
    for (const body of common) {
      expect(parseGatewayRequestFast(body)).toEqual(gatewayRequestSchema.parse(body));
    }
  });

  it('leaves tools, content parts, router options and bad values to zod', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'Hi' }] };
    for (const body of [
      { ...base, tools: [{ type: 'function', function: { name: 'f' } }] },
      { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
      { ...base, router: { strategy: 'cheapest' } },
      { ...base, n: 2 },
      { ...base, temperature: 3 },
      { ...base, user: '' },
      { ...base, max_tokens: 0 },
      { ...base, messages: [] },
      { ...base, stream_options: { include_usage: true, other: 1 } },
    ]) {
      expect(parseGatewayRequestFast(body)).toBeNull();
    }
  });
});
