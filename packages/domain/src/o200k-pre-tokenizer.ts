import type { TokenizerWork } from './tokenizer-work.js';

/**
 * The o200k_base pre-tokenizer, written as a scanner that gives exactly the pieces of its regex
 *
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'s|'t|'re|'ve|'m|'ll|'d)?   (1)
 *  |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'s|…)?                  (2)
 *  |\p{N}{1,3} | ?[^\s\p{L}\p{N}]+[\r\n/]* |\s*[\r\n]+ |\s+(?!\S) |\s+                                      (3)-(7)
 *
 * (contraction letters in either case), as gpt-tokenizer and tiktoken apply it with a backtracking
 * engine. Why not the regex itself: its cost depends on how the engine backtracks (`U*` then `L+`,
 * `\s*` then `[\r\n]+` re-scan a run for every shorter length), which nothing here can count or
 * bound. The scanner resolves each backtrack by remembering, during one forward pass over a run,
 * the last position where the shorter match would succeed. So each call looks at the run it is in
 * at most five times (alternatives 1 and 2, each with and without the optional prefix, plus one
 * character of look-ahead), and a call that stops short of its run's end is followed by one that
 * consumes the rest of it (derived at `letterPieceEnd`): the work is at most ~10 × the number of
 * code points, counted in `work.codePointsExamined` and asserted by the property tests. The tests
 * also check that the pieces equal the library regex's on generated worst cases and ordinary text.
 */

// Character classes as bits. A code point's class is computed once per process (lazily) by the
// engine's own Unicode tables, so the scanner agrees with the regex on every Unicode version.
const UPPER = 1; // Lu, Lt
const LOWER = 2; // Ll
const OTHER_LETTER = 4; // Lm, Lo
const MARK = 8; // M
const NUMBER = 16; // N
const SPACE = 32; // \s
const LINE_BREAK = 64; // \r, \n
const KNOWN = 128;

const LETTER = UPPER | LOWER | OTHER_LETTER;
const HEAD = UPPER | OTHER_LETTER | MARK; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
const TAIL = LOWER | OTHER_LETTER | MARK; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
const NOT_PREFIX = LINE_BREAK | LETTER | NUMBER; // complement of [^\r\n\p{L}\p{N}]
const NOT_SYMBOL = SPACE | LETTER | NUMBER; // complement of [^\s\p{L}\p{N}]

const classes = new Uint8Array(0x110000);
const CLASSIFY = /(\p{Lu}|\p{Lt})|(\p{Ll})|(\p{Lm}|\p{Lo})|(\p{M})|(\p{N})|(\s)/u;

function classify(cp: number): number {
  const m = CLASSIFY.exec(String.fromCodePoint(cp));
  let c = KNOWN;
  if (m) {
    if (m[1] !== undefined) c |= UPPER;
    else if (m[2] !== undefined) c |= LOWER;
    else if (m[3] !== undefined) c |= OTHER_LETTER;
    else if (m[4] !== undefined) c |= MARK;
    else if (m[5] !== undefined) c |= NUMBER;
    else c |= SPACE;
  }
  if (cp === 0x0a || cp === 0x0d) c |= LINE_BREAK;
  classes[cp] = c;
  return c;
}

/** A scan over one string; `classAt` counts every look at a character. */
class Scanner {
  readonly length: number;

  constructor(
    private readonly text: string,
    private readonly work: TokenizerWork,
  ) {
    this.length = text.length;
  }

  classAt(i: number): number {
    this.work.codePointsExamined++;
    const cp = this.text.codePointAt(i)!;
    const c = classes[cp]!;
    return c === 0 ? classify(cp) : c;
  }

  widthAt(i: number): number {
    return this.text.codePointAt(i)! > 0xffff ? 2 : 1;
  }

  /** End of the run of characters in `mask` starting at i. */
  runEnd(i: number, mask: number): number {
    let j = i;
    while (j < this.length && (this.classAt(j) & mask) !== 0) j += this.widthAt(j);
    return j;
  }

  /** End of the run of characters outside `mask` starting at i. */
  runEndOutside(i: number, mask: number): number {
    let j = i;
    while (j < this.length && (this.classAt(j) & mask) === 0) j += this.widthAt(j);
    return j;
  }

  /** `(?:'s|'t|'re|'ve|'m|'ll|'d)?` (either case) after position e. */
  contraction(e: number): number {
    const t = this.text;
    if (t.charCodeAt(e) !== 0x27) return e; // '
    const a = t.charCodeAt(e + 1) | 0x20; // lower-cased ASCII
    if (a === 0x73 || a === 0x64 || a === 0x6d || a === 0x74) return e + 2; // s d m t
    const b = t.charCodeAt(e + 2) | 0x20;
    if ((a === 0x6c && b === 0x6c) || (a === 0x76 && b === 0x65) || (a === 0x72 && b === 0x65)) return e + 3; // ll ve re
    return e;
  }

