/**
 * What tokenizing did, counted in steps rather than milliseconds, so tests can assert that the work
 * is linear in the input whatever its content (a clock-based test would be flaky and would not say
 * which part grew).
 */
export interface TokenizerWork {
  /** Characters (code points) the pre-tokenizer looked at; each is examined a bounded number of times. */
  codePointsExamined: number;
  /** Pre-tokens produced. */
  pieces: number;
  /** Bytes handed to the byte-pair merge (pre-tokens that are not one vocabulary entry). */
  bpeBytes: number;
  /** The longest byte sequence handed to the byte-pair merge in one call. */
  longestBpeInput: number;
  /** Merges performed (each removes one part, so at most bpeBytes). */
  merges: number;
  /** Heap operations (push + pop); each costs at most log2 of the heap size in sift steps. */
  heapOperations: number;
  /** Pairs created with a rank not above the one being merged (served by the heap, not a bucket). */
  outOfOrderPairs: number;
  /** Sift steps inside the heap. */
  heapSiftSteps: number;
  /** Vocabulary lookups of a candidate pair (cache misses only). */
  pairLookups: number;
}

export function emptyTokenizerWork(): TokenizerWork {
  return { codePointsExamined: 0, pieces: 0, bpeBytes: 0, longestBpeInput: 0, merges: 0, heapOperations: 0, outOfOrderPairs: 0, heapSiftSteps: 0, pairLookups: 0 };
}

const processTotals = emptyTokenizerWork();

/** Work of every count in this process so far; HTTP tests read it around a request. */
export function tokenizerWorkTotals(): Readonly<TokenizerWork> {
  return { ...processTotals };
}

export function addToProcessTotals(work: TokenizerWork): void {
  processTotals.codePointsExamined += work.codePointsExamined;
  processTotals.pieces += work.pieces;
  processTotals.bpeBytes += work.bpeBytes;
  processTotals.longestBpeInput = Math.max(processTotals.longestBpeInput, work.longestBpeInput);
  processTotals.merges += work.merges;
  processTotals.heapOperations += work.heapOperations;
  processTotals.outOfOrderPairs += work.outOfOrderPairs;
  processTotals.heapSiftSteps += work.heapSiftSteps;
  processTotals.pairLookups += work.pairLookups;
}
