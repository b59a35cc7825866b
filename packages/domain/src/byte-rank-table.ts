/**
 * A read-only map from byte strings to ranks, held in four typed arrays: the bytes of every entry
 * in one pool, and an open-addressing hash table (linear probing, FNV-1a) of ranks. A tokenizer's
 * vocabulary is ~200,000 entries; as JavaScript Maps of strings it is ~400,000 heap objects that
 * every major garbage collection marks and moves, a pause each request in flight waits for. Typed
 * arrays are a handful of objects whose contents the collector never scans, and a lookup needs no
 * string built from the bytes.
 *
 * Each rank names at most one byte string (a tokenizer's ranks are its entries). A flag per rank
 * (`flagged`) marks a subset of entries, e.g. those the library also looks up as text.
 */
export class ByteRankTable {
  private constructor(
    private readonly pool: Uint8Array,
    /** Entry of rank r: pool[start[r], start[r] + length[r]); start −1 when the rank has none. */
    private readonly start: Int32Array,
    private readonly length: Uint32Array,
    private readonly flags: Uint8Array,
    /** Slot → rank, or −1 where empty. */
    private readonly slots: Int32Array,
  ) {}

  /**
   * The table of `entries` (bytes, rank, flagged), ranks 0 … rankCount − 1, each rank at most once.
   * Each entry's bytes are copied as it comes, so a caller may hand over one buffer it reuses.
   * Bytes given under two ranks keep the higher one, as Map.set in rank order would.
   */
  static build(rankCount: number, entries: Iterable<readonly [bytes: Uint8Array, rank: number, flagged: boolean]>): ByteRankTable {
    const start = new Int32Array(rankCount).fill(-1);
    const length = new Uint32Array(rankCount);
    const flags = new Uint8Array(rankCount);
    let pool = new Uint8Array(1 << 16);
    let used = 0;
    let count = 0;
    for (const [bytes, rank, flagged] of entries) {
      if (!Number.isInteger(rank) || rank < 0 || rank >= rankCount) throw new RangeError(`rank ${rank} is outside 0 … ${rankCount - 1}`);
      if (start[rank] !== -1) throw new Error(`rank ${rank} is given twice`);
      if (used + bytes.length > pool.length) {
        const grown = new Uint8Array(Math.max(pool.length * 2, used + bytes.length));
        grown.set(pool.subarray(0, used));
        pool = grown;
      }
      pool.set(bytes, used);
      start[rank] = used;
      length[rank] = bytes.length;
      flags[rank] = flagged ? 1 : 0;
      used += bytes.length;
      count++;
    }
    // At most half full: short probe runs for hits and misses alike.
    let size = 16;
    while (size < count * 2) size *= 2;
    const table = new ByteRankTable(pool.slice(0, used), start, length, flags, new Int32Array(size).fill(-1));
    for (let rank = 0; rank < rankCount; rank++) {
      if (start[rank] !== -1) table.insert(rank);
    }
    return table;
  }

  /** Rank of the bytes [from, to) of `bytes`, or −1 when they are not an entry. */
  find(bytes: Uint8Array, from: number, to: number): number {
    const { slots, start, pool } = this;
    const mask = slots.length - 1;
    const length = to - from;
    for (let slot = hashOf(bytes, from, to) & mask; ; slot = (slot + 1) & mask) {
      const rank = slots[slot]!;
      if (rank < 0) return -1;
      if (this.length[rank] !== length) continue;
      const at = start[rank]!;
      let i = 0;
      while (i < length && pool[at + i] === bytes[from + i]) i++;
      if (i === length) return rank;
    }
  }

  /** Whether `rank`'s entry was flagged when the table was built. */
  flagged(rank: number): boolean {
    return this.flags[rank] === 1;
  }

  private insert(rank: number): void {
    const { slots, start, length, pool } = this;
    const mask = slots.length - 1;
    const from = start[rank]!;
    const to = from + length[rank]!;
    for (let slot = hashOf(pool, from, to) & mask; ; slot = (slot + 1) & mask) {
      const held = slots[slot]!;
      if (held < 0 || this.same(held, from, to)) {
        slots[slot] = rank;
        return;
      }
    }
  }

  private same(rank: number, from: number, to: number): boolean {
    const { start, pool } = this;
    const at = start[rank]!;
    if (this.length[rank] !== to - from) return false;
    for (let i = 0; i < to - from; i++) if (pool[at + i] !== pool[from + i]) return false;
    return true;
  }
}

/** FNV-1a (32 bits) of bytes [from, to). */
function hashOf(bytes: Uint8Array, from: number, to: number): number {
  let hash = 0x811c9dc5;
  for (let i = from; i < to; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash >>> 0;
}
