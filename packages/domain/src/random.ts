/**
 * mulberry32: a small, fast, seeded PRNG, uniform in [0, 1) with 2^-32 resolution. The domain takes
 * randomness as a function; this one makes simulations, tests and benchmarks repeatable.
 */
export function seededRandom(seed: number): () => number {
  const imul = Math.imul;
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
