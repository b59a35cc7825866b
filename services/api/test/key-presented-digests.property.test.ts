import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { PresentedDigests } from '../src/keys/key-auth.js';
import { secretDigest } from '../src/keys/key-secrets.js';

describe('PresentedDigests', () => {
  it('gives the same digest and base64 as hashing the key each time, for any keys in any order', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 60 }), { maxLength: 200 }), fc.integer({ min: 1, max: 8 }), (keys, max) => {
        const digests = new PresentedDigests(max);
        for (const key of keys) {
          const expected = secretDigest(key);
          const got = digests.of(key);
          expect(got.digest.equals(expected)).toBe(true);
          expect(got.base64).toBe(expected.toString('base64'));
          // Bounded, however many different keys are presented.
          expect(digests.size).toBeLessThanOrEqual(max);
        }
      }),
    );
  });

  it('hashes a key presented again only after the cache started over', () => {
    const digests = new PresentedDigests(2);
    const first = digests.of('mr-a');
    expect(digests.of('mr-a')).toBe(first); // kept: no new hash
    digests.of('mr-b');
    digests.of('mr-c'); // full: starts over with mr-c
    expect(digests.size).toBe(1);
    const again = digests.of('mr-a');
    expect(again).not.toBe(first);
    expect(again.digest.equals(first.digest)).toBe(true);
  });
});
