/**
 * Reads when a provider's rate-limit window resets from its answer's headers. Providers say it in
 * different ways; each is read as documented:
 * - `retry-after-ms` (OpenAI): milliseconds; `retry-after` (RFC 9110): seconds or an HTTP date;
 * - OpenAI-style `x-ratelimit-remaining-{requests,tokens}` = 0 with `x-ratelimit-reset-*` as a
 *   duration ("1s", "6m0s", "120ms") or seconds;
 * - Anthropic's `anthropic-ratelimit-*-remaining` = 0 with `anthropic-ratelimit-*-reset` (RFC 3339).
 */

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** A 429 that names no window keeps the model out this long. */
export const DEFAULT_RATE_LIMIT_MS = 1_000;
/** No header keeps a model out longer than this: a bad value must not disable a model for days. */
export const MAX_RATE_LIMIT_MS = 3_600_000;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "6m0s" / "1.5s" / "20ms" / "30" (seconds) → milliseconds; null when unreadable. */
export function parseResetDuration(value: string): number | null {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  let total = 0;
  let matched = '';
  for (const m of text.matchAll(DURATION_PART)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched += m[0];
  }
  return matched.length > 0 && matched === text ? total : null;
}

/** `retry-after`: delay-seconds or an HTTP date → milliseconds from `now`. */
function retryAfterMs(headers: Headers, now: number): number | null {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Number(ms);
  const value = header(headers, 'retry-after');
  if (value === undefined) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** OpenAI-style limits: [remaining, reset] header names (built once: this runs on every answer). */
const OPENAI_LIMITS = ['requests', 'tokens'].map((kind) => [`x-ratelimit-remaining-${kind}`, `x-ratelimit-reset-${kind}`] as const);
/** Anthropic's limits: [remaining, reset] header names. */
const ANTHROPIC_LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'].map(
  (kind) => [`anthropic-ratelimit-${kind}-remaining`, `anthropic-ratelimit-${kind}-reset`] as const,
);

/** The longest reset among exhausted limits (a window with 0 left). */
function exhaustedResetMs(headers: Headers, now: number): number | null {
  let longest: number | null = null;
  for (const [remaining, resetName] of OPENAI_LIMITS) {
    if (header(headers, remaining)?.trim() === '0') {
      const reset = header(headers, resetName);
      const ms = reset === undefined ? DEFAULT_RATE_LIMIT_MS : parseResetDuration(reset);
      if (ms !== null && Number.isFinite(ms) && (longest === null || ms > longest)) longest = ms;
    }
  }
  for (const [remaining, resetName] of ANTHROPIC_LIMITS) {
    if (header(headers, remaining)?.trim() === '0') {
      const reset = header(headers, resetName);
      const at = reset === undefined ? NaN : Date.parse(reset);
      const ms = Number.isFinite(at) ? Math.max(0, at - now) : DEFAULT_RATE_LIMIT_MS;
      if (longest === null || ms > longest) longest = ms;
    }
  }
  return longest;
}

/**
 * Until when (epoch ms) the model must stay out of routing after this answer, or null when it may
 * be called again at once. A 429 always keeps it out (at least `DEFAULT_RATE_LIMIT_MS`); any answer
 * whose headers say a limit is exhausted keeps it out until that limit resets.
 */
export function rateLimitedUntil(status: number, headers: Headers, now: number): number | null {
  let ms = exhaustedResetMs(headers, now);
  if (status === 429) {
    const retry = retryAfterMs(headers, now);
    ms = Math.max(retry ?? 0, ms ?? 0) || DEFAULT_RATE_LIMIT_MS;
  }
  if (ms === null || ms <= 0) return null;
  return now + Math.min(ms, MAX_RATE_LIMIT_MS);
}
