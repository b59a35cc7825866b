/**
 * Google Gemini API (`models/{model}:generateContent` and `:streamGenerateContent?alt=sse`) behind
 * the OpenAI Chat Completions contract. System messages become `systemInstruction`, assistant turns
 * `model` turns, tool calls `functionCall` parts and tool results `functionResponse` parts.
 */
import {
  type ChatCompletionRequest,
  type ChatMessage,
  contentText,
  requestedMaxTokens,
  stopSequences,
  type UserContentPart,
} from '../chat-request.schema.js';
import { parseDataUrl } from '../data-url.js';
import { assistantMessage, choiceChunk, tokenCount as num, usageChunk } from '../openai-answer.js';
import { errorBody, errorTypeForStatus, genericError, isRecord, stringOr } from '../provider-error.js';
import { parseJson } from '../sse-reader.js';
import { SseStreamTranslator } from '../sse-stream-translator.js';
import {
  type ChatCompletion,
  type ChatCompletionChoice,
  type ChatCompletionChunk,
  type ChunkDelta,
  type CompletionUsage,
  type FinishReason,
  type ProviderAdapter,
  type ProviderError,
  type ResponseContext,
  type ToolCall,
  UnsupportedRequestError,
  type UpstreamRequest,
  type UpstreamTarget,
  UpstreamFormatError,
} from '../types.js';
import { joinUrl, withVersion } from '../upstream-url.js';

type Part = Record<string, unknown>;
interface Content {
  role: 'user' | 'model';
  parts: Part[];
}

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
};

function dataUrl(url: string): { mimeType: string; data: string } | null {
  const inline = parseDataUrl(url);
  return inline && { mimeType: inline.mediaType, data: inline.data };
}

function userPart(part: UserContentPart, param: string): Part {
  switch (part.type) {
    case 'text':
      return { text: part.text };
    case 'image_url': {
      const inline = dataUrl(part.image_url.url);
      if (inline) return { inlineData: inline };
      // fileData needs a MIME type; a URL's extension is the only hint a pure adapter has.
      const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(part.image_url.url)?.[1]?.toLowerCase();
      const mimeType = extension ? IMAGE_TYPES[extension] : undefined;
      if (!mimeType) throw new UnsupportedRequestError('Gemini models take image URLs ending in a known image extension, or base64 data URLs.', param);
      return { fileData: { mimeType, fileUri: part.image_url.url } };
    }
    case 'input_audio':
      return { inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } };
    case 'file': {
      const inline = part.file.file_data ? dataUrl(part.file.file_data) : null;
      if (!inline) throw new UnsupportedRequestError('Gemini models take files only as base64 data URLs in "file_data".', param);
      return { inlineData: inline };
    }
  }
}

/** Gemini's functionResponse.response must be an object: a JSON object result goes as is, anything else wrapped. */
function toolResponse(text: string): Record<string, unknown> {
  const parsed = parseJson(text);
  return isRecord(parsed) ? parsed : { result: text };
}

