/**
 * The contract between the gateway and a provider adapter. An adapter is pure translation: it
 * builds the upstream request and reads the upstream answer, and never does I/O or reads a clock
 * (ids and timestamps come in through `ResponseContext`).
 */
import type { ChatCompletionRequest, ToolCall } from './chat-request.schema.js';

export type ProviderApi = 'openai' | 'anthropic' | 'gemini';
export const PROVIDER_APIS: readonly ProviderApi[] = ['openai', 'anthropic', 'gemini'];

/** Where and as what a model is called. */
export interface UpstreamTarget {
  /**
   * The provider's base URL as configured in the registry, e.g. `https://api.openai.com/v1`,
   * `https://api.anthropic.com` (or `.../v1`), `https://generativelanguage.googleapis.com`
   * (or `.../v1beta`). A trailing slash is ignored.
   */
  baseUrl: string;
  /** The provider's name for the model (registry `upstream_model`, default the registry id). */
  upstreamModel: string;
  /** The secret read from the model's `api_key_env`; omitted for keyless local servers. */
  apiKey?: string;
}

export interface UpstreamRequest {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: string | null;
  tool_calls?: ToolCall[];
}

export interface ChatCompletionChoice {
  index: number;
  message: ChatCompletionMessage;
  logprobs: unknown;
  finish_reason: FinishReason;
}

/** OpenAI's `chat.completion` object. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: ChatCompletionChoice[];
  usage?: CompletionUsage;
  system_fingerprint?: string | null;
  service_tier?: string | null;
}

export interface ChunkToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface ChunkDelta {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  tool_calls?: ChunkToolCallDelta[];
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChunkDelta;
  logprobs?: unknown;
  finish_reason: FinishReason | null;
}

/** OpenAI's `chat.completion.chunk` object (one SSE `data:` line of a streamed answer). */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatCompletionChunkChoice[];
  /** With `stream_options.include_usage`: null on every chunk but the last, which has no choices. */
  usage?: CompletionUsage | null;
  system_fingerprint?: string | null;
}

/** What the gateway shows the client as `model`, `id` and `created` (the adapter reads no clock). */
export interface ResponseContext {
  /** The model id the client sees (the registry id), not the provider's name for it. */
  model: string;
  id: string;
  /** Unix seconds. */
  created: number;
}

export interface StreamContext extends ResponseContext {
  /** The client asked for `stream_options.include_usage`: end with a usage chunk. */
  includeUsage: boolean;
}

/** OpenAI's error object (without `param`, which upstream errors rarely carry). */
export interface ProviderError {
  message: string;
  type: string;
  code: string | null;
}

/**
 * Turns a provider's streamed body into OpenAI chunks, incrementally. Push the upstream body as
 * text as it comes (a TextDecoder with `stream: true` keeps multi-byte characters whole; a push may
 * end anywhere, even inside a line); each call answers the chunks that became complete. The caller
 * writes them as `data:` lines and ends a completed stream with `data: [DONE]`.
 */
export interface StreamTranslator {
  push(text: string): ChatCompletionChunk[];
  /** The upstream body ended: flushes what is left (the usage chunk among it, if asked for). */
  end(): ChatCompletionChunk[];
  /** Token counts once the provider sent them (some send them only at the end, some never). */
  readonly usage: CompletionUsage | null;
  /** The finish reason once the provider sent it; null while streaming or if it never did. */
  readonly finishReason: FinishReason | null;
  /** The provider reported an error inside the stream (after the first byte): no more chunks follow. */
  readonly error: ProviderError | null;
  /** The provider's own end-of-stream marker was seen: anything else is a cut stream. */
  readonly completed: boolean;
  /** Generated text and tool-call arguments so far: what to count when the provider sends no usage. */
  readonly outputText: string;
}

export interface ProviderAdapter {
  readonly api: ProviderApi;
  /**
   * An OpenAI Chat Completions request (validated) → the provider's wire request. Throws an
   * `UnsupportedRequestError` for what the provider cannot express (the gateway answers 400).
   */
  buildRequest(req: ChatCompletionRequest, target: UpstreamTarget, opts: { stream: boolean }): UpstreamRequest;
  /** The provider's JSON answer → OpenAI `chat.completion` (with usage when the provider sent it). */
  parseResponse(body: unknown, ctx: ResponseContext): ChatCompletion;
  createStreamTranslator(ctx: StreamContext): StreamTranslator;
  /** A provider's error answer (its HTTP status and parsed body, or the raw text) → OpenAI's error fields. */
  parseError(status: number, body: unknown): ProviderError;
}

/** A request the provider cannot express, e.g. `n` > 1 for Anthropic: a client error, not an upstream one. */
export class UnsupportedRequestError extends Error {
  override name = 'UnsupportedRequestError';
  constructor(
    message: string,
    /** The request field at fault, as OpenAI's `param`. */
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** The provider answered something that is not its documented format (a 502 for the client). */
export class UpstreamFormatError extends Error {
  override name = 'UpstreamFormatError';
}

export type { ChatCompletionRequest, ToolCall };
