import { describe, expect, it } from '@jest/globals';
import { countPromptTokens, tokenizerWorkTotals } from '@model-router/domain';
import { mockReply } from '../src/conversation.js';

// Work, not time: the cost of cutting a reply to max_tokens is read from the tokenizer's counted
// steps (characters its pre-tokenizer examined), so a slow machine cannot fail this and a
// quadratic cut cannot pass it.

const MODEL = 'gpt-4o';
const user = (content: string) => content;

/** The reply before any cut (a limit nothing reaches). */
const fullReply = (content: string) => mockReply(MODEL, user(content), Number.MAX_SAFE_INTEGER).content;

function examinedDuring(fn: () => void): number {
  const before = tokenizerWorkTotals().codePointsExamined;
  fn();
  return tokenizerWorkTotals().codePointsExamined - before;
}

/** The cut before this change (a recount per word, then per character), as the reference on ordinary text. */
function wordByWord(full: string, limit: number): string {
  let content = '';
  for (const word of full.split(' ')) {
    const next = content ? `${content} ${word}` : word;
    if (countPromptTokens(next) > limit) break;
    content = next;
  }
  return content;
}

/** A small deterministic generator (mulberry32), so a failure names the case that failed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'b', 'ab', 'the', 'x1', '42', '日本', 'ß', '😀', 'don\'t', '!?', '"', '.', 'é', 'ЖЖ', '-', '\u3000'];

describe('mockReply cut to max_tokens', () => {
  it('costs work linear in the reply: long words, any cut point', () => {
    for (const wordLength of [200, 1_000, 5_000]) {
      // 64 echoed words (what the reply echoes at most), each `wordLength` characters.
      const words = Array.from({ length: 64 }, (_, i) => String.fromCharCode(97 + (i % 26)).repeat(wordLength));
      const message = words.join(' ');
      const full = fullReply(message);
      const fullTokens = countPromptTokens(full);
      for (const limit of [10, Math.floor(fullTokens / 2), fullTokens - 1]) {
        let reply: ReturnType<typeof mockReply> | undefined;
        const work = examinedDuring(() => {
          reply = mockReply(MODEL, user(message), limit);
        });
        expect(reply!.truncated).toBe(true);
        expect(reply!.tokens).toBeLessThanOrEqual(limit);
        expect(reply!.tokens).toBe(countPromptTokens(reply!.content));
        // A count of the whole reply, one pass with the budget, a count of the cut: a few passes.
        // A recount per word (64) or per character is tens to thousands of times over this.
        expect(work).toBeLessThanOrEqual(6 * full.length);
        // The bound tells the two apart: a recount per word is over it once the cut is past a few words.
        // (On the smallest words only: the old cut is slow.)
        if (limit > 10 && wordLength === 200) expect(examinedDuring(() => wordByWord(full, limit))).toBeGreaterThan(6 * full.length);
      }
    }
  });

  it('keeps the cut within the limit, at a word boundary, on generated text of every character class', () => {
    const next = random(20261202);
    for (let run = 0; run < 400; run++) {
      const words = Array.from({ length: 1 + Math.floor(next() * 70) }, () =>
        Array.from({ length: 1 + Math.floor(next() * 4) }, () => PIECES[Math.floor(next() * PIECES.length)]!).join(''),
      );
      const message = words.join(next() < 0.8 ? ' ' : '  ');
      const full = fullReply(message);
      const limit = 1 + Math.floor(next() * countPromptTokens(full));
      const reply = mockReply(MODEL, user(message), limit);
      const context = `case ${run}: limit ${limit}, message ${JSON.stringify(message)}`;
      expect({ context, within: reply.tokens <= limit }).toEqual({ context, within: true });
      expect({ context, tokens: reply.tokens }).toEqual({ context, tokens: countPromptTokens(reply.content) });
      expect({ context, prefix: full.startsWith(reply.content) }).toEqual({ context, prefix: true });
      expect(reply.truncated).toBe(reply.content !== full);
      // Cut before a space: no word is cut.
      if (reply.truncated) expect({ context, next: full[reply.content.length] }).toEqual({ context, next: ' ' });
      // At least the first word ("This", one token) for any limit of at least 1.
      expect(reply.content.startsWith('This')).toBe(true);
    }
  });

  it('cuts ordinary text where a recount per word would, at the longest word prefix that fits', () => {
    const next = random(7);
    for (let run = 0; run < 300; run++) {
      const words = Array.from({ length: 1 + Math.floor(next() * 64) }, () =>
        Array.from({ length: 1 + Math.floor(next() * 12) }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(next() * 26)]).join(''),
      );
      const message = words.join(' ');
      const full = fullReply(message);
      const limit = 1 + Math.floor(next() * countPromptTokens(full));
      expect({ run, content: mockReply(MODEL, user(message), limit).content }).toEqual({ run, content: wordByWord(full, limit) });
    }
  });
});
