/**
 * The OpenAI side of a translated answer, built the same way whatever the provider spoke: the
 * assistant message of a whole answer, the chunks of a streamed one, and token counts read leniently.
 */
import type { ChatCompletionChunk, ChatCompletionMessage, ChunkDelta, CompletionUsage, FinishReason, StreamContext, ToolCall } from './types.js';

/** A provider's token count, or 0 when it is missing or not a finite number. */
export const tokenCount = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/** The assistant message of a whole answer: `content` null when no text came, `tool_calls` only when some were made. */
export function assistantMessage(text: string | null, toolCalls: ToolCall[]): ChatCompletionMessage {
  return { role: 'assistant', content: text, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) };
}

/** One streamed chunk of one choice; it carries `usage: null` when the client asked for usage, as OpenAI's do. */
export function choiceChunk(ctx: StreamContext, index: number, delta: ChunkDelta, finishReason: FinishReason | null): ChatCompletionChunk {
  const chunk: ChatCompletionChunk = {
    id: ctx.id,
    object: 'chat.completion.chunk',
    created: ctx.created,
    model: ctx.model,
    choices: [{ index, delta, logprobs: null, finish_reason: finishReason }],
  };
  if (ctx.includeUsage) chunk.usage = null;
  return chunk;
}

/** The last chunk of a stream whose client asked for usage: no choices, only the counts. */
export function usageChunk(ctx: StreamContext, usage: CompletionUsage): ChatCompletionChunk {
  return { id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, choices: [], usage };
}
