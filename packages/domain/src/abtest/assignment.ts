/**
 * A/B test variant assignment: pure functions, no I/O, no clock, no global randomness.
 *
 * - `consistent_hash`: the user's point u = MurmurHash3_x86_32(UTF-8 bytes of
 *   `${testId}:${userId}`, seed 0) / 2^32 ∈ [0, 1) is mapped onto the cumulative weight ranges of
 *   the variants (in their configured order). The same (test, user) always gets the same point,
 *   so the same variant; changing weights moves the range boundaries, so only the users whose
 *   point lies between an old and a new boundary change variant. Including the test id in the
 *   key makes two tests' assignments independent of each other.
 * - `weighted_random`: one draw u from the caller's random() is mapped the same way. Keeping the
 *   user on that variant afterwards (Redis `SET NX` with a TTL) is the caller's job.
 * - `thompson_sampling`: as weighted_random, but on the bandit's current assignment probabilities
 *   (./bandit.ts) instead of the configured weights: `assignByProbabilities`.
 *
 * Hash: MurmurHash3 x86 32-bit (Austin Appleby's public-domain reference, `MurmurHash3_x86_32`)
 * from the npm package `murmurhash3js-revisited`, which hashes a byte array and matches the C++
 * reference (pinned vectors and a cross-check against an independent implementation are in
 * test/abtest.assignment.test.ts). Strings are turned into bytes with the WHATWG TextEncoder
 * (UTF-8), so "é" hashes as the two bytes C3 A9 in every process and language.
 */
import murmur from 'murmurhash3js-revisited';

export type AbTestStrategy = 'consistent_hash' | 'weighted_random' | 'thompson_sampling';
export const AB_TEST_STRATEGIES: readonly AbTestStrategy[] = ['consistent_hash', 'weighted_random', 'thompson_sampling'];

export type AbTestStatus = 'draft' | 'running' | 'paused' | 'completed';
export const AB_TEST_STATUSES: readonly AbTestStatus[] = ['draft', 'running', 'paused', 'completed'];

export interface AbVariant {
  id: string;
  model_id: string;
  /** Share of the traffic, > 0; the variants' weights sum to 1 (± 1e-6). */
  weight: number;
  name?: string;
  description?: string;
}

export interface AbTestConfig {
  id: string;
  name?: string;
  description?: string;
  strategy: AbTestStrategy;
  status: AbTestStatus;
  /** In order: the first is the control; ranges on [0, 1) follow this order. */
  variants: AbVariant[];
  start_time?: string | null;
  end_time?: string | null;
  created_by?: string | null;
}

/** A function returning independent uniform draws in [0, 1) (a seeded PRNG in tests). */
export type RandomSource = () => number;

export const AB_MIN_VARIANTS = 2;
export const AB_MAX_VARIANTS = 10;
export const AB_WEIGHT_SUM_TOLERANCE = 1e-6;

const TWO_POW_32 = 4294967296;
const encoder = new TextEncoder();
// Scratch space for encodeInto: TextEncoder.encode allocates a fresh buffer per call and costs
// ~1 µs for a short key, encodeInto into a reused buffer a fraction of that (this runs on every
// routed request). Used synchronously only, so sharing it is safe; a UTF-16 code unit is at
// most 3 UTF-8 bytes, so keys up to SCRATCH_BYTES / 3 code units always fit.
const SCRATCH_BYTES = 3072;
const scratch = new Uint8Array(SCRATCH_BYTES);

/** The UTF-8 bytes of `text` (lone surrogates become U+FFFD, as TextEncoder does). */
function utf8Bytes(text: string): Uint8Array {
  if (text.length * 3 > SCRATCH_BYTES) return encoder.encode(text);
  const { written } = encoder.encodeInto(text, scratch);
  return scratch.subarray(0, written);
}

/** MurmurHash3_x86_32 of the UTF-8 bytes of `text`, as an unsigned 32-bit integer. */
export function murmurHash3Utf8(text: string, seed = 0): number {
  return murmur.x86.hash32(utf8Bytes(text), seed);
}

/**
 * The user's point in [0, 1) for a test: MurmurHash3_x86_32(UTF-8(`${testId}:${userId}`)) / 2^32.
 * The largest hash, 2^32 − 1, maps to 1 − 2^−32 < 1. (The ':' separator is unambiguous as long
 * as test ids contain no ':', as UUIDs do not.)
 */
export function consistentHashBucket(testId: string, userId: string): number {
  return murmurHash3Utf8(`${testId}:${userId}`) / TWO_POW_32;
}

/**
 * The variant whose cumulative weight range holds u: variant i gets
 * [W_{i−1}/W, W_i/W) with W_i = w_1 + … + w_i and W the total (so weights that sum to 1 ± 1e-6
 * still cover [0, 1) exactly). Zero-weight variants get an empty range. Throws on an empty list
 * or u outside [0, 1).
 */
