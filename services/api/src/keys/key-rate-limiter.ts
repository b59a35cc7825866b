import type { KeyGrant } from '@model-router/domain';
import { type RedisClient as Redis, type RedisKeys, redisKeys } from '@model-router/redis';

/** Every limit counts over one minute: `rpm` and `tpm` are per minute. */
export const KEY_RATE_WINDOW_MS = 60_000;

/**
 * One fixed window per key, in one hash under the key's hash tag (see `keyRateWindow`):
 *   s  the window's start (Redis' clock, ms), which names the window for later corrections
 *   r  requests admitted in the window
 *   t  tokens admitted in the window (estimates, corrected after the call)
 * The window starts with the first request after the previous one ended and lasts `window` ms
 * (the hash's TTL), like rate-limiter-flexible's fixed window. Both limits are checked, and both
 * counters incremented only when both fit, in one step: a refused request counts nowhere.
 *
 * KEYS = the window; ARGV = rpm (-1: none), tpm (-1: none), window ms, then the tokens of each
 * request to decide, in arrival order (one or more: a replica sends one key's requests of one
 * event-loop turn together). Each is decided in turn on the counts the previous ones left.
 * Returns { ms left, start, then per request: refused (0 admitted, 1 by requests, 2 by tokens),
 * requests, tokens } where requests and tokens are the window's counts after that request.
 */
const ADMIT = `
local key = KEYS[1]
local rpm, tpm, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local left = redis.call('PTTL', key)
local start, requests, tokens
local fresh = left <= 0
if fresh then
  local t = redis.call('TIME')
  start = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
  requests, tokens, left = 0, 0, window
else
  local v = redis.call('HMGET', key, 's', 'r', 't')
  start, requests, tokens = v[1], tonumber(v[2]) or 0, tonumber(v[3]) or 0
end
local out = { left, start }
local addedRequests, addedTokens = 0, 0
for i = 4, #ARGV do
  local cost = tonumber(ARGV[i])
  local refused = 0
  if rpm >= 0 and requests + 1 > rpm then
    refused = 1
  elseif tpm >= 0 and tokens + cost > tpm then
    refused = 2
  else
    requests, tokens = requests + 1, tokens + cost
    addedRequests, addedTokens = addedRequests + 1, addedTokens + cost
  end
  out[#out + 1] = refused
  out[#out + 1] = requests
  out[#out + 1] = tokens
end
if addedRequests > 0 then
  if fresh then
    redis.call('HSET', key, 's', start, 'r', requests, 't', tokens)
    redis.call('PEXPIRE', key, window)
  else
    redis.call('HINCRBY', key, 'r', addedRequests)
    if addedTokens ~= 0 then redis.call('HINCRBY', key, 't', addedTokens) end
  end
end
return out
`;

/**
 * KEYS = the window; ARGV = the window's start seen at admission, token difference. Adds the
 * difference to the window only if it is still the one that admitted the request (a new window
 * owes nothing to the last one), never below zero. Returns 1 when applied.
 */
const CORRECT = `
if redis.call('HGET', KEYS[1], 's') ~= ARGV[1] then return 0 end
local tokens = redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
if tokens < 0 then redis.call('HSET', KEYS[1], 't', 0) end
return 1
`;

/** A key's limits and its window's counts after an admission decision. */
export interface KeyLimitState {
  rpm: number | null;
  tpm: number | null;
  /** Requests in the window: with this one when admitted, without it when refused. */
  requests: number;
  /** Tokens in the window, the same way. */
  tokens: number;
  /** Milliseconds until the window ends and both counts start again from zero. */
  resetMs: number;
}

export type KeyAdmission =
  | (KeyLimitState & {
      status: 'admitted';
      keyId: string;
      /** The window that admitted the request (its start), which a correction must find again. */
      window: string;
      /** The tokens counted at admission (the estimate). */
      estimate: number;
    })
  | (KeyLimitState & {
      status: 'refused';
      /** The limit that refused; `tooLarge`: the request alone asks more tokens than the key's tpm. */
      limit: 'requests' | 'tokens';
      tooLarge: boolean;
      estimate: number;
    })
  /** Redis could not be asked: the request goes through uncounted (fail-open, see the README). */
  | { status: 'unavailable' };

export interface KeyRateLimiterOptions {
  /** The window's length; tests shorten it. */
  windowMs?: number;
  /** Called when Redis cannot be asked (the request is admitted uncounted). */
  onUnavailable?: (error: unknown) => void;
}

/** Whether a key has a limit at all; a key without one never costs a Redis round trip. */
export const hasRateLimits = (grant: Pick<KeyGrant, 'rpm' | 'tpm'>): boolean => grant.rpm !== null || grant.tpm !== null;

type Script = (key: string, ...args: (string | number)[]) => Promise<unknown>;

/** At most this many requests go in one script call (a larger turn takes several). */
const MAX_BATCH = 500;

/** One key's requests of the current event-loop turn, waiting for their script call. */
interface Batch {
  grant: Pick<KeyGrant, 'id' | 'rpm' | 'tpm'>;
  costs: number[];
  settle: ((admission: KeyAdmission) => void)[];
}

