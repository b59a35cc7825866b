/** The OpenAI wire format the mock speaks: request schema, response objects and error bodies. */
import { randomUUID } from 'node:crypto';
import { countPromptTokens, prefixWithinTokens } from '@model-router/domain';
import type { ErrorRequestHandler } from 'express';
import { type ZodError, z } from 'zod';

export type OpenAIErrorType = 'invalid_request_error' | 'not_found_error' | 'server_error';

/** An error answered in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`. */
export class OpenAIError extends Error {
  constructor(
    readonly status: number,
    readonly type: OpenAIErrorType,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  toBody(): { error: { message: string; type: OpenAIErrorType; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidRequest(error: ZodError, what = 'request body'): OpenAIError {
  const issue = error.issues[0];
  const param = issue && issue.path.length ? issue.path.join('.') : null;
  const message = issue ? `Invalid ${what}: ${param ?? '(root)'}: ${issue.message}` : `Invalid ${what}`;
  return new OpenAIError(400, 'invalid_request_error', 'invalid_value', message, param);
}

export const modelNotFound = (id: string): OpenAIError =>
  new OpenAIError(404, 'invalid_request_error', 'model_not_found', `The model \`${id}\` does not exist (mock provider).`, 'model');

export const modelDown = (id: string): OpenAIError =>
  new OpenAIError(503, 'server_error', 'model_unavailable', `The model \`${id}\` is down (mock provider "down" switch).`);

export const injectedFailure = (id: string): OpenAIError =>
  new OpenAIError(
    500,
    'server_error',
    'injected_failure',
    `The server had an error while processing your request to \`${id}\` (injected by the mock provider's error_rate).`,
  );

/** Body-parser failures carry a `type`: answer each in OpenAI's shape, anything else as a 500. */
export function openAIErrorHandler(onUnexpected: (error: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    let error: OpenAIError;
    if (err instanceof OpenAIError) error = err;
    else {
      const type = (err as { type?: string }).type;
      if (type === 'entity.parse.failed') {
        error = new OpenAIError(400, 'invalid_request_error', 'invalid_json', 'The request body is not valid JSON.');
      } else if (type === 'entity.too.large') {
        error = new OpenAIError(413, 'invalid_request_error', 'payload_too_large', 'The request body is too large.');
      } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
        error = new OpenAIError(415, 'invalid_request_error', 'unsupported_media_type', (err as Error).message);
      } else {
        onUnexpected(err);
        error = new OpenAIError(500, 'server_error', 'internal_error', 'The mock provider had an internal error.');
      }
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(error.status).json(error.toBody());
  };
}

// ---------------------------------------------------------------------------------------------
// Requests

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
/** Non-text parts (images, audio, files) are accepted and do not count as prompt text. */
const otherPart = z.looseObject({ type: z.string().min(1) });
const content = z.union([z.string(), z.array(z.union([textPart, otherPart])), z.null()]);

const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: content.optional(),
  name: z.string().optional(),
});

const tokenLimit = z.number().int().min(1).max(2_000_000);

/**
 * POST /v1/chat/completions. Like OpenAI, fields the mock does not use (temperature, tools, …)
 * are accepted and ignored; the ones it does use are validated.
 */
export const chatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1, 'must not be empty').max(256),
  messages: z.array(message).min(1, 'must contain at least one message'),
  max_tokens: tokenLimit.nullish(),
  max_completion_tokens: tokenLimit.nullish(),
  n: z.number().int().min(1).max(8).nullish(),
  stream: z.boolean().nullish(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
type Message = ChatCompletionRequest['messages'][number];

/** The text of a message: its string content, or its text parts joined. */
export function messageText(msg: Message): string {
  const value = msg.content;
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return '';
  return value
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/**
 * Prompt tokens: the o200k_base count of every message's text, summed — the same count the router
 * uses for a prompt, so a single-message request reports exactly the router's estimate. (OpenAI
 * also adds a few tokens of chat formatting per message; the mock leaves them out on purpose.)
 */
export function countMessagesTokens(messages: readonly Message[]): number {
  return messages.reduce((sum, msg) => sum + countPromptTokens(messageText(msg)), 0);
}

// ---------------------------------------------------------------------------------------------
// Responses

/** Every model's `created` (Unix seconds): fixed, so answers are stable across restarts. */
export const MODEL_CREATED = 1_700_000_000;
export const OWNED_BY = 'mock-provider';

export function modelObject(id: string) {
  return { id, object: 'model' as const, created: MODEL_CREATED, owned_by: OWNED_BY };
}

/** Answers without `max_tokens` stop after at most this many tokens. */
const DEFAULT_REPLY_TOKENS = 256;
const ECHO_WORDS = 64;

/**
 * The reply: a fixed sentence naming the model, echoing the start of the last user message, cut
 * to `limit` tokens at a word boundary. Deterministic, so tests can compare it.
 */
export function mockReply(model: string, messages: readonly Message[], limit: number): { content: string; tokens: number; truncated: boolean } {
  const lastUser = [...messages].reverse().find((msg) => msg.role === 'user');
  const echo = lastUser ? messageText(lastUser).split(/\s+/).filter(Boolean).slice(0, ECHO_WORDS).join(' ') : '';
  const full = echo
    ? `This is a mock response from ${model}. You said: "${echo}"`
    : `This is a mock response from ${model}.`;
  const fullTokens = countPromptTokens(full);
  if (fullTokens <= limit) return { content: full, tokens: fullTokens, truncated: false };
  // One pass over the text with a token budget (recounting each shorter candidate was quadratic
  // in the reply's length): the longest prefix of whole pre-tokens that fits, then back to the
  // last space so a word is not cut — unless that is the first word, which is cut where it must.
  const cut = prefixWithinTokens(full, limit);
  const fitting = full.slice(0, cut.end);
  const space = fitting.lastIndexOf(' ');
  if (full[cut.end] !== ' ' && space > 0) {
    const atWord = fitting.slice(0, space);
    const tokens = countPromptTokens(atWord);
    // A shorter prefix almost always counts fewer tokens; the exact cut stands in when it does not.
    if (tokens <= limit) return { content: atWord, tokens, truncated: true };
  }
  return { content: fitting, tokens: cut.tokens, truncated: true };
}

export function chatCompletion(request: ChatCompletionRequest, now: () => number) {
  const limit = request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_REPLY_TOKENS;
  const reply = mockReply(request.model, request.messages, limit);
  const n = request.n ?? 1;
  const promptTokens = countMessagesTokens(request.messages);
  const completionTokens = reply.tokens * n;
  return {
    id: `chatcmpl-${randomUUID().replaceAll('-', '')}`,
    object: 'chat.completion' as const,
    created: Math.floor(now() / 1000),
    model: request.model,
    choices: Array.from({ length: n }, (_, index) => ({
      index,
      message: { role: 'assistant' as const, content: reply.content, refusal: null },
      logprobs: null,
      finish_reason: reply.truncated ? ('length' as const) : ('stop' as const),
    })),
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}
