import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ByteRankTable } from './byte-rank-table.js';
import { IRREGULAR, readRankSource, TEXT } from './rank-source.js';

/**
 * The o200k_base vocabulary (OpenAI's current BPE), taken from gpt-tokenizer's data so the counts
 * are the library's. We keep our own lookup table because the library's byte-pair merge is
 * quadratic in the length of one pre-token (it rescans every pair after each merge), and its
 * tables are private; the data is the file the library loads (read as bytes: readRankSource).
 */
export interface O200kVocabulary {
  /**
   * Every entry by its bytes: the library's text entries by their UTF-8 bytes (flagged: it also
   * looks them up as text), and its byte entries that are not valid UTF-8. Use `rankOfBytes` and
   * `textRankOfUtf8`, which reproduce the library's lookups.
   */
  readonly table: ByteRankTable;
  /** Text entries that are not well-formed UTF-16, which UTF-8 cannot carry (none in o200k_base). */
  readonly irregularText: ReadonlyMap<string, number>;
  /** Rank of each single byte (all 256 are tokens of o200k_base). */
  readonly singleByteRank: Int32Array;
  /** Ranks are 0 … rankCount − 1. */
  readonly rankCount: number;
  /** The longest token in bytes: a pair longer than this cannot merge, so it is never looked up. */
  readonly maxTokenBytes: number;
}

let built: O200kVocabulary | undefined;
// The library's rank table is a 2 MB generated array literal: imported as a module it costs ~55 MB
// of resident memory that the process keeps. Its file is read as bytes instead (readRankSource),
// on first use, so a process that never counts tokens pays nothing.
const RANKS_FILE = 'gpt-tokenizer/cjs/bpeRanks/o200k_base';

/**
 * Built on first use (a few MB outside the JavaScript heap; ~0.1 s of CPU) so a process that
 * never counts tokens pays nothing; the API builds it before it listens (loadTokenizer).
 */
export function o200kVocabulary(): O200kVocabulary {
  built ??= o200kVocabularyOfSource(readFileSync(createRequire(import.meta.url).resolve(RANKS_FILE)));
  return built;
}

/** The vocabulary of a rank file in gpt-tokenizer's generated format (see readRankSource). */
function o200kVocabularyOfSource(file: Uint8Array): O200kVocabulary {
  const source = readRankSource(file);
  function* entries(): Generator<Entry> {
    for (let rank = 0; rank < source.count; rank++) {
      const kind = source.kind[rank]!;
      if (kind === IRREGULAR) yield [source.irregular.get(rank)!, rank];
      else yield [source.pool.subarray(source.start[rank]!, source.start[rank]! + source.length[rank]!), rank, kind === TEXT];
    }
  }
  return vocabularyOf(source.count, entries());
}

/** Whether the vocabulary has been built in this process. */
export function o200kVocabularyBuilt(): boolean {
  return built !== undefined;
}

const utf8 = new TextEncoder();

/**
 * The rank gpt-tokenizer 3.4.0 gives the bytes [start, end) in its merge: bytes that are valid
 * UTF-8 are decoded and looked up as text, others among the non-text entries. Its decoder drops a
 * leading byte-order mark (EF BB BF), so a pair starting with one is looked up without it; we do
 * the same so the count stays the library's even for text containing U+FEFF. −1: no entry.
 */
export function rankOfBytes(vocab: O200kVocabulary, bytes: Uint8Array, start: number, end: number): number {
  if (end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf && isUtf8(bytes.subarray(start, end))) {
    return textRankOfUtf8(vocab, bytes, start + 3, end);
  }
  return vocab.table.find(bytes, start, end);
}

/** Rank of the text entry whose UTF-8 is bytes [start, end) (valid UTF-8), or −1. */
export function textRankOfUtf8(vocab: O200kVocabulary, bytes: Uint8Array, start: number, end: number): number {
  const rank = vocab.table.find(bytes, start, end);
  return rank >= 0 && vocab.table.flagged(rank) ? rank : -1;
}

/**
 * Whether the library finds `text` as one entry by its first lookup (text to rank). `bytes` are
 * the UTF-8 of `text` as TextEncoder writes it, which is the text itself when it is well-formed.
 */
export function isTextEntry(vocab: O200kVocabulary, text: string, bytes: Uint8Array): boolean {
  if (!text.isWellFormed()) return vocab.irregularText.has(text);
  return textRankOfUtf8(vocab, bytes, 0, bytes.length) >= 0;
}

/**
 * The vocabulary of the library's rank array: index = rank; a string is a text entry, an array of
 * numbers a byte entry. Exported for tests, which build small vocabularies of their own and compare
 * the vocabulary read from the library's file with the one of its evaluated array.
 */
export function buildO200kVocabulary(ranks: readonly (string | readonly number[])[]): O200kVocabulary {
  // One scratch buffer for every entry's bytes: the table copies them as they come.
  let scratch = new Uint8Array(1024);
  function* entries(): Generator<Entry> {
    for (let rank = 0; rank < ranks.length; rank++) {
      const token = ranks[rank]!;
      if (typeof token === 'string') {
        if (!token.isWellFormed()) {
          yield [token, rank];
          continue;
        }
        if (scratch.length < token.length * 3) scratch = new Uint8Array(token.length * 3);
        yield [scratch.subarray(0, utf8.encodeInto(token, scratch).written), rank, true];
      } else {
        if (scratch.length < token.length) scratch = new Uint8Array(token.length);
        scratch.set(token);
        yield [scratch.subarray(0, token.length), rank, false];
      }
    }
  }
  return vocabularyOf(ranks.length, entries());
}

/** An entry by its bytes (valid until the next one) and whether it is text, or a text entry UTF-8 cannot carry. */
type Entry = readonly [bytes: Uint8Array, rank: number, text: boolean] | readonly [irregularText: string, rank: number];

function vocabularyOf(rankCount: number, entries: Iterable<Entry>): O200kVocabulary {
  const irregularText = new Map<string, number>();
  const singleByteRank = new Int32Array(256).fill(-1);
  let maxTokenBytes = 0;
  function* keyed(): Generator<readonly [Uint8Array, number, boolean]> {
    for (const entry of entries) {
      if (typeof entry[0] === 'string') {
        irregularText.set(entry[0], entry[1]);
        continue;
      }
      const [bytes, rank, text] = entry as readonly [Uint8Array, number, boolean];
      // The library looks up valid UTF-8 only as text, so byte entries that are valid UTF-8 (a few
      // BOM-prefixed ones) are unreachable through bytes in its merge; leave them out to merge as it does.
      if (!text && isUtf8(bytes)) continue;
      if (bytes.length === 1) singleByteRank[bytes[0]!] = rank;
      if (bytes.length > maxTokenBytes) maxTokenBytes = bytes.length;
      yield [bytes, rank, text];
    }
  }
  const table = ByteRankTable.build(rankCount, keyed());
  return { table, irregularText, singleByteRank, maxTokenBytes, rankCount };
}
