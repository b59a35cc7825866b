import { rankOfBytes, type O200kVocabulary } from './o200k-vocabulary.js';
import type { TokenizerWork } from './tokenizer-work.js';

/**
 * Byte-pair merge of one pre-token: the same merges in the same order as gpt-tokenizer's (and
 * tiktoken's) — repeatedly merge the adjacent pair whose concatenation has the lowest rank, the
 * leftmost on ties, until no pair is a token — so the count is exact, not an approximation.
 *
 * The library finds each lowest pair by rescanning every pair and removes it with `splice`, which
 * is quadratic in the pre-token's length: a 100 kB run of letters without spaces takes minutes.
 * Here candidate pairs sit in a binary heap keyed by (rank, byte offset); a merge changes only the
 * two pairs beside it, whose old heap entries are recognised as stale when popped. Byte offsets
 * keep their order as parts merge, so "smallest offset among the lowest rank" is the library's
 * "leftmost". Work for B bytes: at most B − 1 merges, at most 3B heap operations (B − 1 initial
 * pairs + 2 per merge), each of at most log2(3B) sift steps, and pair lookups only for pairs no
 * longer than the longest token (longer ones cannot be tokens). So O(B log B); with the 1 MB body
 * limit, log2(3B) < 22.
 */

const NO_RANK = -1;
const OFFSET_BITS = 2 ** 24; // heap keys are rank × 2^24 + offset: offsets up to 16 MB, keys < 2^42

// (left part rank, right part rank) → rank of their concatenation. Ranks identify byte strings, so
// the two ranks identify the pair's bytes without building them. A direct-mapped cache in typed
// arrays (a colliding pair overwrites the slot): fixed memory, no allocation per lookup.
const PAIR_CACHE_SLOTS = 1 << 16;

/** Per-vocabulary state shared by calls: the pair cache and the rank buckets (left empty). */
interface MergeState {
  readonly cacheLeft: Int32Array;
  readonly cacheRight: Int32Array;
  readonly cacheRank: Int32Array;
  buckets?: RankBuckets;
}
const states = new WeakMap<O200kVocabulary, MergeState>();

function stateFor(vocab: O200kVocabulary): MergeState {
  let state = states.get(vocab);
  if (!state) {
    state = { cacheLeft: new Int32Array(PAIR_CACHE_SLOTS).fill(-1), cacheRight: new Int32Array(PAIR_CACHE_SLOTS), cacheRank: new Int32Array(PAIR_CACHE_SLOTS) };
    states.set(vocab, state);
  }
  return state;
}

class MinHeap {
  private keys: Float64Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly work: TokenizerWork,
  ) {
    this.keys = new Float64Array(Math.max(capacity, 1));
  }

  push(key: number): void {
    this.work.heapOperations++;
    const keys = this.keys;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      this.work.heapSiftSteps++;
      keys[i] = keys[parent]!;
      i = parent;
    }
    keys[i] = key;
  }

  peek(): number {
    return this.keys[0]!;
  }

  pop(): number {
    this.work.heapOperations++;
    const keys = this.keys;
    const top = keys[0]!;
    const last = keys[--this.size]!;
    let i = 0;
    const n = this.size;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= last) break;
      this.work.heapSiftSteps++;
      keys[i] = keys[child]!;
      i = child;
    }
    keys[i] = last;
    return top;
  }
}

/**
 * Pairs waiting to merge, by rank. Pairs of a rank above the one being merged wait in a bucket per
 * rank (a two-level bitmap finds the next non-empty bucket, scanning forward only); a bucket is
 * taken whole, sorted by offset, and merged in order. A merge can create a pair whose rank is not
 * above the current one (o200k's ranks are training order, and a pair may split a token
 * differently from how training built it): such pairs go to a small heap that is always served
 * first when it holds the lower (rank, offset). So the order of merges is exactly the global
 * (lowest rank, leftmost) order, while most pairs never touch a heap. Bitmaps and heads are shared
 * and left empty after every call.
 */
class RankBuckets {
  readonly head: Int32Array;
  private readonly words: Uint32Array;
  private readonly summary: Uint32Array;

