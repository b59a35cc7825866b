/**
 * OpenAI-compatible upstreams (OpenAI, Groq, Together, DeepSeek, Mistral, vLLM, Ollama, …): the
 * request goes out nearly as it came in, the answer comes back with the gateway's id and model.
 */
import { type ChatCompletionRequest, chatCompletionRequestShape } from '../chat-request.schema.js';
import { errorBody, genericError, isRecord, stringOr } from '../provider-error.js';
import { parseJson } from '../sse-reader.js';
import { SseStreamTranslator } from '../sse-stream-translator.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  CompletionUsage,
  FinishReason,
  ProviderAdapter,
  ProviderError,
  ResponseContext,
  UpstreamRequest,
  UpstreamTarget,
} from '../types.js';
import { UpstreamFormatError } from '../types.js';
import { joinUrl } from '../upstream-url.js';

/** Only OpenAI's own fields go upstream: an extension of the gateway's (e.g. `router`) never leaks. */
const FORWARDED = Object.keys(chatCompletionRequestShape) as Array<keyof ChatCompletionRequest>;

/**
 * The verdict of `isOpenAIHost` per base URL seen: a model's base URL rarely changes, and parsing it
 * on every call is measurable on the gateway's hot path. Bounded: emptied when it is full.
 */
const openAIHosts = new Map<string, boolean>();
const MAX_REMEMBERED_HOSTS = 1024;

/** OpenAI itself (and Azure OpenAI) take its newest fields; other OpenAI-compatible servers lag behind. */
export function isOpenAIHost(baseUrl: string): boolean {
  let verdict = openAIHosts.get(baseUrl);
  if (verdict === undefined) {
    verdict = hostIsOpenAI(baseUrl);
    if (openAIHosts.size >= MAX_REMEMBERED_HOSTS) openAIHosts.clear();
    openAIHosts.set(baseUrl, verdict);
  }
  return verdict;
}

function hostIsOpenAI(baseUrl: string): boolean {
  try {
    const host = new URL(baseUrl).hostname;
    return host === 'api.openai.com' || host.endsWith('.openai.azure.com');
  } catch {
    return false;
  }
}

function buildRequest(req: ChatCompletionRequest, target: UpstreamTarget, opts: { stream: boolean }): UpstreamRequest {
  const body: Record<string, unknown> = {};
  for (const key of FORWARDED) if (req[key] !== undefined) body[key] = req[key];
  body.model = target.upstreamModel;
  if (!isOpenAIHost(target.baseUrl)) {
    // Mistral, DeepSeek, Ollama and older vLLM know `max_tokens` and the `system` role, not their
    // newer OpenAI names (OpenAI's reasoning models need the new names, so OpenAI keeps them).
    if (req.max_completion_tokens != null) {
      body.max_tokens = req.max_completion_tokens;
      delete body.max_completion_tokens;
    }
    if (req.messages.some((msg) => msg.role === 'developer')) {
      body.messages = req.messages.map((msg) => (msg.role === 'developer' ? { ...msg, role: 'system' } : msg));
    }
  }
  if (opts.stream) {
    body.stream = true;
    // Always ask for usage: the gateway records tokens whether or not the client wants them.
    body.stream_options = { ...(req.stream_options ?? {}), include_usage: true };
  } else {
    delete body.stream;
    delete body.stream_options;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.stream) headers.accept = 'text/event-stream';
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  return { url: joinUrl(target.baseUrl, '/chat/completions'), method: 'POST', headers, body: JSON.stringify(body) };
}

function readUsage(value: unknown): CompletionUsage | null {
  if (!isRecord(value)) return null;
  const prompt = value.prompt_tokens;
  const completion = value.completion_tokens;
  if (typeof prompt !== 'number' || typeof completion !== 'number') return null;
  const usage: CompletionUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: typeof value.total_tokens === 'number' ? value.total_tokens : prompt + completion,
  };
  if (isRecord(value.prompt_tokens_details)) usage.prompt_tokens_details = value.prompt_tokens_details as CompletionUsage['prompt_tokens_details'] & object;
  if (isRecord(value.completion_tokens_details)) {
    usage.completion_tokens_details = value.completion_tokens_details as CompletionUsage['completion_tokens_details'] & object;
  }
  return usage;
}

