import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { randomHex128, randomUuid } from '../src/random-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid and randomHex128', () => {
  it('make well-formed version 4 UUIDs, all different, across many refills of the pool', () => {
    const seen = new Set<string>();
    // 10,000 ids: the 256-id pool is refilled ~40 times.
    for (let i = 0; i < 10_000; i++) {
      const id = randomUuid();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(10_000);
  });

  it('make 32 hex characters, all different, interleaved with UUIDs (property: any interleaving)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 600 }), (kinds) => {
        const seen = new Set<string>();
        for (const uuid of kinds) {
          const id = uuid ? randomUuid() : randomHex128();
          expect(id).toMatch(uuid ? UUID_V4 : /^[0-9a-f]{32}$/);
          // An id never shares its random bytes with another (a UUID's dashes removed).
          seen.add(id.replace(/-/g, '').slice(0, 12));
        }
        expect(seen.size).toBe(kinds.length);
      }),
    );
  });

  it('use every hex digit in every position over many draws (the bytes are random, not fixed)', () => {
    const digits = Array.from({ length: 32 }, () => new Set<string>());
    for (let i = 0; i < 2_000; i++) [...randomHex128()].forEach((c, at) => digits[at]!.add(c));
    for (const seen of digits) expect(seen.size).toBe(16);
  });
});
