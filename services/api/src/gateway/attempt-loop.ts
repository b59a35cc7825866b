import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { BudgetReservations } from '@model-router/budgets';
import { ENV_OVERRIDES } from '@model-router/config';
import { callCost, type Candidate, countPromptTokens, estimateCost, type Model, nanosToUsd, runtimeOf, usdToNanos } from '@model-router/domain';
import type { Logger } from '@model-router/logger';
import {
  adapterFor,
  type ChatCompletion,
  type ChatCompletionRequest,
  type CompletionUsage,
  type ProviderAdapter,
  type ProviderError,
  UnsupportedRequestError,
  type UpstreamRequest,
} from '@model-router/providers';
import type { Response } from 'express';
import type { BudgetTracker } from '../state/budget-tracker.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { type AttemptRecord, type AttemptRecorder, type CircuitOutcome } from './attempt-recorder.js';
import type { GatewayRequest } from './chat-completions.schema.js';
import type { GatewayPlan } from './gateway-router.js';
import { OpenAIError } from './openai-error.js';
import { rateLimitedUntil } from './rate-limit-headers.js';
import type { RateLimitTracker } from '../state/rate-limit-tracker.js';
import { SseWriter } from './sse-writer.js';
import { classifyTransportError, type UpstreamClient, type UpstreamResponse, UpstreamTransportError } from './upstream-client.js';

export interface AttemptLoopOptions {
  maxAttempts: number;
  /** Whole-call timeout of a model without its own `timeout_ms`. */
  timeoutMs: number;
  /** Until the first byte of the answer's body (the first token when streaming). */
  firstByteTimeoutMs: number;
  reservationTtlMs: number;
}

export interface AttemptLoopDeps {
  client: UpstreamClient;
  recorder: AttemptRecorder;
  reservations: BudgetReservations;
  budgets: BudgetTracker | null;
  rateLimits: RateLimitTracker;
  snapshots: SnapshotStore;
  /** Takes one of a half-open circuit's trial permits (shared by every replica). */
  acquireTrial: (modelId: string) => Promise<boolean>;
  /** Where credentials are read from (`api_key_env` names a variable here). */
  env: NodeJS.ProcessEnv;
  options: AttemptLoopOptions;
  logger: Logger;
}

/** One client request on its way through the attempts. */
export interface GatewayCall {
  requestId: string;
  /** The client key's id: the namespace of the attempts' event ids (see keyIdSchema). */
  keyId: string;
  body: GatewayRequest;
  plan: GatewayPlan;
  res: Response;
  /** Fires when the client goes away: the current upstream call is aborted. */
  clientGone: AbortSignal;
  /** Epoch ms after which no attempt starts and the current one is cut. */
  deadline: number;
  /** Tokens (prompt + completion) the attempts used, as recorded; the loop adds to it. */
  used?: { tokens: number };
}

/** How one attempt ended. */
type AttemptEnd =
  | { kind: 'answered' }
  /** Failed before anything reached the client: the next model may be tried. */
  | { kind: 'retry'; error: OpenAIError }
  /** An error the client must see as is (its request is at fault): no fallback. */
  | { kind: 'final'; error: OpenAIError }
  /** The client left; nothing more to do. */
  | { kind: 'gone' };

const RETRYABLE_STATUS = (status: number) => status === 408 || status === 429 || status >= 500;
/** Statuses that say this model's configuration (key, name) is wrong, not the request: another model may serve it. */
const MISCONFIGURED_STATUS = (status: number) => status === 401 || status === 403 || status === 404;

function upstreamError(status: number, e: ProviderError): OpenAIError {
  const clientStatus = status === 429 ? 429 : RETRYABLE_STATUS(status) || MISCONFIGURED_STATUS(status) ? 502 : status;
  return new OpenAIError(clientStatus, `Upstream error (${status}): ${e.message}`, e.type, e.code ?? 'upstream_error');
}