function parseResponse(body: unknown, ctx: ResponseContext): ChatCompletion {
  if (!isRecord(body) || !Array.isArray(body.choices) || !body.choices.every(isRecord)) {
    throw new UpstreamFormatError('OpenAI-compatible answer without "choices"');
  }
  const usage = readUsage(body.usage);
  const completion = { ...body, id: ctx.id, object: 'chat.completion', created: ctx.created, model: ctx.model } as ChatCompletion;
  if (usage) completion.usage = usage;
  else delete completion.usage;
  return completion;
}

class OpenAIStreamTranslator extends SseStreamTranslator {
  completed = false;

  protected translate(events: ReadonlyArray<{ data: string }>): ChatCompletionChunk[] {
    const out: ChatCompletionChunk[] = [];
    for (const event of events) {
      if (this.completed || this.error) break;
      const data = event.data.trim();
      if (data === '[DONE]') {
        this.completed = true;
        break;
      }
      const parsed = parseJson(data);
      if (!isRecord(parsed)) continue; // keep-alives and comments of some servers
      if (parsed.error !== undefined) {
        this.error = parseError(500, parsed);
        break;
      }
      if (!Array.isArray(parsed.choices)) continue;
      const usage = readUsage(parsed.usage);
      if (usage) this.usage = usage;
      const choices = (parsed.choices as unknown[]).filter(isRecord);
      for (const choice of choices) {
        if (typeof choice.finish_reason === 'string') this.finishReason = choice.finish_reason as FinishReason;
        const delta = choice.delta;
        if (!isRecord(delta)) continue;
        if (typeof delta.content === 'string') this.outputText += delta.content;
        if (Array.isArray(delta.tool_calls)) {
          for (const call of (delta.tool_calls as unknown[]).filter(isRecord)) {
            const fn = call.function;
            if (isRecord(fn) && typeof fn.arguments === 'string') this.outputText += fn.arguments;
          }
        }
      }
      const chunk = { ...parsed, id: this.ctx.id, object: 'chat.completion.chunk', created: this.ctx.created, model: this.ctx.model, choices } as unknown as ChatCompletionChunk;
      if (this.ctx.includeUsage) {
        chunk.usage = usage;
        out.push(chunk);
      } else {
        // The gateway asked for usage for itself: the client did not, so it sees neither the
        // `usage: null` fields nor the choice-less usage chunk.
        delete chunk.usage;
        if (chunk.choices.length > 0) out.push(chunk);
      }
    }
    return out;
  }
}

function parseError(status: number, body: unknown): ProviderError {
  const parsed = errorBody(body);
  if (isRecord(parsed) && isRecord(parsed.error)) {
    const error = parsed.error;
    const fallback = genericError(status, undefined);
    return {
      message: stringOr(error.message, fallback.message),
      type: stringOr(error.type, fallback.type),
      code: typeof error.code === 'string' ? error.code : typeof error.code === 'number' ? String(error.code) : null,
    };
  }
  // Some OpenAI-compatible servers (older vLLM, Ollama) answer {"error": "text"} or {"message": …}.
  if (isRecord(parsed) && typeof (parsed.error ?? parsed.message) === 'string') {
    return { ...genericError(status, undefined), message: String(parsed.error ?? parsed.message) };
  }
  return genericError(status, parsed);
}

export const openAIAdapter: ProviderAdapter = {
  api: 'openai',
  buildRequest,
  parseResponse,
  createStreamTranslator: (ctx) => new OpenAIStreamTranslator(ctx),
  parseError,
};
