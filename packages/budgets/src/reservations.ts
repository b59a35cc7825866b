import { type RedisClient as Redis, type RedisKeys, redisKeys } from '@model-router/redis';

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
 * Per (budget, period) `base` (under the budget's hash tag, beside its spend counter `:spent`):
 *   :rsv   HASH  reservation id → nano-dollars held
 *   :rexp  ZSET  reservation id → expiry (ms, Redis' clock)
 *   :rsum  the sum of :rsv, so a check costs O(expired), not O(reservations)
 * Every script touches the keys of one base only, so each runs in one slot of a Redis Cluster.
 * `purge` drops the expired reservations (a crashed replica's) and keeps the sum in step; `keep`
 * gives the three keys one expiry (the latest any reservation needs), so the sum never outlives
 * the entries it adds up.
 */
const COMMON = `
local rsv, rexp, rsum = KEYS[KEYS_AT], KEYS[KEYS_AT + 1], KEYS[KEYS_AT + 2]
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function release(id)
  local held = redis.call('HGET', rsv, id)
  if held then
    redis.call('DECRBY', rsum, held)
    redis.call('HDEL', rsv, id)
  end
  redis.call('ZREM', rexp, id)
  return held and 1 or 0
end
local function purge(now)
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', rexp, '-inf', now)) do release(member) end
end
local function keep(ttl)
  local longest = ttl
  for _, key in ipairs({ rsv, rexp, rsum }) do
    local left = redis.call('PTTL', key)
    if left > longest then longest = left end
  end
  for _, key in ipairs({ rsv, rexp, rsum }) do redis.call('PEXPIRE', key, longest) end
end
`;
const common = (keysAt: number): string => COMMON.replaceAll('KEYS_AT', String(keysAt));

/**
 * KEYS = spent, rsv, rexp, rsum of one base; ARGV = id, amount, ttl, limit, known spent.
 * Checks committed spend (the enforcer's counter, or what this replica knows if more) + what
 * others hold + this amount against the limit and holds it, in one atomic step across replicas.
 * Returns { 0 } when held, else { 1, spent, held }.
 */
const RESERVE = `${common(2)}
local now = clock()
local id = ARGV[1]
local amount = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
purge(now)
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local known = tonumber(ARGV[5])
if known > spent then spent = known end
local before = tonumber(redis.call('HGET', rsv, id) or '0')
local held = tonumber(redis.call('GET', rsum) or '0') - before
if spent + held + amount > tonumber(ARGV[4]) then
  return { 1, tostring(spent), tostring(held) }
end
if before > 0 then redis.call('DECRBY', rsum, before) end
redis.call('HSET', rsv, id, ARGV[2])
redis.call('ZADD', rexp, now + ttl, id)
redis.call('INCRBY', rsum, ARGV[2])
keep(ttl)
return { 0 }
`;

/**
 * KEYS = rsv, rexp, rsum of one base; ARGV = id, actual amount, ttl. The held estimate becomes
 * the actual cost, kept until the budget enforcer has counted that cost (it then releases the
 * reservation by id), so a cost is never missing from the check while it travels through the
 * queue. Zero releases at once.
 */
const SETTLE = `${common(1)}
local id = ARGV[1]
local actual = ARGV[2]
if tonumber(actual) == 0 then return release(id) end
local held = redis.call('HGET', rsv, id)
if not held then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('DECRBY', rsum, held)
redis.call('HSET', rsv, id, actual)
redis.call('INCRBY', rsum, actual)
redis.call('ZADD', rexp, clock() + ttl, id)
keep(ttl)
return 1
`;

/** KEYS = rsv, rexp, rsum of one base; ARGV = id. Releases it if still held. */
const RELEASE = `${common(1)}
return release(ARGV[1])
`;

type Script = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/**
 * Budget reservations of in-flight gateway calls, shared by every replica through Redis.
 *
 * Before an upstream call the gateway reserves the call's most expensive outcome (prompt tokens +
 * max_tokens at the model's prices) against every `block` budget in scope: per budget, one script
 * checks committed spend (the enforcer's counter) + what others hold + this amount against the
 * limit and holds it, atomically. Concurrent calls therefore cannot overshoot a budget: each sees
 * what the others hold. The budgets of a call are held one after the other (each budget lives in
 * its own hash tag, so on a Redis Cluster no script may span two); when one refuses, those already
 * held are released, so a refused call holds nothing. Between the two a concurrent call may see
 * the short-lived hold and be refused too: budgets can only be under-used for that instant, never
 * overrun. After the call the estimate is replaced by the actual cost, which the budget enforcer
 * releases once Postgres has counted it (`release`). Reservations carry a TTL, so a replica that
 * crashes mid-call holds nothing for long.
 */
export class BudgetReservations {
  private readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = redisKeys(prefix);
    if (!('mrReserveBudget' in redis)) {
      redis.defineCommand('mrReserveBudget', { lua: RESERVE, numberOfKeys: 4 });
      redis.defineCommand('mrSettleReservation', { lua: SETTLE, numberOfKeys: 3 });
      redis.defineCommand('mrReleaseReservation', { lua: RELEASE, numberOfKeys: 3 });
    }
  }

  private base(budgetId: string, periodKey: string): string {
    return this.keys.budgetReservationBase(budgetId, periodKey);
  }

  private script(name: string): Script {
    const fn = (this.redis as unknown as Record<string, Script>)[name]!;
    return fn.bind(this.redis);
  }

  private static parts(base: string): [string, string, string] {
    return [`${base}:rsv`, `${base}:rexp`, `${base}:rsum`];
  }

  /** Holds `amountNanos` against every budget, or refuses naming the first one it would overrun. */
  async reserve(id: string, budgets: readonly ReservationBudget[], amountNanos: number, ttlMs: number): Promise<ReserveResult> {
    if (budgets.length === 0) return { ok: true };
    const amount = String(Math.max(0, Math.round(amountNanos)));
    const ttl = String(Math.max(1, Math.round(ttlMs)));
    const held: string[] = [];
    for (const b of budgets) {
      const base = this.base(b.budget_id, b.period_key);
      const [refused, spent, reserved] = (await this.script('mrReserveBudget')(
        `${base}:spent`,
        ...BudgetReservations.parts(base),
        id,
        amount,
        ttl,
        String(b.limit_nanos),
        String(b.known_spent_nanos),
      )) as [number, string?, string?];
      if (refused !== 0) {
        await Promise.all(held.map((h) => this.script('mrReleaseReservation')(...BudgetReservations.parts(h), id)));
        return { ok: false, budget_id: b.budget_id, spent_nanos: Number(spent), reserved_nanos: Number(reserved) };
      }
      held.push(base);
    }
    await this.redis.set(this.keys.budgetReservationIndex(id), held.join('\n'), 'PX', Number(ttl));
    return { ok: true };
  }

  /** Replaces the held estimate by the actual cost (0 releases it). */
  async settle(id: string, actualNanos: number, ttlMs: number): Promise<void> {
    const index = this.keys.budgetReservationIndex(id);
    const listed = await this.redis.get(index);
    if (listed === null) return;
    const actual = String(Math.max(0, Math.round(actualNanos)));
    const ttl = String(Math.max(1, Math.round(ttlMs)));
    await Promise.all(listed.split('\n').map((base) => this.script('mrSettleReservation')(...BudgetReservations.parts(base), id, actual, ttl)));
    if (actual === '0') await this.redis.del(index);
    else await this.redis.pexpire(index, Number(ttl));
  }

  /** Releases reservations by id: a call that cost nothing, or costs the enforcer has counted. Returns how many still existed. */
  async release(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // One command per index: the indexes are spread over a cluster's slots (no multi-key command).
    const released = await Promise.all(
      ids.map(async (id) => {
        const index = this.keys.budgetReservationIndex(id);
        const listed = await this.redis.get(index);
        if (listed === null) return 0;
        await Promise.all(listed.split('\n').map((base) => this.script('mrReleaseReservation')(...BudgetReservations.parts(base), id)));
        await this.redis.del(index);
        return 1;
      }),
    );
    return released.reduce<number>((a, b) => a + b, 0);
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