function transportError(error: UpstreamTransportError): OpenAIError {
  if (error.kind === 'refused') {
    return new OpenAIError(502, `The model's endpoint may not be called: ${(error.cause as Error)?.message ?? ''}`, 'api_error', 'model_misconfigured');
  }
  const timeout = error.kind.endsWith('timeout');
  return new OpenAIError(timeout ? 504 : 502, `Upstream ${error.kind.replace(/_/g, ' ')}`, 'api_error', timeout ? 'upstream_timeout' : 'upstream_unreachable');
}

/** Tokens of a whole answer's text when the provider sent no usage. */
function completionText(completion: ChatCompletion): string {
  let text = '';
  for (const choice of completion.choices) {
    text += choice.message.content ?? '';
    for (const call of choice.message.tool_calls ?? []) text += call.function.arguments;
  }
  return text;
}

/**
 * The attempts of one gateway request: the plan's models in order, each called through its
 * provider adapter, until one answers or `max_attempts` is reached.
 *
 * - Before a call: a model rate-limited or with an open circuit since the plan is skipped, a
 *   half-open one needs a trial permit, and the call's most expensive outcome is reserved against
 *   every `block` budget in scope (a refusal is a 429 at once).
 * - Connection errors, timeouts, 429 and 5xx before the first byte reached the client → the next
 *   model. Rate-limit headers keep the model out of routing on every replica until they reset.
 * - After the first streamed byte there is no going back: an upstream failure ends the stream with
 *   an error event, and the attempt is a failure.
 * - Every attempt is recorded (metric event, cost, circuit outcome, reservation settled).
 */
export class AttemptLoop {
  constructor(private readonly deps: AttemptLoopDeps) {}

  async run(call: GatewayCall): Promise<void> {
    const { plan, res } = call;
    const { options } = this.deps;
    let attempts = 0;
    let last: OpenAIError | null = null;
    for (const candidate of plan.candidates) {
      if (attempts >= options.maxAttempts || call.clientGone.aborted) break;
      const model = candidate.model;
      if (!(await this.admits(model))) continue;
      if (Date.now() >= call.deadline) {
        last = new OpenAIError(504, 'The request deadline passed before a model answered', 'api_error', 'timeout');
        break;
      }
      const adapter = adapterFor(model.api ?? 'openai');
      let request: UpstreamRequest;
      try {
        request = this.buildRequest(adapter, call.body, model);
      } catch (error) {
        if (!(error instanceof UnsupportedRequestError) && !(error instanceof OpenAIError)) throw error;
        last = error instanceof OpenAIError ? error : new OpenAIError(400, error.message, 'invalid_request_error', 'unsupported_parameter', error.param);
        continue;
      }
      const eventId = randomUUID();
      const reserved = await this.reserve(eventId, model, call);
      attempts++;
      const end = await this.attempt(call, candidate, adapter, request, eventId, reserved, attempts);
      if (end.kind === 'answered' || end.kind === 'gone') return;
      last = end.error;
      if (end.kind === 'final') break;
    }
    if (call.clientGone.aborted) return;
    const error = last ?? new OpenAIError(503, 'No model could be tried: every candidate is rate-limited or its circuit is open', 'api_error', 'no_eligible_model', 'model');
    res.set({ 'x-router-request-id': call.requestId, 'x-router-attempts': String(attempts) });
    if (error.headers) res.set(error.headers);
    res.status(error.status).json(error.body());
  }

  /** The model may be called now: not rate-limited, circuit not open, a trial permit if half-open. */
  private async admits(model: Model): Promise<boolean> {
    if (this.deps.rateLimits.isLimited(model.id)) return false;
    const circuit = runtimeOf(this.deps.snapshots.current, model.id).circuit;
    if (circuit === 'open') return false;
    if (circuit === 'half_open') return this.deps.acquireTrial(model.id).catch(() => false);
    return true;
  }

