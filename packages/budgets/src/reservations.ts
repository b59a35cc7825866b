import type { Redis } from 'ioredis';
import { budgetKeys } from './keys.js';

/** One budget in scope of a call, in its current period. */
export interface ReservationBudget {
  budget_id: string;
  period_key: string;
  limit_nanos: number;
  /** Committed spend this replica knows of: a floor for a Redis counter that is missing or behind. */
  known_spent_nanos: number;
}

export type ReserveResult = { ok: true } | { ok: false; budget_id: string; spent_nanos: number; reserved_nanos: number };

/**
 * Shared by the scripts: `purge(base, now)` drops the expired reservations of one (budget, period)
 * (a crashed replica's) and keeps the running sum in step. Per (budget, period), under `base`:
 *   :rsv   HASH  reservation id → nano-dollars held
 *   :rexp  ZSET  reservation id → expiry (ms, Redis' clock)
 *   :rsum  the sum of :rsv, so a check costs O(expired), not O(reservations)
 * and per reservation, `index` lists the bases it holds (one per line) so it is settled or released
 * by its id alone, from any process.
 */
const PURGE = `
local function purge(base, now)
  local expired = redis.call('ZRANGEBYSCORE', base .. ':rexp', '-inf', now)
  for _, member in ipairs(expired) do
    local held = redis.call('HGET', base .. ':rsv', member)
    if held then
      redis.call('DECRBY', base .. ':rsum', held)
      redis.call('HDEL', base .. ':rsv', member)
    end
    redis.call('ZREM', base .. ':rexp', member)
  end
end
-- The three keys of a base always share one expiry (the latest any reservation needs), so the
-- sum never outlives the entries it adds up.
local function keep(base, ttl)
  local longest = ttl
  for _, suffix in ipairs({ ':rsv', ':rexp', ':rsum' }) do
    local left = redis.call('PTTL', base .. suffix)
    if left > longest then longest = left end
  end
  for _, suffix in ipairs({ ':rsv', ':rexp', ':rsum' }) do redis.call('PEXPIRE', base .. suffix, longest) end
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function release(index, id)
  local listed = redis.call('GET', index)
  if not listed then return 0 end
  for base in string.gmatch(listed, '[^\\n]+') do
    local held = redis.call('HGET', base .. ':rsv', id)
    if held then
      redis.call('DECRBY', base .. ':rsum', held)
      redis.call('HDEL', base .. ':rsv', id)
    end
    redis.call('ZREM', base .. ':rexp', id)
  end
  redis.call('DEL', index)
  return 1
end
`;

/**
 * KEYS[1] = the reservation's index, KEYS[2..] = one base per budget.
 * ARGV = id, amount, ttl, then per budget: limit, known spent.
 * Every budget is checked before any is written, so a refusal holds nothing: all or none, in one
 * atomic step across every replica. Returns 0 when reserved, else the 1-based index of the first
 * budget the amount would overrun, its spend and what others hold.
 */
const RESERVE = `${PURGE}
local now = clock()
local id = ARGV[1]
local amount = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
for i = 2, #KEYS do
  local base = KEYS[i]
  purge(base, now)
  local spent = tonumber(redis.call('GET', base .. ':spent') or '0')
  local known = tonumber(ARGV[2 * i + 1])
  if known > spent then spent = known end
  local held = tonumber(redis.call('GET', base .. ':rsum') or '0')
  local limit = tonumber(ARGV[2 * i])
  if spent + held + amount > limit then
    return { i - 1, tostring(spent), tostring(held) }
  end
end
local listed = {}
for i = 2, #KEYS do
  local base = KEYS[i]
  local before = redis.call('HGET', base .. ':rsv', id)
  if before then redis.call('DECRBY', base .. ':rsum', before) end
  redis.call('HSET', base .. ':rsv', id, ARGV[2])
  redis.call('ZADD', base .. ':rexp', now + ttl, id)
  redis.call('INCRBY', base .. ':rsum', ARGV[2])
  keep(base, ttl)
  listed[#listed + 1] = base
end
if #listed > 0 then redis.call('SET', KEYS[1], table.concat(listed, '\\n'), 'PX', ttl) end
return { 0 }
`;

/**
 * KEYS[1] = index; ARGV = id, actual amount, ttl. The held estimate becomes the actual cost, kept
 * until the budget enforcer has counted that cost (it then releases the reservation by id), so a
 * cost is never missing from the check while it travels through the queue. Zero releases at once.
 */
