import { createRequire } from 'node:module';
import { countBytePairTokens } from './byte-pair-merge.js';
import { forEachO200kPiece } from './o200k-pre-tokenizer.js';
import { isTextEntry, o200kVocabulary, o200kVocabularyBuilt } from './o200k-vocabulary.js';
import { addToProcessTotals, emptyTokenizerWork, type TokenizerWork } from './tokenizer-work.js';

export { tokenizerWorkTotals, emptyTokenizerWork, type TokenizerWork } from './tokenizer-work.js';

// Ordinary text repeats its words: remember the count of short pre-tokens, vocabulary entries
// included (bounded; cleared when full), as the library's merge cache does. Long pre-tokens are
// not kept, so memory stays bounded.
const pieceCounts = new Map<string, number>();
const PIECE_CACHE_LIMIT = 50_000;
const CACHED_PIECE_MAX_LENGTH = 64;

const utf8 = new TextEncoder();
let buffer = new Uint8Array(1024);

/**
 * Prompt tokens by the o200k_base BPE (the tokenizer of OpenAI's current models). Other vendors'
 * tokenizers differ by a few percent; one well-defined count keeps estimates comparable across
 * models, which is what routing needs.
 *
 * Exact — the count equals gpt-tokenizer's `countTokens` (o200k_base) for every input, including
 * special-token text, which a prompt holds as ordinary characters — and linear-bounded whatever
 * the input: the pre-tokenizer is a scanner that looks at each character a bounded number of times
 * (o200k-pre-tokenizer.ts), and each pre-token that is not one vocabulary entry is merged with a
 * heap in O(B log B) for B bytes instead of the library's O(B²) (byte-pair-merge.ts). The largest
 * error versus the library's count is 0.
 */
export function countPromptTokens(prompt: string): number {
  return countPromptTokensCountingWork(prompt, emptyTokenizerWork());
}

/**
 * Builds the tokenizer's vocabulary now rather than on the first count, which otherwise blocks the
 * event loop for it (about a second of CPU on a small VM) while that request and every one that
 * arrives meanwhile wait. A service that counts tokens calls this before it listens.
 */
export function loadTokenizer(): void {
  o200kVocabulary();
}

/** Whether this process has built the tokenizer's vocabulary (loadTokenizer or a first count). */
export function tokenizerLoaded(): boolean {
  return o200kVocabularyBuilt();
}

/** `countPromptTokens`, adding the steps it takes to `work` (for tests and the bench). */
export function countPromptTokensCountingWork(prompt: string, work: TokenizerWork): number {
  if (prompt.length === 0) return 0;
  let count = 0;
  forEachO200kPiece(prompt, work, (start, end) => {
    count += pieceTokens(prompt.slice(start, end), work);
  });
  addToProcessTotals(work);
  return count;
}

/**
 * The longest prefix of `text` that ends where a pre-token ends and whose pre-tokens add up to at
 * most `limit` tokens, in one pass (a count per cut would be quadratic): `end` (the prefix is
 * text.slice(0, end)) and its `tokens`, which is countPromptTokens of the prefix. Such a prefix
 * splits into the same pre-tokens as in `text`, except after a whitespace pre-token that follows
 * another: the regex splits a run before a word (`\s+(?!\S)`), and at the end of a prefix the two
 * parts would be one — so the prefix never ends there. Pre-tokens after the first that does not fit
 * are scanned but not merged.
 */
export function prefixWithinTokens(text: string, limit: number, work: TokenizerWork = emptyTokenizerWork()): { end: number; tokens: number } {
  let end = 0;
  let tokens = 0;
  let sum = 0;
  let previousWhitespace = false;
  let full = false;
  forEachO200kPiece(text, work, (start, pieceEnd) => {
    if (full) return;
    const piece = text.slice(start, pieceEnd);
    sum += pieceTokens(piece, work);
    if (sum > limit) {
      full = true;
      return;
    }
    const whitespace = WHITESPACE_ONLY.test(piece);
    if (!(whitespace && previousWhitespace)) {
      tokens = sum;
      end = pieceEnd;
    }
    previousWhitespace = whitespace;
  });
  addToProcessTotals(work);
  return { end, tokens };
}

const WHITESPACE_ONLY = /^\s+$/;

/** Tokens of one pre-token. */
function pieceTokens(piece: string, work: TokenizerWork): number {
  const vocab = o200kVocabulary();
  // The library's order: a lone ASCII character, the piece as text, then merging.
  if (piece.length === 1 && piece.charCodeAt(0) < 0x80) return 1;
  const cacheable = piece.length <= CACHED_PIECE_MAX_LENGTH;
  const cached = cacheable ? pieceCounts.get(piece) : undefined;
  if (cached !== undefined) return cached;
  // UTF-8 needs at most 3 bytes per UTF-16 unit (lone surrogates become U+FFFD, 3 bytes).
  if (buffer.length < piece.length * 3) buffer = new Uint8Array(piece.length * 3);
  const { written } = utf8.encodeInto(piece, buffer);
  const bytes = buffer.subarray(0, written);
  const tokens = isTextEntry(vocab, piece, bytes) ? 1 : countBytePairTokens(bytes, vocab, work);
  if (cacheable) {
    if (pieceCounts.size >= PIECE_CACHE_LIMIT) pieceCounts.clear();
    pieceCounts.set(piece, tokens);
  }
  return tokens;
}

/**
 * gpt-tokenizer's own count (quadratic in the length of one pre-token): the reference our count
 * equals, for tests and the bench only — never call it on a request's text.
 */
export function countPromptTokensWithLibrary(prompt: string): number {
  // Loaded on first call: the library builds its own tables (~100 ms, tens of MB) at import, which
  // a service that only counts with ours should not pay.
  libraryCount ??= (createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/o200k_base') as typeof import('gpt-tokenizer/encoding/o200k_base')).countTokens;
  return libraryCount(prompt, { disallowedSpecial: new Set() });
}

let libraryCount: typeof import('gpt-tokenizer/encoding/o200k_base').countTokens | undefined;