function convertMessages(messages: readonly ChatMessage[]): { system: string[]; contents: Content[] } {
  const system: string[] = [];
  const contents: Content[] = [];
  // functionResponse names the function; OpenAI's tool message names only the call id.
  const callNames = new Map<string, string>();
  const add = (role: Content['role'], parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((msg, i) => {
    const param = `messages.${i}`;
    switch (msg.role) {
      case 'system':
      case 'developer':
        system.push(contentText(msg.content));
        return;
      case 'user':
        add(
          'user',
          // Gemini refuses empty text parts ("empty text parameter"): an empty user text adds nothing.
          (typeof msg.content === 'string' ? [{ text: msg.content }] : msg.content.map((part, j) => userPart(part, `${param}.content.${j}`))).filter(
            (part) => part.text !== '',
          ),
        );
        return;
      case 'assistant': {
        const parts: Part[] = [];
        const text = contentText(msg.content ?? null);
        if (text) parts.push({ text });
        msg.tool_calls?.forEach((call, j) => {
          const args = call.function.arguments.trim() === '' ? {} : parseJson(call.function.arguments);
          if (!isRecord(args)) throw new UnsupportedRequestError('Tool call arguments must be a JSON object.', `${param}.tool_calls.${j}.function.arguments`);
          callNames.set(call.id, call.function.name);
          parts.push({ functionCall: { id: call.id, name: call.function.name, args } });
        });
        if (msg.function_call) throw new UnsupportedRequestError('"function_call" is deprecated: send "tool_calls".', `${param}.function_call`);
        add('model', parts);
        return;
      }
      case 'tool': {
        const name = callNames.get(msg.tool_call_id);
        if (!name) throw new UnsupportedRequestError(`No earlier assistant tool call has the id "${msg.tool_call_id}".`, `${param}.tool_call_id`);
        add('user', [{ functionResponse: { id: msg.tool_call_id, name, response: toolResponse(contentText(msg.content)) } }]);
        return;
      }
      case 'function':
        throw new UnsupportedRequestError('"function" messages are deprecated: send "tool" messages.', param);
    }
  });
  return { system, contents };
}

/** A base URL naming a version keeps it (Google serves v1 and v1beta); one without gets v1beta. */
const GEMINI_VERSIONS = ['v1beta', 'v1', 'v1alpha'];

/** `gemini-2.5-flash` and `models/gemini-2.5-flash` name the same model. */
function modelPath(model: string): string {
  return `models/${encodeURIComponent(model.replace(/^models\//, ''))}`;
}

function buildRequest(req: ChatCompletionRequest, target: UpstreamTarget, opts: { stream: boolean }): UpstreamRequest {
  const { system, contents } = convertMessages(req.messages);
  if (contents.length === 0) throw new UnsupportedRequestError('Gemini models need at least one user or assistant message.', 'messages');
  const body: Record<string, unknown> = { contents };
  if (system.length) body.systemInstruction = { parts: [{ text: system.join('\n\n') }] };

  if (req.tools?.length) {
    body.tools = [
      {
        functionDeclarations: req.tools.map((tool) => ({
          name: tool.function.name,
          ...(tool.function.description ? { description: tool.function.description } : {}),
          // JSON Schema as OpenAI clients write it; `parameters` would take only Gemini's OpenAPI subset.
          ...(tool.function.parameters ? { parametersJsonSchema: tool.function.parameters } : {}),
        })),
      },
    ];
    const choice = req.tool_choice;
    if (choice !== undefined) {
      body.toolConfig = {
        functionCallingConfig:
          typeof choice === 'object'
            ? { mode: 'ANY', allowedFunctionNames: [choice.function.name] }
            : { mode: choice === 'required' ? 'ANY' : choice === 'none' ? 'NONE' : 'AUTO' },
      };
    }
  }

  const config: Record<string, unknown> = {};
  if (req.temperature != null) config.temperature = req.temperature;
  if (req.top_p != null) config.topP = req.top_p;
  const maxTokens = requestedMaxTokens(req);
  if (maxTokens !== undefined) config.maxOutputTokens = maxTokens;
  const stop = stopSequences(req);
  if (stop?.length) config.stopSequences = stop;
  if (req.n != null && req.n > 1) config.candidateCount = req.n;
  if (req.seed != null) config.seed = req.seed;
  if (req.presence_penalty != null) config.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty != null) config.frequencyPenalty = req.frequency_penalty;
  if (req.response_format?.type === 'json_object') config.responseMimeType = 'application/json';
  if (req.response_format?.type === 'json_schema') {
    config.responseMimeType = 'application/json';
    if (req.response_format.json_schema.schema) config.responseJsonSchema = req.response_format.json_schema.schema;
  }
  if (Object.keys(config).length) body.generationConfig = config;

  const method = opts.stream ? ':streamGenerateContent?alt=sse' : ':generateContent';
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.stream) headers.accept = 'text/event-stream';
  if (target.apiKey) headers['x-goog-api-key'] = target.apiKey;
  return {
    url: joinUrl(withVersion(target.baseUrl, 'v1beta', GEMINI_VERSIONS), `/${modelPath(target.upstreamModel)}${method}`),
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  };
}