  private buildRequest(adapter: ProviderAdapter, body: GatewayRequest, model: Model): UpstreamRequest {
    if (!model.endpoint) {
      throw new OpenAIError(502, `The model '${model.id}' has no endpoint configured`, 'api_error', 'model_misconfigured');
    }
    // The endpoint policy (production mode, security.allow_private_endpoints), as for the prober:
    // a model stored before the policy tightened is refused here, and nothing is sent.
    const refusal = this.deps.client.refusal(model.endpoint);
    if (refusal) throw new OpenAIError(502, `The model '${model.id}' has an endpoint the router may not call: ${refusal}`, 'api_error', 'model_misconfigured');
    let apiKey: string | undefined;
    if (model.api_key_env) {
      if (model.api_key_env in ENV_OVERRIDES) {
        throw new OpenAIError(502, `The model '${model.id}' names one of the router's own settings as its key`, 'api_error', 'model_misconfigured');
      }
      apiKey = this.deps.env[model.api_key_env];
      // The variable's name may be shown, never its value.
      if (!apiKey) throw new OpenAIError(502, `The model '${model.id}' needs the environment variable ${model.api_key_env}, which is not set`, 'api_error', 'model_misconfigured');
    }
    const { router: _router, user: _user, ...openai } = body;
    return adapter.buildRequest(openai as ChatCompletionRequest, { baseUrl: model.endpoint, upstreamModel: model.upstream_model ?? model.id, apiKey }, { stream: body.stream === true });
  }

  /** Reserves the call's estimate against every block budget in scope; a refusal is a 429 now. */
  private async reserve(eventId: string, model: Model, call: GatewayCall): Promise<boolean> {
    const budgets = this.deps.budgets?.blockBudgetsFor(model, call.body.user ?? null, call.keyId) ?? [];
    if (budgets.length === 0) return false;
    const estimate = usdToNanos(estimateCost(model, call.plan.prompt_tokens, call.plan.max_tokens).estimated_cost);
    let result;
    try {
      result = await this.deps.reservations.reserve(eventId, budgets, estimate, this.deps.options.reservationTtlMs);
    } catch (error) {
      this.deps.logger.warn('budget reservation failed: Redis unavailable', { err: error });
      throw new OpenAIError(503, 'Budgets cannot be checked right now; retry later', 'api_error', 'service_unavailable', null, { 'Retry-After': '1' });
    }
    if (!result.ok) {
      throw new OpenAIError(
        429,
        `Budget "${result.budget_id}" would be exceeded by this request (estimated $${nanosToUsd(estimate)} on top of $${nanosToUsd(result.spent_nanos + result.reserved_nanos)} spent or reserved)`,
        'insufficient_quota',
        'budget_exceeded',
      );
    }
    return true;
  }

  private headers(call: GatewayCall, model: Model, attempts: number, isFirst: boolean): Record<string, string> {
    const headers: Record<string, string> = {
      'x-router-request-id': call.requestId,
      'x-router-model': model.id,
      'x-router-provider': model.provider,
      'x-router-attempts': String(attempts),
    };
    const assignment = call.plan.assignment;
    if (assignment && isFirst) {
      headers['x-router-ab-test'] = assignment.test.id;
      headers['x-router-variant'] = assignment.variant.id;
    }
    return headers;
  }

