/** What the adapter tests share: fixtures, running a stream through a translator, folding chunks, catching a refusal. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatCompletionChunk, ProviderAdapter, StreamContext, StreamTranslator, ToolCall } from '../src/index.js';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export const fixtureText = (name: string): string => readFileSync(resolve(FIXTURES, name), 'utf8');
export const fixtureJson = (name: string): unknown => JSON.parse(fixtureText(name)) as unknown;

export const CTX = { model: 'router-model', id: 'chatcmpl-gw1', created: 1_760_000_000 } as const;

/** Feeds `text` cut at `cuts` (character offsets, any order) and answers every chunk and the translator. */
export function translate(
  adapter: ProviderAdapter,
  text: string,
  options: { includeUsage?: boolean; cuts?: number[] } = {},
): { chunks: ChatCompletionChunk[]; translator: StreamTranslator } {
  const ctx: StreamContext = { ...CTX, includeUsage: options.includeUsage ?? false };
  const translator = adapter.createStreamTranslator(ctx);
  const cuts = [...new Set((options.cuts ?? []).map((cut) => Math.max(0, Math.min(text.length, cut))))].sort((a, b) => a - b);
  const chunks: ChatCompletionChunk[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    chunks.push(...translator.push(text.slice(from, cut)));
    from = cut;
  }
  chunks.push(...translator.end());
  return { chunks, translator };
}

export interface Folded {
  role: string | undefined;
  content: string | null;
  toolCalls: ToolCall[];
  finishReason: string | null;
}

/**
 * Folds chunks into one message per choice the way OpenAI's SDKs do (content appended, tool calls
 * by index: id/name from their first piece, arguments appended), checking the rules SDKs rely on.
 */
export function fold(chunks: readonly ChatCompletionChunk[]): Map<number, Folded> {
  const choices = new Map<number, Folded>();
  for (const chunk of chunks) {
    if (chunk.object !== 'chat.completion.chunk') throw new Error(`bad object ${chunk.object}`);
    for (const choice of chunk.choices) {
      let folded = choices.get(choice.index);
      if (!folded) choices.set(choice.index, (folded = { role: undefined, content: null, toolCalls: [], finishReason: null }));
      if (folded.finishReason) throw new Error(`choice ${choice.index} got a chunk after its finish_reason`);
      const { delta } = choice;
      if (delta.role) folded.role = delta.role;
      if (typeof delta.content === 'string') folded.content = (folded.content ?? '') + delta.content;
      for (const call of delta.tool_calls ?? []) {
        const existing = folded.toolCalls[call.index];
        if (!existing) {
          if (!call.id || !call.function?.name) throw new Error('a tool call must start with its id and name');
          folded.toolCalls[call.index] = { id: call.id, type: 'function', function: { name: call.function.name, arguments: call.function.arguments ?? '' } };
        } else {
          if (call.id && call.id !== existing.id) throw new Error('a tool call changed its id');
          existing.function.arguments += call.function?.arguments ?? '';
        }
      }
      if (choice.finish_reason) folded.finishReason = choice.finish_reason;
    }
  }
  return choices;
}

/** What `build` throws, or undefined when it returns. */
export function thrownBy(build: () => unknown): unknown {
  try {
    build();
  } catch (error) {
    return error;
  }
  return undefined;
}
