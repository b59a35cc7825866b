import type { KeyGrant } from '@model-router/domain';
import { ApiError } from '@model-router/http';
import type { Response } from 'express';
import { keyGrantFrom } from './key-scope.js';
import { formatResetDuration, refusalHeaders, setRateLimitHeaders } from './key-rate-limit-headers.js';
import { type KeyAdmission, hasRateLimits, type KeyRateLimiter } from './key-rate-limiter.js';

export type Admitted = Extract<KeyAdmission, { status: 'admitted' }>;
type Refused = Extract<KeyAdmission, { status: 'refused' }>;

/**
 * The 429 of a key over its limit, worded as OpenAI words its own ("Rate limit reached for … on
 * requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.", or "Request too
 * large for …" when the request alone exceeds the tokens per minute).
 */
export function rateLimitedError(keyId: string, refused: Refused): ApiError {
  const byRequests = refused.limit === 'requests';
  const limit = byRequests ? refused.rpm! : refused.tpm!;
  const used = byRequests ? refused.requests : refused.tokens;
  const requested = byRequests ? 1 : refused.estimate;
  const what = byRequests ? 'requests per min (RPM)' : 'tokens per min (TPM)';
  const message = refused.tooLarge
    ? `Request too large for key ${keyId} on ${what}: Limit ${limit}, Requested ${requested}. The input or output tokens must be reduced (a lower max_tokens) for the request to be admitted.`
    : `Rate limit reached for key ${keyId} on ${what}: Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${formatResetDuration(refused.resetMs)}.`;
  return new ApiError(
    'RATE_LIMITED',
    message,
    { limit: refused.limit, limit_value: limit, used, requested, reset_ms: refused.resetMs },
    refusalHeaders(refused, refused.tooLarge),
  );
}

export interface KeyLimitsHooks {
  /** A request refused by its key's limit ('requests' or 'tokens'). */
  onRefused?: (limit: 'requests' | 'tokens') => void;
}

/**
 * The rate limits of the key a request presented, as the endpoints apply them: a request of a key
 * without limits (or of no stored key) passes without any I/O; a keyed one is counted in Redis,
 * gets the x-ratelimit-* headers, or a 429 RATE_LIMITED (thrown) when over a limit.
 */
export class KeyLimits {
  constructor(
    private readonly limiter: KeyRateLimiter,
    private readonly hooks: KeyLimitsHooks = {},
  ) {}

  /** The grant when its key has limits, else null (nothing to count). */
  limitedGrant(res: Response): KeyGrant | null {
    const grant = keyGrantFrom(res.locals);
    return grant !== null && hasRateLimits(grant) ? grant : null;
  }

  /**
   * Counts the request of `res`'s key as `tokens` tokens. Null (synchronously: no round trip)
   * when the key has no limits; else resolves to the admission (null when Redis could not be
   * asked: admitted uncounted) with the headers set on `res`, or rejects with the 429.
   */
  admit(res: Response, tokens: number): Promise<Admitted | null> | null {
    const grant = this.limitedGrant(res);
    if (grant === null) return null;
    return this.admitGrant(res, grant, tokens);
  }

  async admitGrant(res: Response, grant: KeyGrant, tokens: number): Promise<Admitted | null> {
    const admission = await this.limiter.admit(grant, tokens);
    if (admission.status === 'unavailable') return null;
    if (admission.status === 'refused') {
      this.hooks.onRefused?.(admission.limit);
      throw rateLimitedError(grant.id, admission);
    }
    if (!res.headersSent) setRateLimitHeaders(res, admission);
    return admission;
  }

  /** After the call: the admitted estimate becomes the tokens actually used (nobody waits for it). */
  correct(admission: Admitted, actualTokens: number): void {
    // The limiter reports a failure itself (onUnavailable) and never rejects.
    void this.limiter.correct(admission, actualTokens);
  }
}
