/**
 * Anthropic Messages API (`POST /v1/messages`) behind the OpenAI Chat Completions contract.
 * System and developer messages become the top-level `system`; tool calls become `tool_use`
 * blocks and tool results `tool_result` blocks in a user turn; streamed events become chunks.
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

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires `max_tokens`; OpenAI does not. What a request without one may generate. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;
/** OpenAI's `json_object` mode has no Anthropic twin: the model is told instead. */
const JSON_OBJECT_INSTRUCTION = 'Respond with a single valid JSON object and nothing else.';

type Block = Record<string, unknown>;
interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

function userPart(part: UserContentPart, param: string): Block {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image_url': {
      const inline = parseDataUrl(part.image_url.url);
      return inline
        ? { type: 'image', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } }
        : { type: 'image', source: { type: 'url', url: part.image_url.url } };
    }
    case 'file': {
      const inline = part.file.file_data ? parseDataUrl(part.file.file_data) : null;
      if (!inline) throw new UnsupportedRequestError('Anthropic models take files only as base64 data URLs in "file_data".', param);
      return { type: 'document', source: { type: 'base64', media_type: inline.mediaType, data: inline.data } };
    }
    case 'input_audio':
      throw new UnsupportedRequestError('Anthropic models do not take audio input.', param);
  }
}

function parseArguments(text: string, param: string): unknown {
  if (text.trim() === '') return {};
  const parsed = parseJson(text);
  if (!isRecord(parsed)) throw new UnsupportedRequestError('Tool call arguments must be a JSON object.', param);
  return parsed;
}

/** OpenAI's message list → Anthropic's `system` and alternating turns (consecutive same-role turns merged). */
function convertMessages(messages: readonly ChatMessage[]): { system: string[]; turns: AnthropicMessage[] } {
  const system: string[] = [];
  const turns: AnthropicMessage[] = [];
  // A tool_result must answer an earlier tool_use: say so here rather than as an upstream 400.
  const callIds = new Set<string>();
  const add = (role: AnthropicMessage['role'], blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
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
          // Anthropic refuses empty text blocks: an empty user text adds nothing.
          (typeof msg.content === 'string' ? [{ type: 'text', text: msg.content }] : msg.content.map((part, j) => userPart(part, `${param}.content.${j}`))).filter(
            (block) => block.type !== 'text' || block.text !== '',
          ),
        );
        return;
      case 'assistant': {
        const blocks: Block[] = [];
        const text = contentText(msg.content ?? null);
        // Anthropic refuses empty text blocks; an assistant turn with only tool calls has none.
        if (text) blocks.push({ type: 'text', text });
        msg.tool_calls?.forEach((call, j) => {
          callIds.add(call.id);
          blocks.push({
            type: 'tool_use',
            id: call.id,
            name: call.function.name,
            input: parseArguments(call.function.arguments, `${param}.tool_calls.${j}.function.arguments`),
          });
        });
        if (msg.function_call) throw new UnsupportedRequestError('"function_call" is deprecated: send "tool_calls".', `${param}.function_call`);
        add('assistant', blocks);
        return;
      }
      case 'tool':
        if (!callIds.has(msg.tool_call_id)) {
          throw new UnsupportedRequestError(`No earlier assistant tool call has the id "${msg.tool_call_id}".`, `${param}.tool_call_id`);
        }
        add('user', [{ type: 'tool_result', tool_use_id: msg.tool_call_id, content: contentText(msg.content) }]);
        return;
      case 'function':
        throw new UnsupportedRequestError('"function" messages are deprecated: send "tool" messages.', param);
    }
  });
  return { system, turns };
}