export function assignByPoint<V extends Pick<AbVariant, 'weight'>>(variants: readonly V[], u: number): V {
  if (variants.length === 0) throw new RangeError('assignByPoint: no variants');
  if (!(u >= 0 && u < 1)) throw new RangeError(`assignByPoint: point ${u} is not in [0, 1)`);
  let total = 0;
  for (const v of variants) total += v.weight;
  if (!(total > 0) || !Number.isFinite(total)) throw new RangeError('assignByPoint: weights must have a positive finite sum');
  const target = u * total;
  let cumulative = 0;
  let last: V | undefined;
  for (const v of variants) {
    if (!(v.weight > 0)) continue;
    cumulative += v.weight;
    last = v;
    if (target < cumulative) return v;
  }
  // Only reachable through rounding when u is within an ulp of 1: the last non-empty range.
  return last as V;
}

/**
 * Assign a user to a variant of `test` (the test's status is not looked at: whether a test is
 * eligible is the caller's decision).
 * - consistent_hash: needs a user id (null without one: such a request is never in the test).
 * - weighted_random: one draw from `random` (required for this strategy); the user id is not used
 *   here, the caller makes the draw sticky per user.
 */
export function assignVariant(
  test: Pick<AbTestConfig, 'id' | 'strategy' | 'variants'>,
  userId: string | null | undefined,
  random?: RandomSource,
): AbVariant | null {
  if (test.variants.length === 0) return null;
  switch (test.strategy) {
    case 'consistent_hash':
      if (userId === null || userId === undefined || userId === '') return null;
      return assignByPoint(test.variants, consistentHashBucket(test.id, userId));
    case 'weighted_random':
    case 'thompson_sampling': {
      // thompson_sampling without the bandit's probabilities (assignByProbabilities) uses the weights.
      if (!random) throw new TypeError(`assignVariant: ${test.strategy} needs a random source`);
      return assignByPoint(test.variants, random());
    }
    default:
      throw new RangeError(`assignVariant: unknown strategy ${String((test as { strategy: unknown }).strategy)}`);
  }
}

/**
 * One draw from `random` mapped onto `probabilities` (one per variant, in order, summing to 1):
 * the variant and the probability it had, which a bandit test stores with the exposure.
 */
export function assignByProbabilities<V>(variants: readonly V[], probabilities: readonly number[], random: RandomSource): { variant: V; probability: number } {
  if (variants.length !== probabilities.length) throw new RangeError('assignByProbabilities: one probability per variant');
  const ranges = probabilities.map((p) => ({ weight: p }));
  const chosen = assignByPoint(ranges, random());
  const index = ranges.indexOf(chosen);
  return { variant: variants[index] as V, probability: chosen.weight };
}

export interface VariantProblem {
  /** Where: `variants`, `variants[2].id`, `variants[0].weight`, … */
  path: string;
  message: string;
}

/**
 * Problems with a list of variants (empty when valid): 2–10 variants, non-empty unique ids,
 * a non-empty model_id each, weights finite and > 0 summing to 1 ± 1e-6. Whether the models exist
 * is for the caller to check against its registry.
 */
export function validateVariants(variants: unknown): VariantProblem[] {
  const problems: VariantProblem[] = [];
  if (!Array.isArray(variants)) return [{ path: 'variants', message: 'must be an array of variants' }];
  if (variants.length < AB_MIN_VARIANTS || variants.length > AB_MAX_VARIANTS) {
    problems.push({ path: 'variants', message: `must have ${AB_MIN_VARIANTS}–${AB_MAX_VARIANTS} variants, has ${variants.length}` });
  }
  const seen = new Set<string>();
  let sum = 0;
  let weightsValid = true;
  variants.forEach((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null) {
      problems.push({ path: `variants[${i}]`, message: 'must be an object' });
      weightsValid = false;
      return;
    }
    const v = raw as Record<string, unknown>;
    if (typeof v.id !== 'string' || v.id.trim() === '') {
      problems.push({ path: `variants[${i}].id`, message: 'must be a non-empty string' });
    } else if (seen.has(v.id)) {
      problems.push({ path: `variants[${i}].id`, message: `duplicate variant id "${v.id}"` });
    } else {
      seen.add(v.id);
    }
    if (typeof v.model_id !== 'string' || v.model_id.trim() === '') {
      problems.push({ path: `variants[${i}].model_id`, message: 'must be a non-empty string' });
    }
    if (typeof v.weight !== 'number' || !Number.isFinite(v.weight) || v.weight <= 0) {
      problems.push({ path: `variants[${i}].weight`, message: 'must be a number > 0' });
      weightsValid = false;
    } else {
      sum += v.weight;
    }
  });
  if (weightsValid && variants.length > 0 && Math.abs(sum - 1) > AB_WEIGHT_SUM_TOLERANCE) {
    problems.push({ path: 'variants', message: `weights must sum to 1 (± ${AB_WEIGHT_SUM_TOLERANCE}), sum to ${sum}` });
  }
  return problems;
}
