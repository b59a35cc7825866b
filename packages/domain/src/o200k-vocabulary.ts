import { createRequire } from 'node:module';

type O200kRanks = typeof import('gpt-tokenizer/bpeRanks/o200k_base').default;

/**
 * The o200k_base vocabulary (OpenAI's current BPE), taken from gpt-tokenizer's data so the counts
 * are the library's. We keep our own lookup tables because the library's byte-pair merge is
 * quadratic in the length of one pre-token (it rescans every pair after each merge), and its
 * tables are private; the data is the same array the library loads.
 */
export interface O200kVocabulary {
  /** Rank of a pre-token given as text; the library's first lookup for every pre-token. */
  readonly textRank: ReadonlyMap<string, number>;
  /**
   * Rank of a byte sequence as gpt-tokenizer finds it, keyed by the bytes as a Latin-1 string (one
   * char per byte). Use `rankOfBytes`, which also reproduces the library's byte-order-mark quirk.
   */
  readonly byteRank: ReadonlyMap<string, number>;
  /** Rank of each single byte (all 256 are tokens of o200k_base). */
  readonly singleByteRank: Int32Array;
  /** Ranks are 0 … rankCount − 1. */
  readonly rankCount: number;
  /** The longest token in bytes: a pair longer than this cannot merge, so it is never looked up. */
  readonly maxTokenBytes: number;
}

let built: O200kVocabulary | undefined;
// The library's rank table is a 2 MB array literal that costs ~40 MB of memory once imported,
// whether or not anything is counted: loaded here on first use (its CommonJS build, so the load
// stays synchronous), not by a static import that every process importing this package would pay.
const require = createRequire(import.meta.url);

/**
 * Built on first use (~15 MB; 0.1 s of CPU on a fast machine, about 1 s on a small VM) so a process
 * that never counts tokens pays nothing; the API builds it before it listens (loadTokenizer).
 */
export function o200kVocabulary(): O200kVocabulary {
  built ??= buildVocabulary((require('gpt-tokenizer/bpeRanks/o200k_base') as { default: O200kRanks }).default);
  return built;
}

/** Whether the vocabulary has been built in this process. */
export function o200kVocabularyBuilt(): boolean {
  return built !== undefined;
}

export function latin1Key(bytes: Uint8Array, start: number, end: number): string {
  // fromCharCode on a short subarray: one char per byte, no decoding, so any byte sequence is a key.
  return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// The library's decoder: not fatal, and (the default) it drops a leading byte-order mark.
const libraryUtf8 = new TextDecoder('utf-8');

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * The rank gpt-tokenizer 3.4.0 gives the bytes [start, end): bytes that are valid UTF-8 are
 * decoded and looked up as text, others among the non-text tokens. Its decoder drops a leading
 * byte-order mark (EF BB BF), so a pair starting with one is looked up without it; we do the same
 * so the count stays the library's even for text containing U+FEFF.
 */
export function rankOfBytes(vocab: O200kVocabulary, bytes: Uint8Array, start: number, end: number): number | undefined {
  if (end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf) {
    const sub = bytes.subarray(start, end);
    if (isValidUtf8(sub)) return vocab.textRank.get(libraryUtf8.decode(sub));
  }
  return vocab.byteRank.get(latin1Key(bytes, start, end));
}

function buildVocabulary(ranks: readonly (string | readonly number[])[]): O200kVocabulary {
  const textRank = new Map<string, number>();
  const byteRank = new Map<string, number>();
  const singleByteRank = new Int32Array(256).fill(-1);
  let maxTokenBytes = 0;
  ranks.forEach((token, rank) => {
    let bytes: Uint8Array;
    if (typeof token === 'string') {
      textRank.set(token, rank);
      bytes = utf8.encode(token);
    } else {
      bytes = Uint8Array.from(token);
      // The library looks up valid UTF-8 only as text, so these (a few BOM-prefixed entries) are
      // unreachable through bytes in its merge; leave them out to merge as it does.
      if (isValidUtf8(bytes)) return;
    }
    // An ASCII token's Latin-1 key is the token string itself (no extra memory).
    const key = typeof token === 'string' && bytes.length === token.length ? token : latin1Key(bytes, 0, bytes.length);
    byteRank.set(key, rank);
    if (bytes.length === 1) singleByteRank[bytes[0]!] = rank;
    if (bytes.length > maxTokenBytes) maxTokenBytes = bytes.length;
  });
  if (singleByteRank.includes(-1)) throw new Error('o200k_base vocabulary lacks a single-byte token');
  return { textRank, byteRank, singleByteRank, maxTokenBytes, rankCount: ranks.length };
}