const CONTENT_FILTERED = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/** Gemini says STOP after function calls too; OpenAI clients look for "tool_calls" then. */
export function geminiFinishReason(reason: unknown, calledTools: boolean): FinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && CONTENT_FILTERED.has(reason)) return 'content_filter';
  return calledTools ? 'tool_calls' : 'stop';
}

/** Thinking tokens are billed as output: OpenAI counts reasoning tokens inside completion_tokens. */
function openAIUsage(meta: Record<string, unknown>): CompletionUsage {
  const prompt = num(meta.promptTokenCount) + num(meta.toolUsePromptTokenCount);
  const thoughts = num(meta.thoughtsTokenCount);
  const completion = num(meta.candidatesTokenCount) + thoughts;
  const usage: CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  const cached = num(meta.cachedContentTokenCount);
  if (cached) usage.prompt_tokens_details = { cached_tokens: cached };
  if (thoughts) usage.completion_tokens_details = { reasoning_tokens: thoughts };
  return usage;
}

function candidateParts(candidate: Record<string, unknown>): Part[] {
  const content = candidate.content;
  return isRecord(content) && Array.isArray(content.parts) ? (content.parts as unknown[]).filter(isRecord) : [];
}

/** Gemini may omit a call id; OpenAI clients need one to answer the call, so derive a stable one. */
function callId(call: Record<string, unknown>, responseId: string, choice: number, index: number): string {
  return typeof call.id === 'string' && call.id ? call.id : `call_${responseId}_${choice}_${index}`;
}

