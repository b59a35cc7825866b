import { countPromptTokens } from '../src/index.js';

// Expected counts are the o200k_base BPE counts (gpt-tokenizer 3.4.0, the library tiktoken mirrors).
describe('countPromptTokens', () => {
  it('counts the empty prompt as 0 tokens', () => {
    expect(countPromptTokens('')).toBe(0);
  });

  it.each([
    ['Explain quantum computing in simple terms', 6],
    ['The quick brown fox jumps over the lazy dog.', 10],
    ['Hello, world!', 4],
    ['日本語のテキストです。', 8],
  ])('counts %j as %i o200k_base tokens', (prompt, expected) => {
    expect(countPromptTokens(prompt)).toBe(expected);
  });

  it('is a real tokenizer, not characters ÷ 4', () => {
    const english = 'Explain quantum computing in simple terms'; // 41 characters
    expect(countPromptTokens(english)).not.toBe(Math.round(english.length / 4)); // 10
    expect(countPromptTokens(english)).not.toBe(Math.ceil(english.length / 4)); // 11
    const japanese = '日本語のテキストです。'; // 11 characters, 8 tokens
    expect(countPromptTokens(japanese)).toBeGreaterThan(Math.ceil(japanese.length / 4));
  });

  it('merges a repeated word into one token per repetition', () => {
    // " hello" is a single o200k token, so 100 of them are 100 tokens (400 chars ÷ 4 would say 150).
    expect(countPromptTokens(' hello'.repeat(100))).toBe(100);
  });

  it('counts special-token text in a prompt as ordinary text instead of throwing', () => {
    // "<|endoftext|>" is a special token of the encoding; in a user prompt it is just characters.
    expect(() => countPromptTokens('hi <|endoftext|> there')).not.toThrow();
    expect(countPromptTokens('hi <|endoftext|> there')).toBe(9);
    expect(countPromptTokens('<|im_start|>user')).toBeGreaterThan(1);
  });
});
