/**
 * Every Redis key and channel name of the project, in one place, so each one is built the same way
 * on a single Redis and on a Redis Cluster.
 *
 * On a cluster a key lives in the slot of its hash tag (the text between the first `{` and the
 * next `}`), or of the whole key when it has none. A Lua script or a MULTI may only touch keys of
 * one slot, so keys that are written together carry the same tag; keys used alone carry none, so
 * they spread over every master (an A/B test's per-user assignments may be millions of keys).
 * Channels are not keys: PUBLISH reaches every node's subscribers whatever the name.
 */

/** `{text}`: keys holding the same tag share a cluster slot. */
export const hashTag = (text: string): string => `{${text}}`;

export function redisKeys(prefix: string) {
  const budgetTag = (budgetId: string) => hashTag(`${prefix}:budget:${budgetId}`);
  const keyTag = (keyId: string) => hashTag(`${prefix}:key:${keyId}`);
  return {
    /**
     * BullMQ's prefix: every key of every queue (`{prefix}:queue:…`) under one tag, because
     * BullMQ's scripts touch several keys of a queue together and flows may span queues.
     */
    queuePrefix: hashTag(prefix),

    /** Config change notices (the `config.changed` fact, relayed by the cache-invalidator); every API replica listens. */
    configChannel: `${prefix}:config-changed`,
    /** Circuit and health changes; every API replica listens. */
    runtimeChannel: `${prefix}:runtime-changed`,
    /** New budget spend totals from the enforcer; every API replica listens. */
    budgetStateChannel: `${prefix}:budget-state`,

    /** A user's sticky variant in a weighted_random test (SET NX). Used alone: no tag. */
    abtestUser: (testId: string, userId: string) => `${prefix}:abtest:${testId}:user:${userId}`,
    /** Every cached key of one A/B test, for SCAN (on every master of a cluster). */
    abtestPattern: (testId: string) => `${prefix}:abtest:${testId}:*`,

    /** A model's circuit (a hash). WATCH/MULTI touch this key alone: no tag. */
    circuit: (modelId: string) => `${prefix}:circuit:${modelId}`,

    // Everything of one budget shares the tag `{prefix:budget:ID}` (budgetTag): a script may update
    // the spend counters of its periods together, and later state of the same budget (reservations,
    // rate windows) can join them in one script. Different budgets spread over the masters.
    /** A budget's spend in one period, in nano-dollars (a decimal integer string). */
    budgetSpend: (budgetId: string, periodKey: string) => `${budgetTag(budgetId)}:${periodKey}:spent`,
    /** Every spend counter, for SCAN. */
    budgetSpendPattern: `{${prefix}:budget:*}:*:spent`,
    /**
     * The gateway's reservations against one budget period: `<base>:rsv`, `:rexp` and `:rsum`
     * beside the period's spend counter (`<base>:spent`), under the budget's tag, so one script
     * checks spend + held and holds in one atomic step.
     */
    budgetReservationBase: (budgetId: string, periodKey: string) => `${budgetTag(budgetId)}:${periodKey}`,
    /**
     * One reservation's index: the bases it holds, so it is settled or released by its id alone.
     * Read and written apart from the bases (a call may hold several budgets): no tag.
     */
    budgetReservationIndex: (reservationId: string) => `${prefix}:budget-reservation:${reservationId}`,

    /**
     * A model a provider rate-limited, until its window resets (epoch ms, TTL'd). Every model's
     * key shares one tag, so a replica reads them all with one MGET (few keys: one per model).
     */
    rateLimited: (modelId: string) => `${hashTag(`${prefix}:rate-limited`)}:${modelId}`,
    /** Rate-limit notices of the gateway; every API replica listens. */
    rateLimitedChannel: `${prefix}:rate-limited`,

    /**
     * Everything of one API key shares the tag `{prefix:key:ID}`, so a script may touch all of it
     * at once; different keys spread over the masters.
     */
    keyTag,
    /**
     * An API key's rate-limit window: one hash holding the window's start and both counters
     * (requests, tokens), which one script checks and counts together (services/api/src/keys).
     */
    keyRateWindow: (keyId: string) => `${keyTag(keyId)}:rate`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