  constructor(ranks: number) {
    this.head = new Int32Array(ranks).fill(-1);
    this.words = new Uint32Array(Math.ceil(ranks / 32));
    this.summary = new Uint32Array(Math.ceil(this.words.length / 32));
  }

  mark(rank: number): void {
    const w = rank >>> 5;
    this.words[w]! |= 1 << (rank & 31);
    this.summary[w >>> 5]! |= 1 << (w & 31);
  }

  unmark(rank: number): void {
    const w = rank >>> 5;
    this.words[w]! &= ~(1 << (rank & 31));
    if (this.words[w] === 0) this.summary[w >>> 5]! &= ~(1 << (w & 31));
  }

  /** The lowest non-empty rank ≥ from, or -1. */
  next(from: number): number {
    let w = from >>> 5;
    if (w >= this.words.length) return -1;
    const bits = this.words[w]! & (~0 << (from & 31));
    if (bits !== 0) return (w << 5) + lowestBit(bits);
    w++;
    let s = w >>> 5;
    if (s >= this.summary.length) return -1;
    let sbits = this.summary[s]! & (w & 31 ? ~0 << (w & 31) : ~0);
    while (sbits === 0) {
      if (++s >= this.summary.length) return -1;
      sbits = this.summary[s]!;
    }
    w = (s << 5) + lowestBit(sbits);
    return (w << 5) + lowestBit(this.words[w]!);
  }

  reset(): void {
    this.head.fill(-1);
    this.words.fill(0);
    this.summary.fill(0);
  }
}

function lowestBit(bits: number): number {
  return 31 - Math.clz32(bits & -bits);
}

/** Pre-tokens shorter than this use the heap alone: the bucket scan has a fixed cost per call. */
const BUCKETS_FROM_BYTES = 256;

