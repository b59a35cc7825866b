/**
 * What the mock answers, whatever the wire format: every format's request is read into a
 * `MockPrompt`, the answer is decided here once, and each format renders it.
 */
import { randomUUID } from 'node:crypto';
import { countPromptTokens, prefixWithinTokens } from '@model-router/domain';

export interface MockTool {
  name: string;
  /** JSON Schema of the arguments (OpenAI `parameters`, Anthropic `input_schema`, Gemini `parameters[JsonSchema]`). */
  schema: unknown;
}

export type MockToolChoice = 'auto' | 'none' | 'required' | { name: string };

export interface MockPrompt {
  model: string;
  /** The text of every message (system included), one entry per message: what prompt tokens count. */
  texts: string[];
  /** The text of the last message, when it is the user's (or a tool result): what the reply echoes. */
  lastText: string;
  /** The last message is a tool result: answer in words, not with another call. */
  lastIsToolResult: boolean;
  tools: MockTool[];
  toolChoice: MockToolChoice;
  maxTokens: number | undefined;
  /** Choices asked for (OpenAI `n`, Gemini `candidateCount`). */
  n: number;
}

export interface MockToolCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}

export interface MockAnswer {
  /** The reply's text, and the same text in the pieces a stream sends (one word each). */
  text: string;
  pieces: string[];
  toolCalls: MockToolCall[];
  finish: 'stop' | 'length' | 'tool_calls';
  promptTokens: number;
  /** Per choice. */
  completionTokens: number;
}

/** Answers without a token limit stop after at most this many tokens. */
export const DEFAULT_REPLY_TOKENS = 256;
const ECHO_WORDS = 64;

/**
 * Token counts are the mock's main cost (tens of microseconds per string), and a bench sends the
 * same prompt over and over: counts of short strings are remembered. Bounded: cleared when full.
 */
const CACHE_LIMIT = 10_000;
const CACHEABLE_LENGTH = 4_096;
const tokenCounts = new Map<string, number>();
function tokens(text: string): number {
  if (text.length > CACHEABLE_LENGTH) return countPromptTokens(text);
  let count = tokenCounts.get(text);
  if (count === undefined) {
    if (tokenCounts.size >= CACHE_LIMIT) tokenCounts.clear();
    count = countPromptTokens(text);
    tokenCounts.set(text, count);
  }
  return count;
}

/**
 * Prompt tokens: the o200k_base count of every message's text, summed — the same count the router
 * uses for a prompt, so a single-message request reports exactly the router's estimate. (Providers
 * also add a few tokens of chat formatting per message; the mock leaves them out on purpose.)
 */
export function countTextsTokens(texts: readonly string[]): number {
  return texts.reduce((sum, text) => sum + tokens(text), 0);
}

/**
 * The reply: a fixed sentence naming the model, echoing the start of the last message, cut to
 * `limit` tokens at a word boundary. Deterministic, so tests can compare it.
 */
export function mockReply(model: string, lastText: string, limit: number): { content: string; tokens: number; truncated: boolean } {
  const echo = lastText.split(/\s+/).filter(Boolean).slice(0, ECHO_WORDS).join(' ');
  const full = echo ? `This is a mock response from ${model}. You said: "${echo}"` : `This is a mock response from ${model}.`;
  const fullTokens = tokens(full);
  if (fullTokens <= limit) return { content: full, tokens: fullTokens, truncated: false };
  // One pass over the text with a token budget (recounting each shorter candidate was quadratic
  // in the reply's length): the longest prefix of whole pre-tokens that fits, then back to the
  // last space so a word is not cut — unless that is the first word, which is cut where it must.
  const cut = prefixWithinTokens(full, limit);
  const fitting = full.slice(0, cut.end);
  const space = fitting.lastIndexOf(' ');
  if (full[cut.end] !== ' ' && space > 0) {
    const atWord = fitting.slice(0, space);
    const count = countPromptTokens(atWord);
    // A shorter prefix almost always counts fewer tokens; the exact cut stands in when it does not.
    if (count <= limit) return { content: atWord, tokens: count, truncated: true };
  }
  return { content: fitting, tokens: cut.tokens, truncated: true };
}

/** A small value that fits a JSON Schema (required properties only), so SDK-side validation passes. */
export function exampleValue(schema: unknown, depth = 0): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 8) return {};
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return 'mock';
    case 'integer':
    case 'number':
      return typeof s.minimum === 'number' ? s.minimum : 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'null':
      return null;
    default: {
      const properties = (typeof s.properties === 'object' && s.properties) || {};
      const required = Array.isArray(s.required) ? (s.required as string[]) : [];
      return Object.fromEntries(required.map((key) => [key, exampleValue((properties as Record<string, unknown>)[key], depth + 1)]));
    }
  }
}

/** Splits a text into stream pieces of one word each (the space travels with the word before it). */
export function streamPieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/**
 * With tools offered (and not refused) after a user turn, the mock calls one: the one the client
 * named, else the first, with arguments that fit its schema. After a tool result it answers in words.
 */
export function answer(prompt: MockPrompt, toolCallId: () => string = () => randomUUID().replaceAll('-', '').slice(0, 24)): MockAnswer {
  const promptTokens = countTextsTokens(prompt.texts);
  const wantsCall = prompt.tools.length > 0 && prompt.toolChoice !== 'none' && !prompt.lastIsToolResult;
  if (wantsCall) {
    const named = typeof prompt.toolChoice === 'object' ? prompt.toolChoice.name : undefined;
    const tool = prompt.tools.find((t) => t.name === named) ?? prompt.tools[0]!;
    const args = exampleValue(tool.schema) as Record<string, unknown>;
    return {
      text: '',
      pieces: [],
      toolCalls: [{ id: toolCallId(), name: tool.name, args }],
      finish: 'tool_calls',
      promptTokens,
      completionTokens: tokens(tool.name) + tokens(JSON.stringify(args)),
    };
  }
  const limit = prompt.maxTokens ?? DEFAULT_REPLY_TOKENS;
  const key = prompt.lastText.length <= CACHEABLE_LENGTH ? `${prompt.model}\u0000${limit}\u0000${prompt.lastText}` : null;
  let reply = key === null ? undefined : replies.get(key);
  if (!reply) {
    const made = mockReply(prompt.model, prompt.lastText, limit);
    reply = { text: made.content, pieces: streamPieces(made.content), finish: made.truncated ? 'length' : 'stop', completionTokens: made.tokens };
    if (key !== null) {
      if (replies.size >= CACHE_LIMIT) replies.clear();
      replies.set(key, reply);
    }
  }
  return { ...reply, toolCalls: [], promptTokens };
}

/** Replies by model, limit and echoed text: the same request gets the same (read-only) reply. */
const replies = new Map<string, Pick<MockAnswer, 'text' | 'pieces' | 'finish' | 'completionTokens'>>();