/**
 * Requests and tokens per minute of API keys, shared by every API replica through Redis: a Lua
 * script (EVALSHA, registered with defineCommand) reads the key's window, checks both limits and
 * counts a request in both only when both fit. Redis runs a script alone, so the check is exact
 * under any concurrency across replicas: a key limited to N requests gets exactly N.
 *
 * The requests of one key that arrive in the same event-loop turn go to Redis in one script call
 * (decided one after the other, in arrival order, as if each had its own call): the same
 * answers, for one round trip per key and turn instead of one per request, which is what keeps
 * the keyed route's CPU close to the unkeyed one under load. A request waits for no timer: the
 * call leaves at the end of the turn it arrived in (setImmediate).
 *
 * Why a script and not rate-limiter-flexible: its limiter keeps one counter per instance, so two
 * limits take two calls (requests, then tokens), and a request the second refuses has already
 * been counted by the first; consuming only when both fit cannot be done atomically with it.
 *
 * Tokens are counted at admission as the request's estimate (prompt tokens + max tokens) and the
 * gateway later adds the difference to the actual usage (`correct`) if the window still runs.
 * When Redis cannot be asked the request is admitted without headers (fail-open): limits protect
 * tenants from each other, budgets (which fail closed) protect the money, and routing stays
 * available without Redis as it does everywhere else.
 */
export class KeyRateLimiter {
  private readonly keys: RedisKeys;
  private readonly windowMs: number;
  private readonly admitScript: Script;
  private readonly correctScript: Script;
  /** This turn's requests by key (and limits: a grant changed within the turn is its own batch). */
  private pending = new Map<string, Batch>();
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const batches = this.pending;
    this.pending = new Map();
    for (const batch of batches.values()) {
      for (let from = 0; from < batch.costs.length; from += MAX_BATCH) {
        void this.send(batch.grant, batch.costs.slice(from, from + MAX_BATCH), batch.settle.slice(from, from + MAX_BATCH));
      }
    }
  };

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly options: KeyRateLimiterOptions = {},
  ) {
    this.keys = redisKeys(prefix);
    this.windowMs = options.windowMs ?? KEY_RATE_WINDOW_MS;
    if (!('mrKeyRateAdmitMany' in redis)) {
      redis.defineCommand('mrKeyRateAdmitMany', { lua: ADMIT, numberOfKeys: 1 });
      redis.defineCommand('mrKeyRateCorrect', { lua: CORRECT, numberOfKeys: 1 });
    }
    const commands = redis as unknown as Record<'mrKeyRateAdmitMany' | 'mrKeyRateCorrect', Script>;
    this.admitScript = commands.mrKeyRateAdmitMany.bind(redis);
    this.correctScript = commands.mrKeyRateCorrect.bind(redis);
  }

  /** Checks and counts one request of `grant` costing `tokens` (call only when `hasRateLimits`). */
  admit(grant: Pick<KeyGrant, 'id' | 'rpm' | 'tpm'>, tokens: number): Promise<KeyAdmission> {
    const cost = Math.max(0, Math.ceil(tokens));
    const id = `${grant.id}\u0000${grant.rpm}\u0000${grant.tpm}`;
    let batch = this.pending.get(id);
    if (batch === undefined) {
      batch = { grant, costs: [], settle: [] };
      this.pending.set(id, batch);
    }
    batch.costs.push(cost);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
    const settle = batch.settle;
    return new Promise((resolve) => settle.push(resolve));
  }

  private async send(grant: Pick<KeyGrant, 'id' | 'rpm' | 'tpm'>, costs: number[], settle: ((admission: KeyAdmission) => void)[]): Promise<void> {
    let reply: (number | string)[];
    try {
      reply = (await this.admitScript(this.keys.keyRateWindow(grant.id), grant.rpm ?? -1, grant.tpm ?? -1, this.windowMs, ...costs)) as (number | string)[];
      // Every waiter must be answered, whatever came back.
      if (!Array.isArray(reply) || reply.length !== 2 + 3 * costs.length) throw new Error(`unexpected rate-limit script reply: ${JSON.stringify(reply)}`);
    } catch (error) {
      for (const resolve of settle) {
        this.options.onUnavailable?.(error);
        resolve({ status: 'unavailable' });
      }
      return;
    }
    const resetMs = reply[0] as number;
    const window = String(reply[1]);
    for (let i = 0; i < costs.length; i++) {
      const refused = reply[2 + 3 * i] as number;
      const requests = reply[3 + 3 * i] as number;
      const tokens = reply[4 + 3 * i] as number;
      const estimate = costs[i]!;
      if (refused === 0) {
        settle[i]!({ status: 'admitted', rpm: grant.rpm, tpm: grant.tpm, requests, tokens, resetMs, keyId: grant.id, window, estimate });
      } else {
        const limit = refused === 1 ? 'requests' : 'tokens';
        settle[i]!({ status: 'refused', rpm: grant.rpm, tpm: grant.tpm, requests, tokens, resetMs, limit, tooLarge: limit === 'tokens' && estimate > grant.tpm!, estimate });
      }
    }
  }

  /**
   * Replaces an admitted request's estimate by the tokens it actually used, in the window that
   * admitted it (a window that has ended is left alone). Fails quietly: the window ends anyway.
   */
  async correct(admission: Extract<KeyAdmission, { status: 'admitted' }>, actualTokens: number): Promise<boolean> {
    const difference = Math.ceil(actualTokens) - admission.estimate;
    if (difference === 0 || admission.tpm === null) return false;
    try {
      return (await this.correctScript(this.keys.keyRateWindow(admission.keyId), admission.window, difference)) === 1;
    } catch (error) {
      this.options.onUnavailable?.(error);
      return false;
    }
  }
}
