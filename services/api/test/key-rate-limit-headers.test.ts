/** The x-ratelimit-* headers of API keys, in OpenAI's names and duration format (pure). */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseResetDuration } from '../src/gateway/rate-limit-headers.js';
import { formatResetDuration, rateLimitHeaders, refusalHeaders, retryAfterSeconds } from '../src/keys/key-rate-limit-headers.js';

describe('formatResetDuration', () => {
  it('writes durations as OpenAI does (Go durations)', () => {
    expect(formatResetDuration(0)).toBe('0s');
    expect(formatResetDuration(12)).toBe('12ms');
    expect(formatResetDuration(999)).toBe('999ms');
    expect(formatResetDuration(1000)).toBe('1s');
    expect(formatResetDuration(1500)).toBe('1.5s');
    expect(formatResetDuration(59_999)).toBe('59.999s');
    expect(formatResetDuration(60_000)).toBe('1m0s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
    expect(formatResetDuration(61_250)).toBe('1m1.25s');
    expect(formatResetDuration(3_600_000)).toBe('1h0m0s');
    expect(formatResetDuration(3_723_004)).toBe('1h2m3.004s');
    // A fraction of a millisecond rounds up: never "0s" while the window still runs.
    expect(formatResetDuration(0.2)).toBe('1ms');
  });

  it('is read back to the same milliseconds by the gateway\'s parser of providers\' headers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 48 * 3_600_000 }), (ms) => {
        expect(parseResetDuration(formatResetDuration(ms))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('rateLimitHeaders', () => {
  it('sends the headers of each limit the key has, with what is left and when it resets', () => {
    expect(rateLimitHeaders({ rpm: 60, tpm: 150_000, requests: 1, tokens: 16, resetMs: 59_990 })).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '59.99s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '59.99s',
    });
    expect(rateLimitHeaders({ rpm: 10, tpm: null, requests: 3, tokens: 500, resetMs: 1000 })).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '7',
      'x-ratelimit-reset-requests': '1s',
    });
    expect(rateLimitHeaders({ rpm: null, tpm: 100, requests: 3, tokens: 140, resetMs: 20 })).toEqual({
      'x-ratelimit-limit-tokens': '100',
      // A correction may leave a window over its limit: nothing is left, never a negative number.
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '20ms',
    });
  });

  it('adds Retry-After (whole seconds, at least 1) and retry-after-ms to a refusal that waiting cures', () => {
    const state = { rpm: 5, tpm: null, requests: 5, tokens: 0, resetMs: 41_200 };
    expect(refusalHeaders(state, false)).toMatchObject({ 'retry-after': '42', 'retry-after-ms': '41200', 'x-ratelimit-remaining-requests': '0' });
    expect(refusalHeaders({ ...state, resetMs: 3 }, false)).toMatchObject({ 'retry-after': '1', 'retry-after-ms': '3' });
    // Too large for the key's tpm: waiting never helps.
    const tooLarge = refusalHeaders({ rpm: null, tpm: 100, requests: 0, tokens: 0, resetMs: 60_000 }, true);
    expect(tooLarge['retry-after']).toBeUndefined();
    expect(tooLarge['x-ratelimit-limit-tokens']).toBe('100');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_600_000 }), (ms) => {
        const seconds = retryAfterSeconds(ms);
        expect(seconds).toBeGreaterThanOrEqual(1);
        expect(seconds * 1000).toBeGreaterThanOrEqual(ms);
        expect((seconds - 1) * 1000).toBeLessThan(Math.max(ms, 1000));
      }),
    );
  });
});