const SETTLE = `${PURGE}
local id = ARGV[1]
local actual = ARGV[2]
if tonumber(actual) == 0 then return release(KEYS[1], id) end
local listed = redis.call('GET', KEYS[1])
if not listed then return 0 end
local now = clock()
local ttl = tonumber(ARGV[3])
for base in string.gmatch(listed, '[^\\n]+') do
  local held = redis.call('HGET', base .. ':rsv', id)
  if held then
    redis.call('DECRBY', base .. ':rsum', held)
    redis.call('HSET', base .. ':rsv', id, actual)
    redis.call('INCRBY', base .. ':rsum', actual)
    redis.call('ZADD', base .. ':rexp', now + ttl, id)
    keep(base, ttl)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
`;

/** KEYS = indexes, ARGV = ids: releases each reservation that still exists. Returns how many. */
const RELEASE = `${PURGE}
local released = 0
for i = 1, #KEYS do released = released + release(KEYS[i], ARGV[i]) end
return released
`;

type Script = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/**
 * Budget reservations of in-flight gateway calls, shared by every replica through Redis.
 *
 * Before an upstream call the gateway reserves the call's most expensive outcome (prompt tokens +
 * max_tokens at the model's prices) against every `block` budget in scope, atomically: one script
 * checks committed spend (the enforcer's counter) + what others hold + this amount against each
 * limit and either holds it everywhere or nowhere. Concurrent calls therefore cannot overshoot a
 * budget: each sees what the others hold. After the call the estimate is replaced by the actual
 * cost, which the budget enforcer releases once Postgres has counted it (`releaseCommitted`).
 * Reservations carry a TTL, so a replica that crashes mid-call holds nothing for long.
 */
export class BudgetReservations {
  private readonly keys: ReturnType<typeof budgetKeys>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.keys = budgetKeys(prefix);
    if (!('mrReserveBudgets' in redis)) {
      redis.defineCommand('mrReserveBudgets', { lua: RESERVE });
      redis.defineCommand('mrSettleReservation', { lua: SETTLE });
      redis.defineCommand('mrReleaseReservations', { lua: RELEASE });
    }
  }

  private base(budgetId: string, periodKey: string): string {
    // The spend counter is `${base}:spent`: the script reads it next to the reservations.
    return this.keys.spend(budgetId, periodKey).slice(0, -':spent'.length);
  }

  private index(id: string): string {
    return `${this.prefix}:budget-reservation:${id}`;
  }

  private script(name: string): Script {
    const fn = (this.redis as unknown as Record<string, Script>)[name]!;
    return fn.bind(this.redis);
  }

  /** Holds `amountNanos` against every budget, or refuses naming the first one it would overrun. */
  async reserve(id: string, budgets: readonly ReservationBudget[], amountNanos: number, ttlMs: number): Promise<ReserveResult> {
    if (budgets.length === 0) return { ok: true };
    const keys = [this.index(id), ...budgets.map((b) => this.base(b.budget_id, b.period_key))];
    const args: (string | number)[] = [id, String(Math.max(0, Math.round(amountNanos))), String(Math.max(1, Math.round(ttlMs)))];
    for (const b of budgets) args.push(String(b.limit_nanos), String(b.known_spent_nanos));
    const [refused, spent, held] = (await this.script('mrReserveBudgets')(keys.length, ...keys, ...args)) as [number, string?, string?];
    if (refused === 0) return { ok: true };
    return { ok: false, budget_id: budgets[refused - 1]!.budget_id, spent_nanos: Number(spent), reserved_nanos: Number(held) };
  }

  /** Replaces the held estimate by the actual cost (0 releases it). */
  async settle(id: string, actualNanos: number, ttlMs: number): Promise<void> {
    await this.script('mrSettleReservation')(1, this.index(id), id, String(Math.max(0, Math.round(actualNanos))), String(Math.max(1, Math.round(ttlMs))));
  }

  /** Releases reservations by id: a call that cost nothing, or costs the enforcer has counted. */
  async release(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.script('mrReleaseReservations')(ids.length, ...ids.map((id) => this.index(id)), ...ids)) as number;
  }

  /** What is held against one budget's period now (expired reservations excluded), in nano-dollars. */
  async held(budgetId: string, periodKey: string): Promise<number> {
    const base = this.base(budgetId, periodKey);
    const now = Date.now();
    const [amounts, expiries] = await Promise.all([this.redis.hgetall(`${base}:rsv`), this.redis.zrange(`${base}:rexp`, 0, -1, 'WITHSCORES')]);
    const live = new Set<string>();
    for (let i = 0; i < expiries.length; i += 2) if (Number(expiries[i + 1]) > now) live.add(expiries[i]!);
    let sum = 0;
    for (const [id, amount] of Object.entries(amounts)) if (live.has(id)) sum += Number(amount);
    return sum;
  }
}