  /**
   * Alternative (1) from s (after the optional prefix): `HEAD*` greedily, then `TAIL+`. When the
   * character after the HEAD run is not TAIL, the engine gives back HEAD characters one by one
   * until one of them is TAIL (Lm, Lo and M are both); the last such position is remembered in the
   * same forward pass, so there is no backward re-scan. Returns -1 when (1) does not match.
   */
  lowerTailEnd(s: number): number {
    let j = s;
    let lastTail = -1;
    while (j < this.length) {
      const c = this.classAt(j);
      if ((c & HEAD) === 0) break;
      if ((c & TAIL) !== 0) lastTail = j;
      j += this.widthAt(j);
    }
    if (j < this.length && (this.classAt(j) & TAIL) !== 0) return this.contraction(this.runEnd(j, TAIL));
    // Backtracked into the HEAD run: TAIL+ takes one character, as the next one is HEAD only.
    if (lastTail >= 0) return this.contraction(lastTail + this.widthAt(lastTail));
    return -1;
  }

  /** Alternative (2) from s: `HEAD+ TAIL*`; never backtracks once HEAD+ has one character. */
  upperHeadEnd(s: number): number {
    if (s >= this.length || (this.classAt(s) & HEAD) === 0) return -1;
    return this.contraction(this.runEnd(this.runEnd(s, HEAD), TAIL));
  }

  /**
   * Alternatives (1) and (2), in the engine's order: (1) with the prefix, (1) without, (2) with,
   * (2) without. Work: each of the four scans the HEAD run at i once. A result that stops inside
   * the run (one TAIL character of it, or only the prefix-less mark at i) leaves HEAD-only
   * characters (Lu, Lt) up to the run's end, and the next call takes them all with (2).
   */
  letterPieceEnd(i: number, c0: number): number {
    const prefix = (c0 & NOT_PREFIX) === 0;
    const w = this.widthAt(i);
    let e = prefix ? this.lowerTailEnd(i + w) : -1;
    if (e < 0) e = this.lowerTailEnd(i);
    if (e < 0 && prefix) e = this.upperHeadEnd(i + w);
    if (e < 0) e = this.upperHeadEnd(i);
    return e;
  }

  /** The end of the piece that starts at i (i < length). */
  pieceEnd(i: number): number {
    const c0 = this.classAt(i);
    if ((c0 & (LETTER | MARK)) !== 0 || (c0 & NOT_PREFIX) === 0) {
      const e = this.letterPieceEnd(i, c0);
      if (e >= 0) return e;
    }
    if ((c0 & NUMBER) !== 0) {
      // \p{N}{1,3}
      let e = i + this.widthAt(i);
      for (let k = 1; k < 3 && e < this.length && (this.classAt(e) & NUMBER) !== 0; k++) e += this.widthAt(e);
      return e;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
    let s = -1;
    if (this.text.charCodeAt(i) === 0x20 && i + 1 < this.length && (this.classAt(i + 1) & NOT_SYMBOL) === 0) s = i + 1;
    else if ((c0 & NOT_SYMBOL) === 0) s = i;
    if (s >= 0) {
      let e = this.runEndOutside(s, NOT_SYMBOL);
      while (e < this.length && (this.text.charCodeAt(e) === 0x0d || this.text.charCodeAt(e) === 0x0a || this.text.charCodeAt(e) === 0x2f)) {
        this.work.codePointsExamined++;
        e++;
      }
      return e;
    }
    // Whitespace (every remaining character is \s): one pass over the run serves (5), (6) and (7).
    if ((c0 & SPACE) === 0) return i + this.widthAt(i); // unreachable: letters and marks matched (1) or (2)
    let k = i;
    let lastBreak = -1;
    while (k < this.length) {
      const c = this.classAt(k);
      if ((c & SPACE) === 0) break;
      if ((c & LINE_BREAK) !== 0) lastBreak = k;
      k++; // \s is all BMP
    }
    if (lastBreak >= 0) return lastBreak + 1; // \s*[\r\n]+ backtracks to the last line break
    if (k === this.length) return k; // \s+(?!\S) at the end of the text
    if (k - i >= 2) return k - 1; // \s+(?!\S): leave the last space to the next word
    return k; // \s+
  }
}

/**
 * Calls `onPiece(start, end)` for each o200k pre-token of `text`, in order; the pieces tile the text.
 */
export function forEachO200kPiece(text: string, work: TokenizerWork, onPiece: (start: number, end: number) => void): void {
  const scanner = new Scanner(text, work);
  let i = 0;
  while (i < text.length) {
    const e = scanner.pieceEnd(i);
    work.pieces++;
    onPiece(i, e);
    i = e;
  }
}
