import fc from 'fast-check';
import { countTokens as libraryCount } from 'gpt-tokenizer/encoding/o200k_base';
import { O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { countBytePairTokens } from '../src/byte-pair-merge.js';
import { forEachO200kPiece } from '../src/o200k-pre-tokenizer.js';
import { buildO200kVocabulary, o200kVocabulary, rankOfBytes, textRankOfUtf8, type O200kVocabulary } from '../src/o200k-vocabulary.js';
import { countPromptTokens, countPromptTokensCountingWork, emptyTokenizerWork, prefixWithinTokens, type TokenizerWork } from '../src/tokens.js';

// Work, not time: every assertion on cost is on counted steps (TokenizerWork), so a slow machine
// cannot fail these tests and a superlinear change cannot pass them.

const SEED = 20261202;
const library = (text: string) => libraryCount(text, { disallowedSpecial: new Set() });

/** One or a few characters of every class the o200k regex tells apart. */
const ALPHABET = [
  ' ', '\t', '\n', '\r', '\r\n', '\v', '\f', '\u00a0', '\u2028', '\u3000', // whitespace, line breaks
  'a', 'b', 'e', 'o', 's', 't', 'd', 'm', 'l', 'v', 'r', 'S', 'T', 'D', 'M', 'L', 'V', 'E', 'R', "'", // letters, contractions
  'A', 'Z', 'ß', 'é', 'Ж', 'ж', 'Ω', 'İ', 'ǅ', 'ʰ', 'ﬀ', '日', '本', '한', 'ก', 'ا', // Lu Ll Lt Lm Lo
  '\u0301', '\u0308', '\u20dd', '\u093f', // combining marks (Mn, Me, Mc)
  '1', '9', '٣', '𝟙', 'Ⅻ', '½', // numbers (Nd incl. astral, Nl, No)
  '!', '.', ',', '/', '"', '-', '$', '€', '<', '|', '>', '_', '\u0000', // punctuation, symbols
  '😀', '👍🏽', '👨‍👩‍👧', '\u200d', '🇫🇷', // emoji, modifiers, ZWJ sequences, flags
  '\ufeff', '\ud800', '\udc00', // byte-order mark, lone surrogates
  '<|endoftext|>', // special-token text is ordinary text in a prompt
];
const symbol = fc.constantFrom(...ALPHABET);
/** Text mixing everything, and text made of runs of one symbol (the backtracking cases). */
const mixedText = fc.array(symbol, { maxLength: 80 }).map((parts) => parts.join(''));
const runsText = fc
  .array(fc.tuple(symbol, fc.integer({ min: 1, max: 40 })), { maxLength: 8 })
  .map((runs) => runs.map(([s, n]) => s.repeat(n)).join(''));
const anyUnicode = fc.string({ unit: 'binary', maxLength: 120 });
const loneSurrogates = fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 20 });
const anyText = fc.oneof(mixedText, runsText, anyUnicode, loneSurrogates.chain((s) => mixedText.map((t) => s + t + s)));

