import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  type AbTestConfig,
  type AbVariant,
  assignByPoint,
  assignVariant,
  chiSquarePValue,
  consistentHashBucket,
  murmurHash3Utf8,
  pearsonChiSquareTable,
  srmTest,
  validateVariants,
  seededRandom,
} from '../src/index.js';

/**
 * An independent MurmurHash3_x86_32, transcribed from Austin Appleby's C++ reference
 * (MurmurHash3.cpp) with Math.imul, over a byte array.
 */
function referenceMurmur3x86(bytes: Uint8Array, seed = 0): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h1 = seed >>> 0;
  const nblocks = bytes.length >>> 2;
  for (let i = 0; i < nblocks; i++) {
    const j = i * 4;
    let k1 = (bytes[j]! | (bytes[j + 1]! << 8) | (bytes[j + 2]! << 16) | (bytes[j + 3]! << 24)) >>> 0;
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
  }
  const tail = nblocks * 4;
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k1 = 0;
    if (rest >= 3) k1 ^= bytes[tail + 2]! << 16;
    if (rest >= 2) k1 ^= bytes[tail + 1]! << 8;
    k1 ^= bytes[tail]!;
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
  }
  h1 ^= bytes.length;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  return h1 >>> 0;
}

const v = (id: string, weight: number): AbVariant => ({ id, model_id: `model-${id}`, weight });
const test = (id: string, variants: AbVariant[], strategy: AbTestConfig['strategy'] = 'consistent_hash'): AbTestConfig => ({
  id,
  strategy,
  status: 'running',
  variants,
});
const users = (n: number, prefix = 'user-'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

// 100,000 user ids and, per test id, their points: computed once per file. (Under jest's vm
// context every global lookup is slow, and the hash library's input validation does several per
// byte, so a hash costs ~10 µs here against ~0.4 µs in plain Node.)
const USERS = users(100_000);
const pointCache = new Map<string, Float64Array>();
function pointsFor(testId: string): Float64Array {
  let p = pointCache.get(testId);
  if (!p) {
    p = new Float64Array(USERS.length);
    for (let i = 0; i < USERS.length; i++) p[i] = consistentHashBucket(testId, USERS[i]!);
    pointCache.set(testId, p);
  }
  return p;
}

describe('MurmurHash3 x86 32-bit over UTF-8 bytes', () => {
  it('reproduces published reference vectors of MurmurHash3_x86_32', () => {
    expect(murmurHash3Utf8('')).toBe(0);
    expect(murmurHash3Utf8('', 1)).toBe(0x514e28b7);
    expect(murmurHash3Utf8('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmurHash3Utf8('hello')).toBe(0x248bfa47);
    expect(murmurHash3Utf8('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });

  it('matches an independent transcription of the C++ reference on 3,000 random strings, non-ASCII included', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        // Buffer.from(…, 'utf8') is a second, independent UTF-8 encoder.
        expect(murmurHash3Utf8(s, seed)).toBe(referenceMurmur3x86(new Uint8Array(Buffer.from(s, 'utf8')), seed));
      }),
      { numRuns: 3000, seed: 42 },
    );
  });

  it('hashes the UTF-8 bytes of non-ASCII user ids (not UTF-16 code units, not Latin-1)', () => {
    // "é" is U+00E9: UTF-8 C3 A9; "😀" is U+1F600: UTF-8 F0 9F 98 80 (a surrogate pair in UTF-16).
    const utf8 = new Uint8Array([0x74, 0x3a, 0xc3, 0xa9]); // "t:é"
    const latin1 = new Uint8Array([0x74, 0x3a, 0xe9]);
    expect(consistentHashBucket('t', 'é')).toBe(referenceMurmur3x86(utf8) / 2 ** 32);
    expect(consistentHashBucket('t', 'é')).not.toBe(referenceMurmur3x86(latin1) / 2 ** 32);
    const emoji = new Uint8Array([0x74, 0x3a, 0xf0, 0x9f, 0x98, 0x80]);
    expect(consistentHashBucket('t', '😀')).toBe(referenceMurmur3x86(emoji) / 2 ** 32);
    // NFC and NFD spellings are different byte strings, so (by design) different users.
    expect(consistentHashBucket('t', 'e\u0301')).toBe(referenceMurmur3x86(new Uint8Array([0x74, 0x3a, 0x65, 0xcc, 0x81])) / 2 ** 32);
    // A key too long for the scratch buffer takes the allocating path and hashes the same bytes.
    const long = 'ü'.repeat(2000);
    expect(murmurHash3Utf8(long)).toBe(referenceMurmur3x86(new Uint8Array(Buffer.from(long, 'utf8'))));
  });
});

describe('consistentHashBucket', () => {
  // Pinned: any change to the hash, the key format or the byte encoding would move users.
  const pinned: [string, string, number][] = [
    ['test-1', 'user-1', 0.36476733698509634],
    ['test-1', 'user-2', 0.7746341668535024],
    ['checkout-model-test', 'alice', 0.14097406738437712],
    ['550e8400-e29b-41d4-a716-446655440000', 'user-42', 0.7060538397636265],
    ['t', 'é', 0.8020576043054461],
    ['t', '用户-😀', 0.4019681622739881],
  ];

  it.each(pinned)('(%s, %s) → %d', (testId, userId, expected) => {
    expect(consistentHashBucket(testId, userId)).toBe(expected);
    expect(consistentHashBucket(testId, userId)).toBe(expected);
  });

  it('is the same in another Node process', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    const script = `
      import { consistentHashBucket } from './packages/domain/src/index.ts';
      const pairs = ${JSON.stringify(pinned.map(([t, u]) => [t, u]))};
      console.log(JSON.stringify(pairs.map(([t, u]) => consistentHashBucket(t, u))));
    `;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual(pinned.map(([, , x]) => x));
  });

  it('lies in [0, 1)', () => {
    for (const x of pointsFor('split-test')) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('assignByPoint', () => {
  const vs = [v('a', 0.2), v('b', 0.3), v('c', 0.5)];

  it('maps [0, 1) onto cumulative weight ranges in variant order', () => {
    expect(assignByPoint(vs, 0).id).toBe('a');
    expect(assignByPoint(vs, 0.1999).id).toBe('a');
    expect(assignByPoint(vs, 0.2).id).toBe('b');
    expect(assignByPoint(vs, 0.4999).id).toBe('b');
    expect(assignByPoint(vs, 0.5).id).toBe('c');
    expect(assignByPoint(vs, 1 - 2 ** -32).id).toBe('c');
    expect(assignByPoint(vs, 1 - Number.EPSILON / 2).id).toBe('c');
  });

  it('rejects points outside [0, 1) and empty lists', () => {
    expect(() => assignByPoint(vs, 1)).toThrow(RangeError);
    expect(() => assignByPoint(vs, -0.1)).toThrow(RangeError);
    expect(() => assignByPoint(vs, Number.NaN)).toThrow(RangeError);
    expect(() => assignByPoint([], 0.5)).toThrow(RangeError);
  });

  it('changing weights moves only points between an old and the matching new boundary', () => {
    const weights = fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 2, maxLength: 10 });
    fc.assert(
      fc.property(weights, weights, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (w1raw, w2raw, u) => {
        const k = Math.min(w1raw.length, w2raw.length);
        const norm = (w: number[]) => {
          const s = w.slice(0, k).reduce((x, y) => x + y, 0);
          return w.slice(0, k).map((x, i) => v(`v${i}`, x / s));
        };
        const before = norm(w1raw);
        const after = norm(w2raw);
        const a = assignByPoint(before, u).id;
        const b = assignByPoint(after, u).id;
        if (a === b) return;
        const cum = (list: AbVariant[]) => list.map((_, i) => list.slice(0, i + 1).reduce((s, x) => s + x.weight, 0));
        const c1 = cum(before);
        const c2 = cum(after);
        const between = c1.some((x, i) => u >= Math.min(x, c2[i]!) - 1e-12 && u < Math.max(x, c2[i]!) + 1e-12);
        expect(between).toBe(true);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('consistent-hash assignment', () => {
  it('is deterministic: the same (test, user) always gets the same variant', () => {
    const t = test('exp-1', [v('control', 0.5), v('treatment', 0.5)]);
    for (const u of users(1000)) {
      const first = assignVariant(t, u)!.id;
      for (let i = 0; i < 3; i++) expect(assignVariant(t, u)!.id).toBe(first);
      expect(assignVariant({ ...t, variants: t.variants.map((x) => ({ ...x })) }, u)!.id).toBe(first);
    }
  });

  it('puts no one in the test without a user id', () => {
    const t = test('exp-1', [v('control', 0.5), v('treatment', 0.5)]);
    expect(assignVariant(t, undefined)).toBeNull();
    expect(assignVariant(t, null)).toBeNull();
    expect(assignVariant(t, '')).toBeNull();
  });

  it.each([
    [[0.5, 0.5]],
    [[0.2, 0.3, 0.5]],
    [[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]],
    [[0.01, 0.99]],
  ])('splits 100,000 user ids as the weights %j (χ² goodness of fit, p > 0.001)', (weights) => {
    const t = test('split-test', weights.map((w, i) => v(`v${i}`, w)));
    const points = pointsFor(t.id);
    const index = new Map(t.variants.map((x, i) => [x.id, i]));
    const observed = t.variants.map(() => 0);
    USERS.forEach((u, i) => {
      const chosen = assignByPoint(t.variants, points[i]!);
      // assignVariant is assignByPoint at the user's hash point (checked on a sample: it hashes).
      if (i % 100 === 0) expect(assignVariant(t, u)).toBe(chosen);
      observed[index.get(chosen.id)!]!++;
    });
    const srm = srmTest(observed, weights);
    expect(srm.p_value).toBeGreaterThan(0.001);
  });

  it('moving weights 50/50 → 40/60 moves about 10 % of the users, all from the first variant to the second', () => {
    const before = test('split-test', [v('a', 0.5), v('b', 0.5)]);
    const after = test('split-test', [v('a', 0.4), v('b', 0.6)]);
    const n = USERS.length;
    const points = pointsFor('split-test');
    let moved = 0;
    let wrongDirection = 0;
    USERS.forEach((u, i) => {
      const x = assignByPoint(before.variants, points[i]!).id;
      const y = assignByPoint(after.variants, points[i]!).id;
      if (i % 100 === 0) {
        expect(assignVariant(before, u)!.id).toBe(x);
        expect(assignVariant(after, u)!.id).toBe(y);
      }
      if (x !== y) {
        moved++;
        if (!(x === 'a' && y === 'b')) wrongDirection++;
        expect(points[i]! >= 0.4 && points[i]! < 0.5).toBe(true);
      }
    });
    expect(wrongDirection).toBe(0);
    // Binomial(100,000, 0.1): sd ≈ 95, so ±600 is > 6 sd.
    expect(Math.abs(moved - 0.1 * n)).toBeLessThan(600);
  });

  it("two tests' assignments are independent (χ² test of independence on the 2×2 table, p > 0.001)", () => {
    const t1 = test('split-test', [v('a', 0.5), v('b', 0.5)]);
    const t2 = test('independence-B', [v('a', 0.5), v('b', 0.5)]);
    const p1 = pointsFor(t1.id);
    const p2 = pointsFor(t2.id);
    const table = [
      [0, 0],
      [0, 0],
    ];
    for (let k = 0; k < USERS.length; k++) {
      const i = assignByPoint(t1.variants, p1[k]!).id === 'a' ? 0 : 1;
      const j = assignByPoint(t2.variants, p2[k]!).id === 'a' ? 0 : 1;
      table[i]![j]!++;
    }
    const chi = pearsonChiSquareTable(table)!;
    expect(chiSquarePValue(chi, 1)).toBeGreaterThan(0.001);
    // And with unequal weights and three variants: (3 − 1)(2 − 1) = 2 df.
    const t3 = test('independence-C', [v('x', 0.2), v('y', 0.3), v('z', 0.5)]);
    const p3 = pointsFor(t3.id);
    const table3 = [
      [0, 0],
      [0, 0],
      [0, 0],
    ];
    for (let k = 0; k < USERS.length; k++) {
      const i = ['x', 'y', 'z'].indexOf(assignByPoint(t3.variants, p3[k]!).id);
      const j = assignByPoint(t1.variants, p1[k]!).id === 'a' ? 0 : 1;
      table3[i]![j]!++;
    }
    expect(chiSquarePValue(pearsonChiSquareTable(table3)!, 2)).toBeGreaterThan(0.001);
  });
});

describe('weighted-random assignment', () => {
  it('maps the given draw onto the weights', () => {
    const t = test('wr', [v('a', 0.25), v('b', 0.75)], 'weighted_random');
    expect(assignVariant(t, 'u', () => 0.1)!.id).toBe('a');
    expect(assignVariant(t, 'u', () => 0.25)!.id).toBe('b');
    expect(assignVariant(t, null, () => 0.9)!.id).toBe('b');
  });

  it('splits seeded draws as the weights (χ², p > 0.001)', () => {
    const t = test('wr', [v('a', 0.25), v('b', 0.75)], 'weighted_random');
    const random = seededRandom(12345);
    const counts = [0, 0];
    for (let i = 0; i < 100_000; i++) counts[assignVariant(t, `u${i}`, random)!.id === 'a' ? 0 : 1]!++;
    expect(srmTest(counts, [0.25, 0.75]).p_value).toBeGreaterThan(0.001);
  });

  it('needs a random source and a draw in [0, 1)', () => {
    const t = test('wr', [v('a', 0.5), v('b', 0.5)], 'weighted_random');
    expect(() => assignVariant(t, 'u')).toThrow(TypeError);
    expect(() => assignVariant(t, 'u', () => 1)).toThrow(RangeError);
  });
});

describe('validateVariants', () => {
  it('accepts 2–10 variants with unique ids and weights summing to 1 ± 1e-6', () => {
    expect(validateVariants([v('a', 0.5), v('b', 0.5)])).toEqual([]);
    expect(validateVariants([v('a', 0.3333333), v('b', 0.3333333), v('c', 0.3333333)])).toEqual([]);
    expect(validateVariants(Array.from({ length: 10 }, (_, i) => v(`v${i}`, 0.1)))).toEqual([]);
    // The same model in two variants is an A/A test: allowed.
    expect(validateVariants([{ id: 'a', model_id: 'm', weight: 0.5 }, { id: 'b', model_id: 'm', weight: 0.5 }])).toEqual([]);
  });

  it.each([
    ['one variant', [v('a', 1)], 'variants'],
    ['eleven variants', Array.from({ length: 11 }, (_, i) => v(`v${i}`, 1 / 11)), 'variants'],
    ['duplicate ids', [v('a', 0.5), v('a', 0.5)], 'variants[1].id'],
    ['empty id', [v('', 0.5), v('b', 0.5)], 'variants[0].id'],
    ['zero weight', [v('a', 0), v('b', 1)], 'variants[0].weight'],
    ['negative weight', [v('a', -0.5), v('b', 1.5)], 'variants[0].weight'],
    ['NaN weight', [v('a', Number.NaN), v('b', 1)], 'variants[0].weight'],
    ['weights summing to 0.9', [v('a', 0.4), v('b', 0.5)], 'variants'],
    ['weights summing to 1 + 2e-6', [v('a', 0.5), v('b', 0.500002)], 'variants'],
    ['missing model', [{ id: 'a', weight: 0.5 }, v('b', 0.5)], 'variants[0].model_id'],
    ['not an array', { a: 1 }, 'variants'],
    ['a non-object variant', [v('a', 0.5), 7], 'variants[1]'],
  ])('reports %s', (_name, variants, where) => {
    const problems = validateVariants(variants);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.map((p) => p.path)).toContain(where);
  });
});
