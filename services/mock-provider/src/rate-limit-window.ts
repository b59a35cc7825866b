/**
 * A fixed-window request limit per model, as providers announce it: every answer carries
 * `x-ratelimit-limit|remaining|reset-requests`, and a request over the limit gets 429 with
 * `Retry-After` (whole seconds until the window resets).
 */
export interface RateLimitVerdict {
  limited: boolean;
  headers: Record<string, string>;
  retryAfterS: number;
  limit: number;
  remaining: number;
  /** Epoch ms when the window resets. */
  resetAt: number;
}

/** Anthropic announces its limits in headers of its own, the reset as an RFC 3339 time. */
export function anthropicRateLimitHeaders(limit: number, remaining: number, resetAt: number): Record<string, string> {
  return {
    'anthropic-ratelimit-requests-limit': String(limit),
    'anthropic-ratelimit-requests-remaining': String(remaining),
    'anthropic-ratelimit-requests-reset': new Date(resetAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** OpenAI writes reset times as durations: "1s", "6m0s", "20ms". Seconds with millisecond precision read the same. */
export const resetDuration = (ms: number): string => `${Math.max(0, Math.round(ms)) / 1000}s`;

export class RateLimitWindows {
  private readonly windows = new Map<string, { start: number; count: number }>();

  /** Counts one request of `model` at `now` against `limit` per `windowMs`. */
  take(model: string, limit: number, windowMs: number, now: number): RateLimitVerdict {
    let window = this.windows.get(model);
    if (!window || now - window.start >= windowMs) this.windows.set(model, (window = { start: now, count: 0 }));
    const resetMs = window.start + windowMs - now;
    const limited = window.count >= limit;
    if (!limited) window.count += 1;
    return {
      limited,
      limit,
      remaining: limit - window.count,
      resetAt: window.start + windowMs,
      retryAfterS: Math.max(1, Math.ceil(resetMs / 1000)),
      headers: {
        'x-ratelimit-limit-requests': String(limit),
        'x-ratelimit-remaining-requests': String(limit - window.count),
        'x-ratelimit-reset-requests': resetDuration(resetMs),
      },
    };
  }

  clear(): void {
    this.windows.clear();
  }
}