function pieces(text: string, work: TokenizerWork = emptyTokenizerWork()): string[] {
  const out: string[] = [];
  forEachO200kPiece(text, work, (start, end) => out.push(text.slice(start, end)));
  return out;
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

describe('o200k pre-tokenizer scanner', () => {
  it('gives exactly the pieces of the o200k regex (generated text of every character class)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(pieces(text)).toEqual(text.match(O200K_TOKEN_SPLIT_REGEX) ?? []);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('looks at each character at most 10 times plus a constant per piece, on runs of any class', () => {
    // Derived in o200k-pre-tokenizer.ts: the HEAD run at a piece's start is scanned by at most four
    // alternatives, plus one character of look-ahead each; a piece that stops inside a run leaves
    // only Lu/Lt characters, taken whole by the next piece. So looks ≤ 10 × code points + 12 × pieces.
    fc.assert(
      fc.property(fc.array(fc.tuple(symbol, fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 4 }), (runs) => {
        const text = runs.map(([s, n]) => s.repeat(n)).join('');
        const work = emptyTokenizerWork();
        pieces(text, work);
        expect(work.codePointsExamined).toBeLessThanOrEqual(10 * codePoints(text) + 12 * work.pieces);
        expect(work.pieces).toBeLessThanOrEqual(codePoints(text));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('countPromptTokens is the library count', () => {
  it('for ordinary prose, code and CJK', () => {
    const samples = [
      'Explain quantum computing in simple terms.',
      "I'm sure THEY'RE right; we'll see, won't we? It's 3:45 PM on 2026-12-02.",
      'function add(a: number, b: number): number {\n  return a + b; // sum\n}\n\n\tconsole.log(add(1, 2));',
      '日本語のテキストです。用户的问题是什么？한국어 문장입니다.',
      'Ünïcödé façade — naïve coöperation; Δ = ∑ xᵢ²; 😀👍🏽👨‍👩‍👧 🇫🇷',
      'https://example.com/path/to/resource?query=value&other=1#frag',
      'hi <|endoftext|> there <|im_start|>user',
    ];
    for (const text of samples) expect(countPromptTokens(text)).toBe(library(text));
  });

  it('for generated text of every character class (no pre-token longer than a few hundred bytes)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(countPromptTokens(text)).toBe(library(text));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('for long pre-tokens (the bucketed merge, ≥ 256 bytes) the library can still finish', () => {
    const longPiece = fc.oneof(
      fc.tuple(fc.constantFrom('a', 'x', 'é', '日', '!', ' ', '\u0301', '😀', '=', 'A'), fc.integer({ min: 256, max: 2500 })).map(([c, n]) => c.repeat(n)),
      fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 256, maxLength: 2000 }),
      fc.string({ unit: fc.constantFrom(...'!"#$%&()*+,-.:;<=>?@[]^_`{|}~'), minLength: 256, maxLength: 1500 }),
      fc.string({ unit: fc.integer({ min: 0x4e00, max: 0x9fff }).map((c) => String.fromCharCode(c)), minLength: 100, maxLength: 700 }),
      fc.string({ unit: fc.constantFrom('the', 'ing', 'tion', 'and', 'qu', 'z'), minLength: 100, maxLength: 600 }).map((s) => `Go${s}`),
    );
    fc.assert(
      fc.property(longPiece, (text) => {
        expect(countPromptTokens(text)).toBe(library(text));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});

describe('bounded work on worst cases', () => {
  // Largest inputs the property draws: 64k code points of one class, a run of one character, or
  // random characters — all without whitespace, so each run is one pre-token the library would
  // merge in quadratic time.
  const worstCase = fc.oneof(
    fc.tuple(fc.constantFrom('a', 'A', '7', '!', ' ', '\n', '\u0301', 'é', '日', '😀', '👨‍👩‍👧', '\ud800', '/', "'s"), fc.integer({ min: 1, max: 64_000 })).map(([c, n]) =>
      c.repeat(n),
    ),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 30_000 }),
    fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'), minLength: 1, maxLength: 60_000 }),
    fc.string({ unit: fc.constantFrom(...'!"#$%&()*+,-.:;<=>?@[]^_`{|}~'), minLength: 1, maxLength: 60_000 }),
    fc.string({ unit: fc.constantFrom('a\u0301', 'A', 'ǅ', 'ʰ', '日', '1', '\u200d', '👍🏽'), minLength: 1, maxLength: 20_000 }),
  );

  it('every step count is linear in the input (heap sift steps: logarithmic factor)', () => {
    fc.assert(
      fc.property(worstCase, (text) => {
        const work = emptyTokenizerWork();
        const tokens = countPromptTokensCountingWork(text, work);
        const units = text.length; // UTF-16 units; UTF-8 bytes ≤ 3 per unit
        expect(work.bpeBytes).toBeLessThanOrEqual(3 * units);
        expect(work.merges).toBeLessThanOrEqual(work.bpeBytes);
        expect(tokens).toBeLessThanOrEqual(3 * units);
        // B − 1 initial pairs + 2 per merge, bucket inserts and heap pushes alike, then one pop each.
        expect(work.heapOperations).toBeLessThanOrEqual(2 * 3 * work.bpeBytes);
        expect(work.pairLookups).toBeLessThanOrEqual(3 * work.bpeBytes);
        expect(work.codePointsExamined).toBeLessThanOrEqual(22 * units);
        const log = Math.ceil(Math.log2(3 * Math.max(work.longestBpeInput, 1) + 1));
        expect(work.heapSiftSteps).toBeLessThanOrEqual(work.heapOperations * log);
        // One linear budget for all of it: at most 60 counted steps per UTF-16 unit.
        const linear = work.codePointsExamined + work.bpeBytes + work.merges + work.heapOperations + work.pairLookups;
        expect(linear).toBeLessThanOrEqual(60 * units);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('a 1 MB run without whitespace costs steps proportional to its length (the reported stall)', () => {
    const work = emptyTokenizerWork();
    const text = 'a'.repeat(1_000_000);
    expect(countPromptTokensCountingWork(text, work)).toBe(125_000);
    expect(work.longestBpeInput).toBe(1_000_000);
    expect(work.merges).toBe(875_000);
    expect(work.codePointsExamined + work.bpeBytes + work.merges + work.heapOperations + work.pairLookups).toBeLessThanOrEqual(60 * text.length);
  });
});

describe('byte-pair merge order (against a straightforward reference, on random vocabularies)', () => {
  // The library's algorithm, written plainly: merge the leftmost lowest-rank pair until none is a token.
  function referenceCount(bytes: Uint8Array, rank: (key: string) => number | undefined): number {
    const parts = [...bytes].map((b) => String.fromCharCode(b));
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rank(parts[i]! + parts[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) return parts.length;
      parts.splice(best, 2, parts[best]! + parts[best + 1]!);
    }
  }

  // Tokens over "abc" with random ranks: unlike o200k, pairs of a rank below the current merge are
  // frequent, so the heap that serves them is exercised, as are long chains of equal ranks.
  const vocabulary = fc
    .uniqueArray(fc.string({ unit: fc.constantFrom('a', 'b', 'c'), minLength: 2, maxLength: 5 }), { minLength: 5, maxLength: 80 })
    .chain((tokens) => fc.shuffledSubarray(tokens, { minLength: tokens.length, maxLength: tokens.length }));

  const abc = (minLength: number, maxLength: number) => fc.string({ unit: fc.constantFrom('a', 'b', 'c'), minLength, maxLength });

  // Ranks 0–255: the single bytes (ASCII as text, the rest as bytes, as o200k holds them); then `tokens`.
  function buildVocabulary(tokens: string[]): O200kVocabulary {
    const singles = Array.from({ length: 256 }, (_, b) => (b < 0x80 ? String.fromCharCode(b) : [b]));
    return buildO200kVocabulary([...singles, ...tokens]);
  }

  const rankOfKey = (vocab: O200kVocabulary, key: string): number | undefined => {
    const bytes = Uint8Array.from(key, (c) => c.charCodeAt(0));
    const rank = rankOfBytes(vocab, bytes, 0, bytes.length);
    return rank < 0 ? undefined : rank;
  };

  it('merges in the same order, for short (heap) and long (buckets + heap) inputs', () => {
    let outOfOrder = 0;
    fc.assert(
      fc.property(vocabulary, fc.oneof(abc(1, 255), abc(256, 900)), (tokens, text) => {
        const vocab = buildVocabulary(tokens);
        const bytes = new TextEncoder().encode(text);
        const work = emptyTokenizerWork();
        expect(countBytePairTokens(bytes, vocab, work)).toBe(referenceCount(bytes, (k) => rankOfKey(vocab, k)));
        outOfOrder += work.outOfOrderPairs;
      }),
      { seed: SEED, numRuns: 400 },
    );
    expect(outOfOrder).toBeGreaterThan(0);
  });

  it('keys every o200k entry the library can reach by bytes, and all 256 single bytes', () => {
    const vocab = o200kVocabulary();
    expect(vocab.singleByteRank.every((r) => r >= 0)).toBe(true);
    expect(vocab.maxTokenBytes).toBe(128);
    const utf8 = new TextEncoder().encode(' hello');
    const rank = rankOfBytes(vocab, utf8, 0, utf8.length);
    expect(rank).toBeGreaterThan(0);
    expect(textRankOfUtf8(vocab, utf8, 0, utf8.length)).toBe(rank);
    expect(vocab.irregularText.size).toBe(0);
  });
});

describe('prefixWithinTokens (truncating to a token budget in one pass)', () => {
  it('is the longest whole-pre-token prefix within the budget, and its count is the count of that prefix', () => {
    fc.assert(
      fc.property(anyText, fc.integer({ min: 0, max: 60 }), (text, limit) => {
        const { end, tokens } = prefixWithinTokens(text, limit);
        const prefix = text.slice(0, end);
        expect(tokens).toBeLessThanOrEqual(limit);
        expect(tokens).toBe(library(prefix));
        // Ends where a pre-token ends (not after a whitespace pre-token that follows another: the
        // two would be one at the end of the prefix), and the next such end would not have fitted.
        const all = pieces(text);
        const blank = (piece: string | undefined) => piece !== undefined && /^\s+$/.test(piece);
        const ends = all
          .map((piece, i) => ({ end: all.slice(0, i + 1).join('').length, cut: !(blank(piece) && blank(all[i - 1])) }))
          .filter((e) => e.cut)
          .map((e) => e.end);
        if (end > 0) expect(ends).toContain(end);
        const next = ends.find((e) => e > end);
        if (next !== undefined) expect(library(text.slice(0, next))).toBeGreaterThan(limit);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('looks at each character a bounded number of times whatever the budget (one pass, not one count per cut)', () => {
    for (const unit of ['word ', 'a', '日本 ', '😀']) {
      const text = unit.repeat(20_000);
      for (const limit of [1, 1_000, 10_000]) {
        const work = emptyTokenizerWork();
        prefixWithinTokens(text, limit, work);
        expect(work.codePointsExamined).toBeLessThanOrEqual(10 * codePoints(text) + 10 * work.pieces);
        expect(work.bpeBytes).toBeLessThanOrEqual(3 * text.length);
      }
    }
  });
});

describe('the UTF-8 length bounds the count', () => {
  // The gateway routes a named model on this bound and counts only when the bound does not decide
  // (services/api/src/gateway/gateway-router.ts, PromptTokens): every token is at least one byte.
  it('never counts more tokens than the text has bytes of UTF-8 (generated text of every kind)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        expect(countPromptTokens(text)).toBeLessThanOrEqual(Buffer.byteLength(text, 'utf8'));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});
