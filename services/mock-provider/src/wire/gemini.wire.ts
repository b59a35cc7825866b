/**
 * The Gemini surface: `POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent` (SSE with `?alt=sse`, else one JSON array). Google frames SSE events
 * with CRLF and sends no end marker: the last event carries finishReason and the full usage.
 */
import type { Request } from 'express';
import { z } from 'zod';
import type { MockAnswer, MockToolChoice } from '../conversation.js';
import { invalidRequest, MockError } from '../mock-error.js';
import { type AnswerIds, hexId, type StreamScript, type WireFormat, type WireRequest } from './wire-format.js';

const part = z.looseObject({
  text: z.string().optional(),
  functionCall: z.looseObject({ name: z.string() }).optional(),
  functionResponse: z.looseObject({ name: z.string(), response: z.unknown().optional() }).optional(),
});

export const generateContentRequestSchema = z.looseObject({
  contents: z.array(z.looseObject({ role: z.enum(['user', 'model', 'function']).optional(), parts: z.array(part).min(1) })).min(1, 'must contain at least one content'),
  systemInstruction: z.looseObject({ parts: z.array(part) }).optional(),
  tools: z
    .array(
      z.looseObject({
        functionDeclarations: z
          .array(z.looseObject({ name: z.string().min(1), parameters: z.unknown().optional(), parametersJsonSchema: z.unknown().optional() }))
          .optional(),
      }),
    )
    .optional(),
  toolConfig: z
    .looseObject({
      functionCallingConfig: z
        .looseObject({ mode: z.enum(['MODE_UNSPECIFIED', 'AUTO', 'ANY', 'NONE', 'VALIDATED']).optional(), allowedFunctionNames: z.array(z.string()).optional() })
        .optional(),
    })
    .optional(),
  generationConfig: z
    .looseObject({ maxOutputTokens: z.number().int().min(1).optional(), candidateCount: z.number().int().min(1).max(8).optional() })
    .optional(),
});

type Part = z.infer<typeof part>;
const partsText = (parts: readonly Part[]): string => parts.map((p) => p.text ?? (p.functionResponse ? JSON.stringify(p.functionResponse.response ?? {}) : '')).join('');

/** The model and method of `/v1beta/models/{model}:{method}`, from the path after `models/`. */
export function modelAndMethod(path: string): { model: string; method: string } | null {
  const colon = path.lastIndexOf(':');
  if (colon <= 0) return null;
  return { model: path.slice(0, colon), method: path.slice(colon + 1) };
}

function parse(req: Request): WireRequest {
  const target = (req as Request & { geminiTarget?: { model: string; method: string } }).geminiTarget;
  if (!target) throw new MockError(404, 'not_found', 'unknown_url', 'Unknown Gemini method.');
  const parsed = generateContentRequestSchema.safeParse(req.body ?? null);
  if (!parsed.success) throw invalidRequest(parsed.error.issues);
  const body = parsed.data;
  const last = body.contents[body.contents.length - 1]!;
  const lastUser = [...body.contents].reverse().find((c) => c.role !== 'model');
  const config = body.toolConfig?.functionCallingConfig;
  const toolChoice: MockToolChoice =
    config?.mode === 'NONE' ? 'none' : config?.mode === 'ANY' ? (config.allowedFunctionNames?.length ? { name: config.allowedFunctionNames[0]! } : 'required') : 'auto';
  const texts = body.contents.map((c) => partsText(c.parts));
  if (body.systemInstruction) texts.unshift(partsText(body.systemInstruction.parts));
  return {
    prompt: {
      model: target.model,
      texts,
      lastText: lastUser ? partsText(lastUser.parts) : '',
      lastIsToolResult: last.parts.some((p) => p.functionResponse !== undefined),
      tools: (body.tools ?? []).flatMap((tool) => tool.functionDeclarations ?? []).map((fn) => ({ name: fn.name, schema: fn.parametersJsonSchema ?? fn.parameters })),
      toolChoice,
      maxTokens: body.generationConfig?.maxOutputTokens,
      n: body.generationConfig?.candidateCount ?? 1,
    },
    stream: target.method === 'streamGenerateContent' && req.query.alt === 'sse',
    includeUsage: false,
    jsonArray: target.method === 'streamGenerateContent' && req.query.alt !== 'sse',
  };
}

const FINISH = { stop: 'STOP', length: 'MAX_TOKENS', tool_calls: 'STOP' } as const;

const usageMetadata = (answer: MockAnswer, n: number, final: boolean) =>
  final
    ? { promptTokenCount: answer.promptTokens, candidatesTokenCount: answer.completionTokens * n, totalTokenCount: answer.promptTokens + answer.completionTokens * n }
    : { promptTokenCount: answer.promptTokens, totalTokenCount: answer.promptTokens };

function response(request: WireRequest, answer: MockAnswer, ids: AnswerIds, parts: unknown[], final: boolean) {
  const { n, model } = request.prompt;
  return {
    candidates: Array.from({ length: n }, (_, index) => ({
      content: { parts, role: 'model' },
      ...(final ? { finishReason: FINISH[answer.finish] } : {}),
      index,
    })),
    usageMetadata: usageMetadata(answer, n, final),
    modelVersion: model,
    responseId: ids.id,
  };
}

// Gemini's API leaves functionCall.id unset; clients name calls by function name.
const callParts = (answer: MockAnswer) => answer.toolCalls.map((call) => ({ functionCall: { name: call.name, args: call.args } }));

function completion(request: WireRequest, answer: MockAnswer, ids: AnswerIds): unknown {
  const parts = answer.toolCalls.length ? callParts(answer) : [{ text: answer.text }];
  return response(request, answer, ids, parts, true);
}

const event = (data: unknown): string => `data: ${JSON.stringify(data)}\r\n\r\n`;

function stream(request: WireRequest, answer: MockAnswer, ids: AnswerIds): StreamScript {
  if (answer.toolCalls.length || answer.pieces.length === 0) {
    const parts = answer.toolCalls.length ? callParts(answer) : [{ text: '' }];
    return { head: '', pieces: [event(response(request, answer, ids, parts, true))], tail: '' };
  }
  const last = answer.pieces.length - 1;
  const pieces = answer.pieces.map((piece, i) => event(response(request, answer, ids, [{ text: piece }], i === last)));
  return { head: '', pieces, tail: '' };
}

const STATUSES: Record<MockError['kind'], string> = {
  invalid_request: 'INVALID_ARGUMENT',
  not_found: 'NOT_FOUND',
  rate_limit: 'RESOURCE_EXHAUSTED',
  server_error: 'INTERNAL',
  overloaded: 'UNAVAILABLE',
  unavailable: 'UNAVAILABLE',
};

function errorBody(error: MockError) {
  const details = error.retryAfterS === null ? [] : [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${error.retryAfterS}s` }];
  return { error: { code: error.status, message: error.message, status: STATUSES[error.kind], ...(details.length ? { details } : {}) } };
}

export const geminiWire: WireFormat = {
  api: 'gemini',
  parse,
  newIds: (now) => ({ id: hexId().slice(0, 22), created: Math.floor(now / 1000) }),
  newToolCallId: () => '',
  completion,
  stream,
  errorStatus: (error) => error.status,
  errorBody,
  streamError: (error) => event(errorBody(error)),
};
