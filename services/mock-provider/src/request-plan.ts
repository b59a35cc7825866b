/**
 * How one request is answered: its delay, pace and injected failure, from the model's settings,
 * overridden per request by `x-mock-*` headers (for tests and benches that drive the mock directly).
 */
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { invalidRequest } from './mock-error.js';
import { FAILURE_KINDS, type FailureKind, type ModelSettings } from './settings.js';

export interface RequestPlan {
  delayMs: number;
  tokensPerSecond: number;
  failure: FailureKind | null;
  failAfterPieces: number;
  retryAfterS: number;
}

const headerInt = (max: number) => z.coerce.number().int().min(0).max(max);
const headersSchema = z.object({
  'x-mock-latency-ms': headerInt(600_000).optional(),
  'x-mock-tokens-per-second': z.coerce.number().min(0).max(1_000_000).optional(),
  /** A failure kind to inject into this request for sure, or "none" for none. */
  'x-mock-fail': z.enum([...FAILURE_KINDS, 'none']).optional(),
  'x-mock-fail-after-pieces': headerInt(1_000_000).optional(),
  'x-mock-retry-after-s': headerInt(86_400).optional(),
});

/** Reads the `x-mock-*` headers (most requests have none: then no parsing at all). */
export function headerOverrides(headers: IncomingHttpHeaders): z.infer<typeof headersSchema> {
  let any = false;
  for (const name in headers) if (name.startsWith('x-mock-')) any = true;
  if (!any) return {};
  const parsed = headersSchema.safeParse(headers);
  if (!parsed.success) throw invalidRequest(parsed.error.issues, 'x-mock header');
  return parsed.data;
}

/**
 * Random draws, in this order: the jitter (only when jitter_ms > 0), then the failure (only when
 * 0 < error_rate < 1 and no header decides it), so an injected sequence maps onto requests predictably.
 */
export function planRequest(settings: ModelSettings, headers: IncomingHttpHeaders, random: () => number): RequestPlan {
  const overrides = headerOverrides(headers);
  const jitter = settings.jitter_ms > 0 ? random() * settings.jitter_ms : 0;
  let failure: FailureKind | null;
  if (overrides['x-mock-fail'] !== undefined) failure = overrides['x-mock-fail'] === 'none' ? null : overrides['x-mock-fail'];
  else {
    const fails = settings.error_rate >= 1 || (settings.error_rate > 0 && random() < settings.error_rate);
    failure = fails ? settings.error_kind : null;
  }
  return {
    delayMs: (overrides['x-mock-latency-ms'] ?? settings.latency_ms) + jitter,
    tokensPerSecond: overrides['x-mock-tokens-per-second'] ?? settings.tokens_per_second,
    failure,
    failAfterPieces: overrides['x-mock-fail-after-pieces'] ?? settings.fail_after_pieces,
    retryAfterS: overrides['x-mock-retry-after-s'] ?? settings.retry_after_s,
  };
}
