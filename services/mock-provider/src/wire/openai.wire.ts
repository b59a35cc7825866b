/** The OpenAI Chat Completions surface: `POST /v1/chat/completions`, streamed (SSE) or not. */
import type { Request } from 'express';
import { z } from 'zod';
import type { MockAnswer, MockToolChoice } from '../conversation.js';
import { invalidRequest, type MockError } from '../mock-error.js';
import { type AnswerIds, argumentPieces, hexId, sseData, type StreamScript, type WireFormat, type WireRequest } from './wire-format.js';

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
 * Like OpenAI, fields the mock does not use (temperature, …) are accepted and ignored; the ones it
 * does use are validated.
 */
export const chatCompletionRequestSchema = z.looseObject({
  model: z.string().min(1, 'must not be empty').max(256),
  messages: z.array(message).min(1, 'must contain at least one message'),
  max_tokens: tokenLimit.nullish(),
  max_completion_tokens: tokenLimit.nullish(),
  n: z.number().int().min(1).max(8).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  tools: z
    .array(z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1), parameters: z.unknown().optional() }) }))
    .optional(),
  tool_choice: z
    .union([z.enum(['none', 'auto', 'required']), z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1) }) })])
    .optional(),
});
type Message = z.infer<typeof message>;

function messageText(msg: Message): string {
  const value = msg.content;
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return '';
  return value.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

function parse(req: Request): WireRequest {
  const parsed = chatCompletionRequestSchema.safeParse(req.body ?? null);
  if (!parsed.success) throw invalidRequest(parsed.error.issues);
  const body = parsed.data;
  const last = body.messages[body.messages.length - 1]!;
  const lastText = [...body.messages].reverse().find((msg) => msg.role === 'user' || msg.role === 'tool');
  const choice = body.tool_choice;
  const toolChoice: MockToolChoice = choice === undefined ? 'auto' : typeof choice === 'string' ? choice : { name: choice.function.name };
  return {
    prompt: {
      model: body.model,
      texts: body.messages.map(messageText),
      lastText: lastText ? messageText(lastText) : '',
      lastIsToolResult: last.role === 'tool' || last.role === 'function',
      tools: (body.tools ?? []).map((tool) => ({ name: tool.function.name, schema: tool.function.parameters })),
      toolChoice,
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      n: body.n ?? 1,
    },
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

const usage = (answer: MockAnswer, n: number) => ({
  prompt_tokens: answer.promptTokens,
  completion_tokens: answer.completionTokens * n,
  total_tokens: answer.promptTokens + answer.completionTokens * n,
});

function completion(request: WireRequest, answer: MockAnswer, ids: AnswerIds): unknown {
  const { n, model } = request.prompt;
  const toolCalls = answer.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.args) } }));
  return {
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model,
    choices: Array.from({ length: n }, (_, index) => ({
      index,
      message: { role: 'assistant', content: toolCalls.length ? null : answer.text, refusal: null, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) },
      logprobs: null,
      finish_reason: answer.finish,
    })),
    usage: usage(answer, n),
  };
}

function stream(request: WireRequest, answer: MockAnswer, ids: AnswerIds): StreamScript {
  const { n, model } = request.prompt;
  const base = { id: ids.id, object: 'chat.completion.chunk', created: ids.created, model };
  const extra = request.includeUsage ? { usage: null } : {};
  // One event per choice for each step: every choice says the same.
  const step = (delta: Record<string, unknown>, finish: string | null = null) => {
    let text = '';
    for (let index = 0; index < n; index++) text += sseData({ ...base, choices: [{ index, delta, logprobs: null, finish_reason: finish }], ...extra });
    return text;
  };
  const call = answer.toolCalls[0];
  let head: string;
  let pieces: string[];
  if (call) {
    head = step({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    pieces = argumentPieces(JSON.stringify(call.args)).map((piece) => step({ tool_calls: [{ index: 0, function: { arguments: piece } }] }));
  } else {
    head = step({ role: 'assistant', content: '', refusal: null });
    pieces = answer.pieces.map((piece) => step({ content: piece }));
  }
  let tail = step({}, answer.finish);
  if (request.includeUsage) tail += sseData({ ...base, choices: [], usage: usage(answer, n) });
  tail += 'data: [DONE]\n\n';
  return { head, pieces, tail };
}

const TYPES: Record<MockError['kind'], string> = {
  invalid_request: 'invalid_request_error',
  not_found: 'invalid_request_error',
  rate_limit: 'requests',
  server_error: 'server_error',
  overloaded: 'server_error',
  unavailable: 'server_error',
};

function errorBody(error: MockError) {
  return { error: { message: error.message, type: TYPES[error.kind], param: error.param, code: error.code } };
}

export const openAIWire: WireFormat = {
  api: 'openai',
  parse,
  newIds: (now) => ({ id: `chatcmpl-${hexId()}`, created: Math.floor(now / 1000) }),
  newToolCallId: () => `call_${hexId().slice(0, 24)}`,
  completion,
  stream,
  errorStatus: (error) => error.status,
  errorBody,
  streamError: (error) => sseData(errorBody(error)),
};

/** Every model's `created` (Unix seconds): fixed, so answers are stable across restarts. */
export const MODEL_CREATED = 1_700_000_000;
export const OWNED_BY = 'mock-provider';

export function modelObject(id: string) {
  return { id, object: 'model' as const, created: MODEL_CREATED, owned_by: OWNED_BY };
}
