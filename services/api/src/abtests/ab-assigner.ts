import { type AbVariant, assignByProbabilities, assignVariant, type RandomSource } from '@model-router/domain';
import type { StoredAbTest } from '@model-router/database';
import { keys, type RedisClient as Redis } from '@model-router/redis';

/** Said by `AbAssigner.assignWithoutIo` when the assignment needs a Redis round trip. */
export const NEEDS_REDIS = Symbol('needs redis');

export interface Assignment {
  test: StoredAbTest;
  variant: AbVariant;
  /** thompson_sampling: the probability the variant had when the user was put in it. */
  probability?: number | null;
}

/** Where a thompson_sampling test's current probabilities come from (BanditAllocations). */
export interface BanditProbabilities {
  probabilities(test: StoredAbTest): Promise<number[]>;
}

/**
 * Puts a user into a running test's variant.
 * - consistent_hash: pure (no I/O): a hash of (test id, user id) on the cumulative weights.
 * - weighted_random: one draw, made sticky with `SET key variant NX GET` (one round trip returns the
 *   earlier draw if there was one), TTL `user_variant_cache_ttl`.
 * - thompson_sampling: as weighted_random, on the bandit's current probabilities; the sticky value
 *   is "variant probability", so every later decision of the user carries the probability of their
 *   first assignment (the one the inverse-propensity weights need).
 * A request without a user id is put in no test: a user is the unit of assignment and analysis.
 */
export class AbAssigner {
  /** A user's sticky-variant key (the key names are built once, not per assignment). */
  private readonly userKey: (testId: string, userId: string) => string;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly userTtlMs: number,
    private readonly random: RandomSource = Math.random,
    private readonly bandits: BanditProbabilities | null = null,
  ) {
    this.userKey = keys(keyPrefix).abtestUser;
  }

  /** The test a request joins: the one it names if that is running, else the oldest running test. */
  pickTest(running: readonly StoredAbTest[], byId: ReadonlyMap<string, StoredAbTest>, requested?: string): StoredAbTest | null {
    if (requested !== undefined) return byId.get(requested) ?? null;
    return running[0] ?? null;
  }

  /**
   * The assignment when it needs no I/O (no user, or consistent_hash), else `NEEDS_REDIS`: the route
   * handler stays synchronous for every request that does not have to wait for Redis.
   */
  assignWithoutIo(test: StoredAbTest, userId: string | undefined): Assignment | null | typeof NEEDS_REDIS {
    if (!userId) return null;
    if (test.strategy !== 'consistent_hash') return NEEDS_REDIS;
    const variant = assignVariant(test, userId);
    return variant ? { test, variant } : null;
  }

  async assign(test: StoredAbTest, userId: string | undefined): Promise<Assignment | null> {
    const now = this.assignWithoutIo(test, userId);
    if (now !== NEEDS_REDIS) return now;
    const key = this.userKey(test.id, userId!);
    if (test.strategy === 'thompson_sampling' && this.bandits) {
      const probabilities = await this.bandits.probabilities(test);
      const drawn = assignByProbabilities(test.variants, probabilities, this.random);
      // Variant ids have no spaces (abTestIdSchema), so "id probability" splits unambiguously.
      const value = `${drawn.variant.id} ${drawn.probability}`;
      const earlier = (await this.redis.call('SET', key, value, 'PX', String(this.userTtlMs), 'NX', 'GET')) as string | null;
      if (earlier === null) return { test, variant: drawn.variant, probability: drawn.probability };
      const [earlierId, earlierP] = earlier.split(' ');
      const variant = test.variants.find((v) => v.id === earlierId);
      const p = earlierP === undefined ? null : Number(earlierP);
      return variant ? { test, variant, probability: p !== null && p > 0 && p <= 1 ? p : null } : { test, variant: drawn.variant, probability: drawn.probability };
    }
    const drawn = assignVariant(test, userId!, this.random)!;
    // SET … NX GET answers the value already there (the user's sticky variant) or null (ours was set).
    const earlier = (await this.redis.call('SET', key, drawn.id, 'PX', String(this.userTtlMs), 'NX', 'GET')) as string | null;
    const variant = earlier === null ? drawn : test.variants.find((v) => v.id === earlier);
    return variant ? { test, variant } : { test, variant: drawn };
  }
}