function buildRequest(req: ChatCompletionRequest, target: UpstreamTarget, opts: { stream: boolean }): UpstreamRequest {
  if ((req.n ?? 1) > 1) throw new UnsupportedRequestError('Anthropic models answer one choice: "n" must be 1.', 'n');
  const { system, turns } = convertMessages(req.messages);
  if (turns.length === 0) throw new UnsupportedRequestError('Anthropic models need at least one user or assistant message.', 'messages');

  const body: Record<string, unknown> = {
    model: target.upstreamModel,
    max_tokens: requestedMaxTokens(req) ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
    messages: turns,
  };
  if (req.response_format?.type === 'json_object') system.push(JSON_OBJECT_INSTRUCTION);
  if (req.response_format?.type === 'json_schema') {
    body.output_config = { format: { type: 'json_schema', schema: req.response_format.json_schema.schema ?? { type: 'object' } } };
  }
  if (system.length) body.system = system.join('\n\n');
  // Anthropic's temperature runs 0..1, OpenAI's 0..2: a routed request must not fail on the
  // model it lands on, so the top of OpenAI's range is held at Anthropic's top.
  if (req.temperature != null) body.temperature = Math.min(req.temperature, 1);
  // Current Claude models refuse temperature and top_p together: temperature, the usual knob, wins.
  else if (req.top_p != null) body.top_p = req.top_p;
  // Anthropic refuses stop sequences of whitespace only (OpenAI clients often send "\n").
  const stop = stopSequences(req)?.filter((sequence) => sequence.trim() !== '');
  if (stop?.length) body.stop_sequences = stop;
  if (req.user) body.metadata = { user_id: req.user };
  if (req.tools?.length && req.tool_choice !== 'none') {
    body.tools = req.tools.map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      input_schema: tool.function.parameters ?? { type: 'object', properties: {} },
    }));
    const choice: Record<string, unknown> =
      req.tool_choice === 'required'
        ? { type: 'any' }
        : typeof req.tool_choice === 'object'
          ? { type: 'tool', name: req.tool_choice.function.name }
          : { type: 'auto' };
    if (req.parallel_tool_calls === false) choice.disable_parallel_tool_use = true;
    body.tool_choice = choice;
  }
  if (opts.stream) body.stream = true;

  const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION };
  if (opts.stream) headers.accept = 'text/event-stream';
  if (target.apiKey) headers['x-api-key'] = target.apiKey;
  return { url: joinUrl(withVersion(target.baseUrl, 'v1'), '/messages'), method: 'POST', headers, body: JSON.stringify(body) };
}

export function anthropicFinishReason(stopReason: unknown): FinishReason {
  switch (stopReason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

/** Anthropic counts cached input apart from `input_tokens`; OpenAI's prompt_tokens include it. */
function openAIUsage(usage: Record<string, unknown>): CompletionUsage {
  const cacheRead = num(usage.cache_read_input_tokens);
  const prompt = num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + cacheRead;
  const completion = num(usage.output_tokens);
  const result: CompletionUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cacheRead) result.prompt_tokens_details = { cached_tokens: cacheRead };
  return result;
}

function parseResponse(body: unknown, ctx: ResponseContext): ChatCompletion {
  if (!isRecord(body) || !Array.isArray(body.content)) throw new UpstreamFormatError('Anthropic answer without "content"');
  let text = '';
  let hasText = false;
  const toolCalls: ToolCall[] = [];
  for (const block of (body.content as unknown[]).filter(isRecord)) {
    if (block.type === 'text' && typeof block.text === 'string') {
      text += block.text;
      hasText = true;
    } else if (block.type === 'tool_use') {
      toolCalls.push({
        id: String(block.id),
        type: 'function',
        function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) },
      });
    }
  }
  const completion: ChatCompletion = {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: assistantMessage(hasText ? text : null, toolCalls),
        logprobs: null,
        finish_reason: anthropicFinishReason(body.stop_reason),
      },
    ],
  };
  if (isRecord(body.usage)) completion.usage = openAIUsage(body.usage);
  return completion;
}