function parseResponse(body: unknown, ctx: ResponseContext): ChatCompletion {
  if (!isRecord(body)) throw new UpstreamFormatError('Gemini answer is not an object');
  const candidates = Array.isArray(body.candidates) ? (body.candidates as unknown[]).filter(isRecord) : [];
  const choices: ChatCompletionChoice[] = candidates.map((candidate, position) => {
    const index = typeof candidate.index === 'number' ? candidate.index : position;
    let text = '';
    let hasText = false;
    const toolCalls: ToolCall[] = [];
    for (const part of candidateParts(candidate)) {
      if (typeof part.text === 'string' && part.thought !== true) {
        text += part.text;
        hasText = true;
      } else if (isRecord(part.functionCall)) {
        const call = part.functionCall;
        toolCalls.push({
          id: callId(call, ctx.id, index, toolCalls.length),
          type: 'function',
          function: { name: String(call.name), arguments: JSON.stringify(call.args ?? {}) },
        });
      }
    }
    return {
      index,
      message: assistantMessage(hasText ? text : null, toolCalls),
      logprobs: null,
      finish_reason: geminiFinishReason(candidate.finishReason, toolCalls.length > 0),
    };
  });
  if (choices.length === 0) {
    // A blocked prompt answers no candidate, only promptFeedback.blockReason.
    if (!isRecord(body.promptFeedback) && !isRecord(body.usageMetadata)) throw new UpstreamFormatError('Gemini answer without "candidates"');
    choices.push({ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' });
  }
  const completion: ChatCompletion = { id: ctx.id, object: 'chat.completion', created: ctx.created, model: ctx.model, choices };
  if (isRecord(body.usageMetadata)) completion.usage = openAIUsage(body.usageMetadata);
  return completion;
}

/**
 * Each SSE event is a whole GenerateContentResponse holding the next piece of each candidate.
 * Function calls arrive whole (Gemini does not stream their arguments), so each becomes one tool
 * call delta with its complete arguments. The stream has no end marker: it is complete once every
 * candidate seen has a finishReason; the usage chunk goes out when the body ends.
 */
class GeminiStreamTranslator extends SseStreamTranslator {
  /** Per candidate index: whether its role went out, how many tool calls it made, whether it finished. */
  private readonly candidates = new Map<number, { started: boolean; tools: number; finished: boolean }>();
  private usageSent = false;

  get completed(): boolean {
    if (this.candidates.size === 0) return false;
    for (const state of this.candidates.values()) if (!state.finished) return false;
    return true;
  }

  override end(): ChatCompletionChunk[] {
    const out = super.end();
    if (this.ctx.includeUsage && this.usage && this.completed && !this.error && !this.usageSent) {
      this.usageSent = true;
      out.push(usageChunk(this.ctx, this.usage));
    }
    return out;
  }

  private chunk(index: number, delta: ChunkDelta, finishReason: FinishReason | null): ChatCompletionChunk {
    return choiceChunk(this.ctx, index, delta, finishReason);
  }

  protected translate(events: ReadonlyArray<{ data: string }>): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const event of events) {
      if (this.error) break;
      const data = parseJson(event.data);
      if (!isRecord(data)) continue;
      if (isRecord(data.error)) {
        this.error = parseError(500, data);
        break;
      }
      if (isRecord(data.usageMetadata)) this.usage = openAIUsage(data.usageMetadata);
      const candidates = Array.isArray(data.candidates) ? (data.candidates as unknown[]).filter(isRecord) : [];
      if (candidates.length === 0 && isRecord(data.promptFeedback) && data.promptFeedback.blockReason) {
        this.candidates.set(0, { started: true, tools: 0, finished: true });
        this.finishReason = 'content_filter';
        out.push(this.chunk(0, { role: 'assistant', content: '' }, 'content_filter'));
        continue;
      }
      candidates.forEach((candidate, position) => {
        const index = typeof candidate.index === 'number' ? candidate.index : position;
        let state = this.candidates.get(index);
        if (!state) this.candidates.set(index, (state = { started: false, tools: 0, finished: false }));
        if (state.finished) return;
        for (const part of candidateParts(candidate)) {
          const delta: ChunkDelta = state.started ? {} : { role: 'assistant' };
          if (typeof part.text === 'string' && part.thought !== true) {
            if (part.text === '' && state.started) continue;
            delta.content = part.text;
            this.outputText += part.text;
          } else if (isRecord(part.functionCall)) {
            const call = part.functionCall;
            const args = JSON.stringify(call.args ?? {});
            this.outputText += args;
            delta.tool_calls = [
              { index: state.tools, id: callId(call, this.ctx.id, index, state.tools), type: 'function', function: { name: String(call.name), arguments: args } },
            ];
            state.tools += 1;
          } else continue;
          state.started = true;
          out.push(this.chunk(index, delta, null));
        }
        if (candidate.finishReason != null && candidate.finishReason !== 'FINISH_REASON_UNSPECIFIED') {
          state.finished = true;
          const reason = geminiFinishReason(candidate.finishReason, state.tools > 0);
          this.finishReason = reason;
          out.push(this.chunk(index, state.started ? {} : { role: 'assistant', content: '' }, reason));
          state.started = true;
        }
      });
    }
    return out;
  }
}

/** Google's `{"error": {"code", "message", "status"}}` → OpenAI's fields; the status name is the code. */
function parseError(status: number, body: unknown): ProviderError {
  let parsed = errorBody(body);
  // Without alt=sse an error may come as a one-element JSON array.
  if (Array.isArray(parsed) && parsed.length === 1) parsed = parsed[0];
  if (isRecord(parsed) && isRecord(parsed.error)) {
    const error = parsed.error;
    const httpStatus = typeof error.code === 'number' ? error.code : status;
    return {
      message: stringOr(error.message, `Upstream error ${httpStatus}`),
      type: errorTypeForStatus(httpStatus),
      code: typeof error.status === 'string' ? error.status : null,
    };
  }
  return genericError(status, parsed);
}

export const geminiAdapter: ProviderAdapter = {
  api: 'gemini',
  buildRequest,
  parseResponse,
  createStreamTranslator: (ctx) => new GeminiStreamTranslator(ctx),
  parseError,
};
