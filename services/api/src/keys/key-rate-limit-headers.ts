import type { KeyLimitState } from './key-rate-limiter.js';

/**
 * The answer headers of an API key's rate limits, as OpenAI names and formats them, so clients
 * and SDKs written for OpenAI read them unchanged:
 *   x-ratelimit-limit-requests / -tokens      the key's rpm / tpm
 *   x-ratelimit-remaining-requests / -tokens  what is left in the current window
 *   x-ratelimit-reset-requests / -tokens      time until the window ends ("1s", "6m0s", "20ms")
 * Only the limits a key has are sent (a key with an rpm alone gets the three -requests headers).
 * Both limits share one window, so both resets are the same.
 */

/**
 * Milliseconds as OpenAI's reset durations, which are Go's `time.Duration` text: under a second
 * "120ms"; else hours, minutes and seconds with the seconds' fraction ("1.5s", "6m0s", "1h0m0s").
 */
export function formatResetDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const seconds = millis % 1000 === 0 ? String(millis / 1000) : (millis / 1000).toFixed(3).replace(/0+$/, '');
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** Whole seconds to wait before the window has room again (Retry-After), at least 1. */
export function retryAfterSeconds(resetMs: number): number {
  return Math.max(1, Math.ceil(resetMs / 1000));
}

/**
 * The headers of a refusal: the limits' headers, and when waiting helps, Retry-After (seconds)
 * and OpenAI's `retry-after-ms`, which its SDKs prefer. A request that alone asks more tokens than
 * the key's tpm is never admitted, so it gets no Retry-After.
 */
export function refusalHeaders(state: KeyLimitState, tooLarge: boolean): Record<string, string> {
  const headers = rateLimitHeaders(state);
  if (!tooLarge) {
    headers['retry-after'] = String(retryAfterSeconds(state.resetMs));
    headers['retry-after-ms'] = String(Math.max(1, Math.ceil(state.resetMs)));
  }
  return headers;
}

/** Where headers are set: an HTTP response (`res.setHeader`), or a plain object. */
export interface HeaderTarget {
  setHeader(name: string, value: string): unknown;
}

/** Sets the x-ratelimit-* headers of a key's limits and its window's counts on `target`. */
export function setRateLimitHeaders(target: HeaderTarget, state: KeyLimitState): void {
  const reset = formatResetDuration(state.resetMs);
  if (state.rpm !== null) {
    target.setHeader('x-ratelimit-limit-requests', String(state.rpm));
    target.setHeader('x-ratelimit-remaining-requests', String(Math.max(0, state.rpm - state.requests)));
    target.setHeader('x-ratelimit-reset-requests', reset);
  }
  if (state.tpm !== null) {
    target.setHeader('x-ratelimit-limit-tokens', String(state.tpm));
    target.setHeader('x-ratelimit-remaining-tokens', String(Math.max(0, state.tpm - state.tokens)));
    target.setHeader('x-ratelimit-reset-tokens', reset);
  }
}

/** The x-ratelimit-* headers of a key's limits and its window's counts, as an object. */
export function rateLimitHeaders(state: KeyLimitState): Record<string, string> {
  const headers: Record<string, string> = {};
  setRateLimitHeaders({ setHeader: (name, value) => (headers[name] = value) }, state);
  return headers;
}