/**
 * message_start → the role chunk; text_delta → content; a tool_use block → a tool call (id and name
 * first, then its `input_json_delta`s as argument pieces); message_delta → finish_reason;
 * message_stop → the usage chunk. `ping` and thinking blocks are not shown to an OpenAI client.
 */
class AnthropicStreamTranslator extends SseStreamTranslator {
  completed = false;
  /** Anthropic content block index → OpenAI tool call index (tool calls count from 0). */
  private readonly toolIndex = new Map<number, number>();
  private rawUsage: Record<string, unknown> = {};

  private chunk(delta: ChunkDelta, finishReason: FinishReason | null = null): ChatCompletionChunk {
    return choiceChunk(this.ctx, 0, delta, finishReason);
  }

  protected translate(events: ReadonlyArray<{ data: string }>): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const event of events) {
      if (this.completed || this.error) break;
      const data = parseJson(event.data);
      if (!isRecord(data)) continue;
      switch (data.type) {
        case 'message_start': {
          const message = isRecord(data.message) ? data.message : {};
          if (isRecord(message.usage)) this.mergeUsage(message.usage);
          out.push(this.chunk({ role: 'assistant', content: '' }));
          break;
        }
        case 'content_block_start': {
          const block = isRecord(data.content_block) ? data.content_block : {};
          if (block.type === 'tool_use') {
            const index = this.toolIndex.size;
            this.toolIndex.set(num(data.index), index);
            out.push(
              this.chunk({
                tool_calls: [{ index, id: String(block.id), type: 'function', function: { name: String(block.name), arguments: '' } }],
              }),
            );
          } else if (block.type === 'text' && typeof block.text === 'string' && block.text) {
            this.outputText += block.text;
            out.push(this.chunk({ content: block.text }));
          }
          break;
        }
        case 'content_block_delta': {
          const delta = isRecord(data.delta) ? data.delta : {};
          if (delta.type === 'text_delta' && typeof delta.text === 'string') {
            this.outputText += delta.text;
            out.push(this.chunk({ content: delta.text }));
          } else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
            const index = this.toolIndex.get(num(data.index));
            if (index === undefined || delta.partial_json === '') break;
            this.outputText += delta.partial_json;
            out.push(this.chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] }));
          }
          break;
        }
        case 'message_delta': {
          const delta = isRecord(data.delta) ? data.delta : {};
          if (isRecord(data.usage)) this.mergeUsage(data.usage);
          if (delta.stop_reason != null) {
            this.finishReason = anthropicFinishReason(delta.stop_reason);
            out.push(this.chunk({}, this.finishReason));
          }
          break;
        }
        case 'message_stop':
          this.completed = true;
          if (this.ctx.includeUsage && this.usage) {
            out.push(usageChunk(this.ctx, this.usage));
          }
          break;
        case 'error':
          this.error = parseError(500, data);
          break;
        default: // ping, content_block_stop, and event types newer than this adapter
          break;
      }
    }
    return out;
  }

  /** message_delta's usage is cumulative and may repeat or omit input counts: the latest value of each wins. */
  private mergeUsage(usage: Record<string, unknown>): void {
    for (const [key, value] of Object.entries(usage)) if (typeof value === 'number') this.rawUsage[key] = value;
    this.usage = openAIUsage(this.rawUsage);
  }
}

/** Anthropic's `{"type": "error", "error": {"type", "message"}}` → OpenAI's fields; its type doubles as the code. */
function parseError(status: number, body: unknown): ProviderError {
  const parsed = errorBody(body);
  if (isRecord(parsed) && isRecord(parsed.error)) {
    const type = stringOr(parsed.error.type, errorTypeForStatus(status));
    return { message: stringOr(parsed.error.message, `Upstream error ${status}`), type, code: type };
  }
  return genericError(status, parsed);
}

export const anthropicAdapter: ProviderAdapter = {
  api: 'anthropic',
  buildRequest,
  parseResponse,
  createStreamTranslator: (ctx) => new AnthropicStreamTranslator(ctx),
  parseError,
};
