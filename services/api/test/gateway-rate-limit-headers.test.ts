import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DEFAULT_RATE_LIMIT_MS, MAX_RATE_LIMIT_MS, parseResetDuration, rateLimitedUntil } from '../src/gateway/rate-limit-headers.js';

const NOW = Date.parse('2026-12-02T12:00:00Z');

describe('rateLimitedUntil', () => {
  it('reads Retry-After as seconds, as an HTTP date, and retry-after-ms', () => {
    expect(rateLimitedUntil(429, { 'retry-after': '7' }, NOW)).toBe(NOW + 7000);
    expect(rateLimitedUntil(429, { 'retry-after': new Date(NOW + 12_000).toUTCString() }, NOW)).toBe(NOW + 12_000);
    expect(rateLimitedUntil(429, { 'retry-after-ms': '250', 'retry-after': '9' }, NOW)).toBe(NOW + 250);
  });

  it('keeps a 429 without hints out for the default window', () => {
    expect(rateLimitedUntil(429, {}, NOW)).toBe(NOW + DEFAULT_RATE_LIMIT_MS);
    expect(rateLimitedUntil(429, { 'retry-after': 'soon' }, NOW)).toBe(NOW + DEFAULT_RATE_LIMIT_MS);
  });

  it("reads an exhausted OpenAI-style limit on any answer, and Anthropic's reset time", () => {
    expect(rateLimitedUntil(200, { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' }, NOW)).toBe(NOW + 360_000);
    expect(rateLimitedUntil(200, { 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1.5s', 'x-ratelimit-remaining-requests': '3' }, NOW)).toBe(NOW + 1500);
    expect(rateLimitedUntil(200, { 'anthropic-ratelimit-requests-remaining': '0', 'anthropic-ratelimit-requests-reset': new Date(NOW + 30_000).toISOString() }, NOW)).toBe(NOW + 30_000);
  });

  it('lets a model with capacity left be called at once', () => {
    expect(rateLimitedUntil(200, { 'x-ratelimit-remaining-requests': '10', 'x-ratelimit-reset-requests': '1s' }, NOW)).toBeNull();
    expect(rateLimitedUntil(500, { 'retry-after': '5' }, NOW)).toBeNull();
  });

  it('never keeps a model out longer than the cap, whatever the headers say (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 599 }),
        fc.dictionary(
          fc.constantFrom('retry-after', 'retry-after-ms', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens', 'anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset'),
          fc.oneof(fc.string(), fc.nat().map(String), fc.constant('0'), fc.date({ noInvalidDate: true }).map((d) => d.toUTCString())),
        ),
        (status, headers) => {
          const until = rateLimitedUntil(status, headers, NOW);
          if (status === 429) expect(until).not.toBeNull();
          if (until !== null) {
            expect(Number.isFinite(until)).toBe(true);
            expect(until).toBeGreaterThan(NOW);
            expect(until).toBeLessThanOrEqual(NOW + MAX_RATE_LIMIT_MS);
          }
        },
      ),
    );
  });
});

describe('parseResetDuration', () => {
  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1h2m3s', 3_723_000],
    ['2.5', 2500],
  ])('%s → %d ms', (text, ms) => expect(parseResetDuration(text)).toBe(ms));

  it('refuses what is not a duration', () => {
    for (const text of ['', 'soon', '5 s', '1x', 's1']) expect(parseResetDuration(text)).toBeNull();
  });
});
