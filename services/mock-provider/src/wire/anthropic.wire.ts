/** The Anthropic Messages surface: `POST /v1/messages`, streamed (named SSE events) or not. */
import type { Request } from 'express';
import { z } from 'zod';
import type { MockAnswer, MockToolChoice } from '../conversation.js';
import { invalidRequest, type MockError } from '../mock-error.js';
import { type AnswerIds, argumentPieces, hexId, sseEvent, type StreamScript, type WireFormat, type WireRequest } from './wire-format.js';

const block = z.looseObject({ type: z.string().min(1) });
const textBlocks = z.array(z.looseObject({ type: z.literal('text'), text: z.string() }));

/** What Anthropic requires (model, max_tokens, alternating messages of blocks); other fields are ignored. */
export const messagesRequestSchema = z.looseObject({
  model: z.string().min(1, 'must not be empty').max(256),
  max_tokens: z.number().int().min(1),
  messages: z
    .array(z.looseObject({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(block)]) }))
    .min(1, 'must contain at least one message'),
  system: z.union([z.string(), textBlocks]).optional(),
  tools: z.array(z.looseObject({ name: z.string().min(1), input_schema: z.unknown().optional() })).optional(),
  tool_choice: z.looseObject({ type: z.enum(['auto', 'any', 'tool', 'none']), name: z.string().optional() }).optional(),
  temperature: z.number().min(0).max(1).optional(),
  stream: z.boolean().optional(),
});

type Block = z.infer<typeof block>;

/** Text of a block list: text blocks and the text inside tool results. */
function blocksText(content: string | Block[]): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const b of content) {
    if (b.type === 'text' && typeof b.text === 'string') text += b.text;
    else if (b.type === 'tool_result') {
      const inner = b.content;
      if (typeof inner === 'string') text += inner;
      else if (Array.isArray(inner)) text += blocksText(inner as Block[]);
    }
  }
  return text;
}

function parse(req: Request): WireRequest {
  const parsed = messagesRequestSchema.safeParse(req.body ?? null);
  if (!parsed.success) throw invalidRequest(parsed.error.issues);
  const body = parsed.data;
  const last = body.messages[body.messages.length - 1]!;
  const lastUser = [...body.messages].reverse().find((msg) => msg.role === 'user');
  const choice = body.tool_choice;
  const toolChoice: MockToolChoice =
    !choice || choice.type === 'auto' ? 'auto' : choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : { name: choice.name ?? '' };
  const texts = body.messages.map((msg) => blocksText(msg.content));
  if (body.system !== undefined) texts.unshift(typeof body.system === 'string' ? body.system : blocksText(body.system));
  return {
    prompt: {
      model: body.model,
      texts,
      lastText: lastUser ? blocksText(lastUser.content) : '',
      lastIsToolResult: last.role === 'user' && Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result'),
      tools: (body.tools ?? []).map((tool) => ({ name: tool.name, schema: tool.input_schema })),
      toolChoice,
      maxTokens: body.max_tokens,
      n: 1,
    },
    stream: body.stream === true,
    includeUsage: false,
  };
}

const STOP_REASONS = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' } as const;

function completion(request: WireRequest, answer: MockAnswer, ids: AnswerIds): unknown {
  const content = answer.toolCalls.length
    ? answer.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: call.args }))
    : [{ type: 'text', text: answer.text }];
  return {
    id: ids.id,
    type: 'message',
    role: 'assistant',
    model: request.prompt.model,
    content,
    stop_reason: STOP_REASONS[answer.finish],
    stop_sequence: null,
    usage: { input_tokens: answer.promptTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: answer.completionTokens },
  };
}

function stream(request: WireRequest, answer: MockAnswer, ids: AnswerIds): StreamScript {
  const call = answer.toolCalls[0];
  let head = sseEvent('message_start', {
    type: 'message_start',
    message: {
      id: ids.id,
      type: 'message',
      role: 'assistant',
      model: request.prompt.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: answer.promptTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  });
  let pieces: string[];
  if (call) {
    head += sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
    pieces = argumentPieces(JSON.stringify(call.args)).map((piece) =>
      sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: piece } }),
    );
  } else {
    head += sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    pieces = answer.pieces.map((piece) => sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }));
  }
  head += sseEvent('ping', { type: 'ping' });
  const tail =
    sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }) +
    sseEvent('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: STOP_REASONS[answer.finish], stop_sequence: null },
      usage: { output_tokens: answer.completionTokens },
    }) +
    sseEvent('message_stop', { type: 'message_stop' });
  return { head, pieces, tail };
}

const TYPES: Record<MockError['kind'], string> = {
  invalid_request: 'invalid_request_error',
  not_found: 'not_found_error',
  rate_limit: 'rate_limit_error',
  server_error: 'api_error',
  overloaded: 'overloaded_error',
  unavailable: 'api_error',
};

function errorBody(error: MockError) {
  return { type: 'error', error: { type: TYPES[error.kind], message: error.message } };
}

export const anthropicWire: WireFormat = {
  api: 'anthropic',
  parse,
  newIds: (now) => ({ id: `msg_${hexId().slice(0, 24)}`, created: Math.floor(now / 1000) }),
  newToolCallId: () => `toolu_${hexId().slice(0, 24)}`,
  completion,
  stream,
  // Anthropic answers "overloaded" with its own 529.
  errorStatus: (error) => (error.kind === 'overloaded' ? 529 : error.status),
  errorBody,
  streamError: (error) => sseEvent('error', errorBody(error)),
};
