import { Buffer, isUtf8 } from 'node:buffer';

/**
 * gpt-tokenizer's rank data (`bpeRanks/<encoding>.js`) is generated JavaScript: lines
 * `const cN = [...];` of JSON string literals (text entries) and arrays of byte values (entries
 * that are not UTF-8), joined by `const bpe = c0.concat(c1, …);`, index = rank. Evaluating it as a
 * module parses and compiles a 2 MB array literal and makes 200,000 strings: ~55 MB of resident
 * memory (parser zones, a young generation grown to its cap, the binary's compiler pages) that the
 * process keeps long after the array is garbage. Reading the literals' bytes straight from the file
 * makes no string per entry: the text of a literal is already its UTF-8 in the file, but for its
 * escapes.
 *
 * The reader accepts the JSON subset the generator writes and refuses anything else, naming the
 * byte offset, so a change of the library's format fails loudly instead of counting differently.
 */
export interface RankSource {
  /** Number of entries: ranks are 0 … count − 1. */
  readonly count: number;
  /** Bytes of every entry but the irregular ones: entry r is pool[start[r], start[r] + length[r]). */
  readonly pool: Uint8Array;
  readonly start: Int32Array;
  readonly length: Int32Array;
  /** Per rank: TEXT (a string literal), BYTES (an array of byte values) or IRREGULAR. */
  readonly kind: Uint8Array;
  /** Text entries holding a lone surrogate, which UTF-8 cannot carry: rank → the string. */
  readonly irregular: ReadonlyMap<number, string>;
}

export const TEXT = 0;
export const BYTES = 1;
export const IRREGULAR = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;

const SIMPLE_ESCAPES: Readonly<Record<number, number>> = {
  0x22: 0x22, // \"
  0x5c: 0x5c, // \\
  0x2f: 0x2f, // \/
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
};

export class RankSourceError extends Error {
  constructor(message: string, offset: number) {
    super(`rank source, byte ${offset}: ${message}`);
    this.name = 'RankSourceError';
  }
}

/** Reads every entry of a rank file in the generator's format (see the interface's comment). */
export function readRankSource(source: Uint8Array): RankSource {
  if (!isUtf8(source)) throw new RankSourceError('not UTF-8', 0);
  const file = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  const reader = new Reader(source);
  const names: string[] = [];
  // Each `const cN = [` opens one part; parts are read in the order they appear, then checked
  // against the order the concat line joins them in.
  const marker = '\nconst c';
  for (let at = file.indexOf(marker); at >= 0; at = file.indexOf(marker, reader.at)) {
    reader.at = at + marker.length;
    const digitsFrom = reader.at;
    while (reader.at < source.length && source[reader.at]! >= 0x30 && source[reader.at]! <= 0x39) reader.at++;
    if (reader.at === digitsFrom) throw new RankSourceError('a part name without its number', reader.at);
    names.push(`c${file.toString('latin1', digitsFrom, reader.at)}`);
    reader.expectText(' = ');
    reader.readArray();
    reader.expectText(';');
  }
  if (names.length === 0) throw new RankSourceError('no `const cN = [...]` part', 0);
  const join = `const bpe = ${names[0]}.concat(${names.slice(1).join(', ')});`;
  if (file.indexOf(`\n${join}`, reader.at) < 0) throw new RankSourceError(`no \`${join}\` after the parts`, reader.at);
  return reader.result();
}

class Reader {
  at = 0;
  private count = 0;
  private pool = new Uint8Array(1 << 16);
  private used = 0;
  private start = new Int32Array(1 << 12);
  private length = new Int32Array(1 << 12);
  private kind = new Uint8Array(1 << 12);
  private readonly irregular = new Map<number, string>();

  constructor(private readonly source: Uint8Array) {}

  result(): RankSource {
    return {
      count: this.count,
      pool: this.pool.subarray(0, this.used),
      start: this.start.subarray(0, this.count),
      length: this.length.subarray(0, this.count),
      kind: this.kind.subarray(0, this.count),
      irregular: this.irregular,
    };
  }

  expectText(text: string): void {
    for (let i = 0; i < text.length; i++) {
      if (this.source[this.at + i] !== text.charCodeAt(i)) throw new RankSourceError(`expected ${JSON.stringify(text)}`, this.at);
    }
    this.at += text.length;
  }

  /** `[` entry (`,` entry)* `]`, or `[]`. */
  readArray(): void {
    this.expectByte(OPEN);
    this.skipSpaces();
    if (this.source[this.at] === CLOSE) {
      this.at++;
      return;
    }
    for (;;) {
      this.skipSpaces();
      this.readEntry();
      this.skipSpaces();
      const next = this.source[this.at];
      this.at++;
      if (next === CLOSE) return;
      if (next !== COMMA) throw new RankSourceError('expected `,` or `]` after an entry', this.at - 1);
    }
  }

  private readEntry(): void {
    const rank = this.count;
    this.grow();
    this.start[rank] = this.used;
    const first = this.source[this.at];
    if (first === QUOTE) this.kind[rank] = this.readString(rank) ? TEXT : IRREGULAR;
    else if (first === OPEN) {
      this.readByteArray();
      this.kind[rank] = BYTES;
    } else throw new RankSourceError('expected a string or an array of bytes', this.at);
    this.length[rank] = this.used - this.start[rank]!;
    this.count++;
  }

