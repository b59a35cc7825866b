import fc from 'fast-check';
import { ByteRankTable } from '../src/byte-rank-table.js';

const SEED = 20261202;
const key = (bytes: Uint8Array, from = 0, to = bytes.length) => Array.from(bytes.subarray(from, to)).join(',');

// Short byte strings over a small alphabet, so queries often hit, often miss by one byte, and
// collide in the table.
const byteString = fc.uint8Array({ minLength: 0, maxLength: 6 }).map((b) => b.map((x) => x % 4));

describe('ByteRankTable (byte strings to ranks, in typed arrays)', () => {
  it('finds what a Map of the same entries finds, for any entries and any slice of any query', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(byteString, fc.boolean()), { maxLength: 120 }),
        fc.array(fc.tuple(byteString, byteString, byteString), { maxLength: 40 }),
        (entries, queries) => {
          // Ranks in order; the same bytes twice keep the higher rank, as Map.set in rank order.
          const reference = new Map<string, number>();
          entries.forEach(([bytes], rank) => reference.set(key(bytes), rank));
          const table = ByteRankTable.build(
            entries.length,
            entries.map(([bytes, flagged], rank) => [bytes, rank, flagged] as const),
          );
          for (const [bytes] of entries) expect(table.find(bytes, 0, bytes.length)).toBe(reference.get(key(bytes)) ?? -1);
          // A query inside a larger buffer: only bytes [from, to) count.
          for (const [before, query, after] of queries) {
            const buffer = Uint8Array.from([...before, ...query, ...after]);
            const rank = table.find(buffer, before.length, before.length + query.length);
            expect(rank).toBe(reference.get(key(query)) ?? -1);
          }
          entries.forEach(([, flagged], rank) => expect(table.flagged(rank)).toBe(flagged));
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('refuses a rank outside the table or given twice', () => {
    expect(() => ByteRankTable.build(2, [[Uint8Array.of(1), 2, false]])).toThrow(RangeError);
    expect(() => ByteRankTable.build(2, [[Uint8Array.of(1), 0, false], [Uint8Array.of(2), 0, false]])).toThrow(/twice/);
  });
});
