import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseRouteRequestFast, routeRequestSchema } from '../src/routing/route.schema.js';

/** Values that are valid for some field and invalid for others, to hit every rule's edges. */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.constantFrom(0, -1, 1, 1.5, 1024, 2_000_000, 2_000_001, 1e9, Number.MAX_SAFE_INTEGER + 2, 0.001),
  fc.double({ noNaN: true }),
  fc.constantFrom('', 'x', 'cheapest', 'fastest', 'most_available', 'balanced', 'random', 'a\u0000b', 'é'.repeat(64), 'y'.repeat(65), 'z'.repeat(257)),
  fc.string({ maxLength: 70 }),
  fc.array(fc.oneof(fc.string({ maxLength: 66 }), fc.integer()), { maxLength: 66 }),
  fc.constant({}),
);

const FIELDS = ['prompt', 'max_tokens', 'strategy', 'user_id', 'enable_ab_test', 'ab_test_id', 'required_capabilities', 'providers', 'max_cost_usd', 'max_latency_ms'];

const bodyArb = fc.oneof(
  fc.record(Object.fromEntries(FIELDS.map((f) => [f, anyValue])), { requiredKeys: [] }),
  fc.record({ prompt: fc.string({ minLength: 1 }), temperature: fc.double() }),
  anyValue,
);

describe('the hot-path route body parse', () => {
  it('accepts exactly what zod accepts, with the same result', () => {
    fc.assert(
      fc.property(bodyArb, (raw) => {
        // Bodies arrive through JSON.parse: undefined members vanish, as they do on the wire.
        const body = raw === undefined ? undefined : JSON.parse(JSON.stringify(raw) ?? 'null');
        const fast = parseRouteRequestFast(body);
        const reference = routeRequestSchema.safeParse(body);
        expect(fast !== null).toBe(reference.success);
        if (fast !== null && reference.success) expect(fast).toEqual(reference.data);
      }),
      { numRuns: 5000 },
    );
  });

  it('takes the seed example and fills the defaults', () => {
    expect(parseRouteRequestFast({ prompt: '用户的问题', max_tokens: 1000, strategy: 'cheapest', user_id: 'user123', enable_ab_test: true })).toEqual({
      prompt: '用户的问题',
      max_tokens: 1000,
      strategy: 'cheapest',
      user_id: 'user123',
      enable_ab_test: true,
    });
    expect(parseRouteRequestFast({ prompt: 'hi' })).toEqual({ prompt: 'hi', max_tokens: 1024, enable_ab_test: false });
  });
});