  /** One upstream call, from the request to the recorded outcome. */
  private async attempt(
    call: GatewayCall,
    candidate: Candidate,
    adapter: ProviderAdapter,
    request: UpstreamRequest,
    eventId: string,
    reserved: boolean,
    attempts: number,
  ): Promise<AttemptEnd> {
    const model = candidate.model;
    const { options } = this.deps;
    const stream = call.body.stream === true;
    const started = performance.now();
    const abort = new AbortController();
    const onGone = () => abort.abort(new UpstreamTransportError('aborted', new Error('the client went away')));
    call.clientGone.addEventListener('abort', onGone);
    const total = Math.max(1, Math.min(model.timeout_ms ?? options.timeoutMs, call.deadline - Date.now()));
    const totalTimer = setTimeout(() => abort.abort(new UpstreamTransportError('timeout', new Error(`no complete answer within ${total} ms`))), total);
    const firstByteTimer = setTimeout(
      () => abort.abort(new UpstreamTransportError('first_byte_timeout', new Error(`no first byte within ${options.firstByteTimeoutMs} ms`))),
      options.firstByteTimeoutMs,
    );
    const isFirst = attempts === 1;
    const record = (r: Pick<AttemptRecord, 'success' | 'circuit' | 'prompt_tokens' | 'completion_tokens' | 'tokens_estimated' | 'ttft_ms'>) => {
      if (call.used) call.used.tokens += r.prompt_tokens + r.completion_tokens;
      void this.deps.recorder.record({
        ...r,
        event_id: eventId,
        key_id: call.keyId,
        request_id: call.requestId,
        model,
        latency_ms: performance.now() - started,
        user_id: call.body.user ?? null,
        // The assignment is about the variant's call: the first attempt, not the fallbacks.
        ab_test_id: isFirst ? (call.plan.assignment?.test.id ?? null) : null,
        variant_id: isFirst ? (call.plan.assignment?.variant.id ?? null) : null,
        reserved,
      });
    };
    const failed = (circuit: CircuitOutcome, ttft: number | null = null) =>
      record({ success: false, circuit, prompt_tokens: 0, completion_tokens: 0, tokens_estimated: false, ttft_ms: ttft });

    let response: UpstreamResponse | null = null;
    try {
      try {
        response = await this.deps.client.send(request, abort.signal);
      } catch (error) {
        const e = classifyTransportError(error, abort.signal.reason);
        if (e.kind === 'aborted') {
          failed('none');
          return { kind: 'gone' };
        }
        failed('failure');
        return { kind: 'retry', error: transportError(e) };
      }
      this.noteRateLimits(model, response);
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const text = await response.body.text().catch(() => '');
        const e = upstreamError(response.statusCode, adapter.parseError(response.statusCode, text));
        const providerAtFault = RETRYABLE_STATUS(response.statusCode) || MISCONFIGURED_STATUS(response.statusCode);
        failed(providerAtFault ? 'failure' : 'success', performance.now() - started);
        return providerAtFault ? { kind: 'retry', error: e } : { kind: 'final', error: e };
      }
      const ctx = { model: model.id, id: `chatcmpl-${randomUUID().replace(/-/g, '')}`, created: Math.floor(Date.now() / 1000) };
      if (!stream) return await this.answerJson(call, model, adapter, response, ctx, attempts, started, firstByteTimer, abort, record, failed);
      return await this.answerStream(call, model, adapter, response, ctx, attempts, started, firstByteTimer, abort, record, failed);
    } finally {
      clearTimeout(totalTimer);
      clearTimeout(firstByteTimer);
      call.clientGone.removeEventListener('abort', onGone);
      if (response && !response.body.destroyed) response.body.destroy();
    }
  }

  private noteRateLimits(model: Model, response: UpstreamResponse): void {
    const until = rateLimitedUntil(response.statusCode, response.headers, Date.now());
    if (until === null) return;
    this.deps.rateLimits.limit(model.id, until).catch((error: unknown) => this.deps.logger.warn('could not share a rate limit', { err: error, model_id: model.id }));
  }

  private async answerJson(
    call: GatewayCall,
    model: Model,
    adapter: ProviderAdapter,
    response: UpstreamResponse,
    ctx: { model: string; id: string; created: number },
    attempts: number,
    started: number,
    firstByteTimer: NodeJS.Timeout,
    abort: AbortController,
    record: (r: Pick<AttemptRecord, 'success' | 'circuit' | 'prompt_tokens' | 'completion_tokens' | 'tokens_estimated' | 'ttft_ms'>) => void,
    failed: (circuit: CircuitOutcome, ttft?: number | null) => void,
  ): Promise<AttemptEnd> {
    const ttft = performance.now() - started;
    clearTimeout(firstByteTimer);
    let completion: ChatCompletion;
    try {
      completion = adapter.parseResponse(await response.body.json(), ctx);
    } catch (error) {
      if (abort.signal.aborted) {
        const e = classifyTransportError(error, abort.signal.reason);
        if (e.kind === 'aborted') {
          failed('none', ttft);
          return { kind: 'gone' };
        }
        failed('failure', ttft);
        return { kind: 'retry', error: transportError(e) };
      }
      failed('failure', ttft);
      return { kind: 'retry', error: new OpenAIError(502, `The provider's answer could not be read: ${(error as Error).message}`, 'api_error', 'upstream_invalid_response') };
    }
    const usage = completion.usage;
    const promptTokens = usage?.prompt_tokens ?? call.plan.prompt_tokens;
    const completionTokens = usage?.completion_tokens ?? countPromptTokens(completionText(completion));
    const headers = this.headers(call, model, attempts, attempts === 1);
    headers['x-router-cost-usd'] = String(callCost(model, promptTokens, completionTokens));
    call.res.set(headers).json(completion);
    record({ success: true, circuit: 'success', prompt_tokens: promptTokens, completion_tokens: completionTokens, tokens_estimated: !usage, ttft_ms: ttft });
    return { kind: 'answered' };
  }

  private async answerStream(
    call: GatewayCall,
    model: Model,
    adapter: ProviderAdapter,
    response: UpstreamResponse,
    ctx: { model: string; id: string; created: number },
    attempts: number,
    started: number,
    firstByteTimer: NodeJS.Timeout,
    abort: AbortController,
    record: (r: Pick<AttemptRecord, 'success' | 'circuit' | 'prompt_tokens' | 'completion_tokens' | 'tokens_estimated' | 'ttft_ms'>) => void,
    failed: (circuit: CircuitOutcome, ttft?: number | null) => void,
  ): Promise<AttemptEnd> {
    const translator = adapter.createStreamTranslator({ ...ctx, includeUsage: call.body.stream_options?.include_usage === true });
    const sse = new SseWriter(call.res);
    const decoder = new TextDecoder();
    let ttft: number | null = null;
    const send = (chunks: ReturnType<typeof translator.push>) => {
      if (chunks.length === 0) return;
      if (!sse.started) {
        clearTimeout(firstByteTimer);
        ttft = performance.now() - started;
        sse.open(this.headers(call, model, attempts, attempts === 1));
      }
      sse.chunks(chunks);
    };
    let transport: UpstreamTransportError | null = null;
    try {
      for await (const buffer of response.body) {
        send(translator.push(decoder.decode(buffer as Buffer, { stream: true })));
        if (translator.error) break;
        if (call.res.writableNeedDrain) await once(call.res, 'drain');
      }
      if (!translator.error) send(translator.push(decoder.decode()).concat(translator.end()));
    } catch (error) {
      transport = classifyTransportError(error, abort.signal.reason);
    }
    const usage: CompletionUsage | null = translator.usage;
    const promptTokens = usage?.prompt_tokens ?? call.plan.prompt_tokens;
    // Never recorded with zero tokens: without the provider's usage, the streamed text is counted.
    const completionTokens = usage?.completion_tokens ?? countPromptTokens(translator.outputText);
    const tokens = { prompt_tokens: promptTokens, completion_tokens: completionTokens, tokens_estimated: !usage, ttft_ms: ttft };
    if (transport?.kind === 'aborted' && call.clientGone.aborted) {
      // What was generated until the client left is still billed by the provider: record it.
      record({ ...tokens, success: false, circuit: 'none' });
      return { kind: 'gone' };
    }
    const broken: OpenAIError | null = transport
      ? transportError(transport)
      : translator.error
        ? upstreamError(502, translator.error)
        : !translator.completed
          ? new OpenAIError(502, 'The provider ended the stream before its end marker', 'api_error', 'upstream_stream_cut')
          : null;
    if (broken) {
      if (!sse.started) {
        failed('failure', ttft);
        return { kind: 'retry', error: broken };
      }
      sse.error(broken);
      record({ ...tokens, success: false, circuit: 'failure' });
      return { kind: 'answered' };
    }
    // An answer with no chunk at all still opens the stream, so the client sees [DONE].
    if (!sse.started) sse.open(this.headers(call, model, attempts, attempts === 1));
    sse.done();
    record({ ...tokens, success: true, circuit: 'success' });
    return { kind: 'answered' };
  }
}
