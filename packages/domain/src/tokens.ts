import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';

// A prompt is user text: special-token strings in it (e.g. "<|endoftext|>") are counted as the
// ordinary text they are. The library's default disallows them and throws.
const NO_SPECIAL_TOKENS = new Set<string>();

/**
 * Prompt tokens by the o200k_base BPE (the tokenizer of OpenAI's current models). Other vendors'
 * tokenizers differ by a few percent; one well-defined count keeps estimates comparable across
 * models, which is what routing needs.
 */
export function countPromptTokens(prompt: string): number {
  if (prompt.length === 0) return 0;
  return countO200k(prompt, { disallowedSpecial: NO_SPECIAL_TOKENS });
}