  /** A JSON string literal, as UTF-8 into the pool; false (and the string kept aside) when it holds a lone surrogate. */
  private readString(rank: number): boolean {
    const { source } = this;
    const literalFrom = this.at;
    this.at++;
    let pendingHigh = -1;
    let wellFormed = true;
    for (;;) {
      if (this.at >= source.length) throw new RankSourceError('a string literal that does not end', literalFrom);
      const byte = source[this.at]!;
      if (byte === QUOTE) break;
      if (byte < 0x20) throw new RankSourceError('a control character in a string literal', this.at);
      if (byte !== BACKSLASH) {
        if (pendingHigh >= 0) wellFormed = false;
        pendingHigh = -1;
        this.push(byte);
        this.at++;
        continue;
      }
      const escape = source[this.at + 1];
      if (escape === 0x75 /* u */) {
        const unit = this.hex4(this.at + 2);
        this.at += 6;
        if (unit >= 0xdc00 && unit <= 0xdfff && pendingHigh >= 0) {
          this.pushCodePoint(0x10000 + ((pendingHigh - 0xd800) << 10) + (unit - 0xdc00));
          pendingHigh = -1;
        } else if (unit >= 0xd800 && unit <= 0xdfff) {
          if (pendingHigh >= 0 || unit >= 0xdc00) wellFormed = false;
          pendingHigh = unit <= 0xdbff ? unit : -1;
        } else {
          if (pendingHigh >= 0) wellFormed = false;
          pendingHigh = -1;
          this.pushCodePoint(unit);
        }
        continue;
      }
      const simple = escape === undefined ? undefined : SIMPLE_ESCAPES[escape];
      if (simple === undefined) throw new RankSourceError('an escape JSON does not have', this.at);
      if (pendingHigh >= 0) wellFormed = false;
      pendingHigh = -1;
      this.push(simple);
      this.at += 2;
    }
    if (pendingHigh >= 0) wellFormed = false;
    this.at++;
    if (!wellFormed) {
      // Rare (none in o200k_base): the string itself is kept, as the library looks it up as text.
      this.used = this.start[rank]!;
      this.irregular.set(rank, JSON.parse(new TextDecoder().decode(source.subarray(literalFrom, this.at))) as string);
    }
    return wellFormed;
  }

  /** `[` byte (`,` byte)* `]`: decimal integers 0–255. */
  private readByteArray(): void {
    const { source } = this;
    this.at++;
    for (;;) {
      this.skipSpaces();
      const from = this.at;
      let value = 0;
      while (this.at < source.length && source[this.at]! >= 0x30 && source[this.at]! <= 0x39 && this.at - from < 4) {
        value = value * 10 + (source[this.at]! - 0x30);
        this.at++;
      }
      if (this.at === from || value > 255 || (this.at - from > 1 && source[from] === 0x30)) throw new RankSourceError('expected a byte value (0–255)', from);
      this.push(value);
      this.skipSpaces();
      const next = source[this.at];
      this.at++;
      if (next === CLOSE) return;
      if (next !== COMMA) throw new RankSourceError('expected `,` or `]` in an array of bytes', this.at - 1);
    }
  }

  private hex4(from: number): number {
    let unit = 0;
    for (let i = from; i < from + 4; i++) {
      const c = this.source[i];
      const digit = c === undefined ? -1 : c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (digit < 0) throw new RankSourceError('a \\u escape without four hex digits', from - 2);
      unit = unit * 16 + digit;
    }
    return unit;
  }

  private pushCodePoint(cp: number): void {
    if (cp < 0x80) this.push(cp);
    else if (cp < 0x800) {
      this.push(0xc0 | (cp >> 6));
      this.push(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      this.push(0xe0 | (cp >> 12));
      this.push(0x80 | ((cp >> 6) & 0x3f));
      this.push(0x80 | (cp & 0x3f));
    } else {
      this.push(0xf0 | (cp >> 18));
      this.push(0x80 | ((cp >> 12) & 0x3f));
      this.push(0x80 | ((cp >> 6) & 0x3f));
      this.push(0x80 | (cp & 0x3f));
    }
  }

  private push(byte: number): void {
    if (this.used === this.pool.length) {
      const grown = new Uint8Array(this.pool.length * 2);
      grown.set(this.pool);
      this.pool = grown;
    }
    this.pool[this.used++] = byte;
  }

  private grow(): void {
    if (this.count < this.start.length) return;
    const size = this.start.length * 2;
    const start = new Int32Array(size);
    start.set(this.start);
    this.start = start;
    const length = new Int32Array(size);
    length.set(this.length);
    this.length = length;
    const kind = new Uint8Array(size);
    kind.set(this.kind);
    this.kind = kind;
  }

  private expectByte(byte: number): void {
    if (this.source[this.at] !== byte) throw new RankSourceError(`expected \`${String.fromCharCode(byte)}\``, this.at);
    this.at++;
  }

  private skipSpaces(): void {
    const { source } = this;
    while (this.at < source.length && (source[this.at] === 0x20 || source[this.at] === 0x0a || source[this.at] === 0x0d || source[this.at] === 0x09)) this.at++;
  }
}