/** Number of tokens the byte-pair merge makes of `bytes` (length ≥ 1). */
export function countBytePairTokens(bytes: Uint8Array, vocab: O200kVocabulary, work: TokenizerWork): number {
  const n = bytes.length;
  work.bpeBytes += n;
  if (n > work.longestBpeInput) work.longestBpeInput = n;
  if (n === 1) return 1;
  if (n >= OFFSET_BITS) throw new RangeError(`pre-token of ${n} bytes is longer than the tokenizer supports`);

  const state = stateFor(vocab);
  const { cacheLeft, cacheRight, cacheRank } = state;
  // Parts form a linked list over their start offsets; a part at offset i ends where next[i] starts.
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const partRank = new Int32Array(n);
  const pairRank = new Int32Array(n); // rank of (part at i) + (part after it), or NO_RANK
  const alive = new Uint8Array(n).fill(1);
  // Parts starting with a byte-order mark, whose rank (the library's, found without the mark) does
  // not name their bytes: pairs with them bypass the pair cache.
  const bomPart = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
    partRank[i] = vocab.singleByteRank[bytes[i]!]!;
  }

  const rankOfPairAt = (i: number): number => {
    const j = next[i]!;
    if (j >= n) return NO_RANK;
    const end = next[j]!;
    if (end - i > vocab.maxTokenBytes) return NO_RANK;
    if (bomPart[i] === 1 || bomPart[j] === 1) {
      work.pairLookups++;
      return rankOfBytes(vocab, bytes, i, end);
    }
    const left = partRank[i]!;
    const right = partRank[j]!;
    const slot = (Math.imul(left, 0x9e3779b1) ^ right) & (PAIR_CACHE_SLOTS - 1);
    if (cacheLeft[slot] === left && cacheRight[slot] === right) return cacheRank[slot]!;
    work.pairLookups++;
    const rank = rankOfBytes(vocab, bytes, i, end);
    cacheLeft[slot] = left;
    cacheRight[slot] = right;
    cacheRank[slot] = rank;
    return rank;
  };

  // At most n − 1 initial pairs + 2 per merge (≤ n − 1 merges) are ever queued.
  const capacity = 3 * n;
  const heap = new MinHeap(capacity, work);
  const useBuckets = n >= BUCKETS_FROM_BYTES;
  const bucketSet = useBuckets ? (state.buckets ??= new RankBuckets(vocab.rankCount)) : undefined;
  const entryOffset = useBuckets ? new Int32Array(capacity) : undefined;
  const entryNext = useBuckets ? new Int32Array(capacity) : undefined;
  let entries = 0;
  // Pairs of rank ≤ current go to the heap; the rest to their bucket. Without buckets, all to the heap.
  let current = useBuckets ? -1 : Number.MAX_SAFE_INTEGER;

  const queue = (rank: number, i: number): void => {
    if (rank <= current) {
      if (useBuckets) work.outOfOrderPairs++;
      heap.push(rank * OFFSET_BITS + i);
      return;
    }
    work.heapOperations++; // a bucket insert: O(1), counted with the heap's operations
    const e = entries++;
    entryOffset![e] = i;
    entryNext![e] = bucketSet!.head[rank]!;
    if (bucketSet!.head[rank] === -1) bucketSet!.mark(rank);
    bucketSet!.head[rank] = e;
  };

  let parts = n;
  const mergeAt = (i: number, rank: number): void => {
    // Stale: the part was absorbed, or a neighbour's merge changed this pair (a changed pair has
    // more bytes, hence another token and another rank, so equal rank means still current).
    if (alive[i] === 0 || pairRank[i] !== rank) return;
    const j = next[i]!;
    alive[j] = 0;
    const k = next[j]!;
    next[i] = k;
    if (k < n) prev[k] = i;
    partRank[i] = rank;
    if (bytes[i] === 0xef && bytes[i + 1] === 0xbb && bytes[i + 2] === 0xbf && k - i > 3) bomPart[i] = 1;
    parts--;
    work.merges++;

    const right = rankOfPairAt(i);
    pairRank[i] = right;
    if (right !== NO_RANK) queue(right, i);
    const p = prev[i]!;
    if (p >= 0) {
      const left = rankOfPairAt(p);
      pairRank[p] = left;
      if (left !== NO_RANK) queue(left, p);
    }
  };

  for (let i = 0; i < n - 1; i++) {
    const r = rankOfPairAt(i);
    pairRank[i] = r;
    if (r !== NO_RANK) queue(r, i);
  }
  pairRank[n - 1] = NO_RANK;

  const serveHeapBelow = (limit: number): void => {
    while (heap.size > 0 && heap.peek() < limit) {
      const key = heap.pop();
      const rank = Math.floor(key / OFFSET_BITS);
      mergeAt(key - rank * OFFSET_BITS, rank);
    }
  };

  if (!useBuckets) {
    serveHeapBelow(Number.POSITIVE_INFINITY);
    return parts;
  }

  const batch = new Int32Array(capacity);
  try {
    for (let rank = bucketSet!.next(0); rank >= 0; rank = bucketSet!.next(rank + 1)) {
      current = rank;
      let size = 0;
      for (let e = bucketSet!.head[rank]!; e !== -1; e = entryNext![e]!) batch[size++] = entryOffset![e]!;
      bucketSet!.head[rank] = -1;
      bucketSet!.unmark(rank);
      // Inserted in offset order mostly, and the list reverses them; sort when needed (a view is
      // made only then: most buckets hold one or two pairs).
      if (!isAscending(batch, size)) {
        if (isDescending(batch, size)) batch.subarray(0, size).reverse();
        else batch.subarray(0, size).sort();
      }
      for (let b = 0; b < size; b++) {
        const offset = batch[b]!;
        serveHeapBelow(rank * OFFSET_BITS + offset);
        mergeAt(offset, rank);
      }
      serveHeapBelow(Number.POSITIVE_INFINITY);
    }
  } catch (error) {
    bucketSet!.reset(); // leave the shared buckets empty for the next call
    throw error;
  }
  return parts;
}

function isAscending(a: Int32Array, size: number): boolean {
  for (let i = 1; i < size; i++) if (a[i - 1]! > a[i]!) return false;
  return true;
}

function isDescending(a: Int32Array, size: number): boolean {
  for (let i = 1; i < size; i++) if (a[i - 1]! < a[i]!) return false;
  return true;
}
