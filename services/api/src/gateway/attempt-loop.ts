import { performance } from 'node:perf_hooks';
import type { BudgetReservations } from '@model-router/budgets';
import { ENV_OVERRIDES } from '@model-router/config';
import { callCost, countPromptTokens, estimateCost, type Model, nanosToUsd, runtimeOf, usdToNanos } from '@model-router/domain';
import { randomHex128, randomUuid } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import {
  adapterFor,
  type ChatCompletion,
  type ChatCompletionRequest,
  type CompletionUsage,
  type ProviderAdapter,
  type ProviderError,
  type ResponseContext,
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
import { StreamedAnswer } from './streamed-answer.js';
import {
  BodyReadError,
  classifyTransportError,
  type TransportFailure,
  type UpstreamClient,
  bodyText,
  type ResponseHeaders,
  UpstreamTransportError,
  type WholeResponse,
} from './upstream-client.js';

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
  /** Whether the client went away; its leaving aborts the upstream call in flight. */
  client: ClientPresence;
  /** Epoch ms after which no attempt starts and the current one is cut. */
  deadline: number;
  /** Tokens (prompt + completion) the attempts used, as recorded; the loop adds to it. */
  used?: { tokens: number };
}

/**
 * The client's side of a gateway request: whether it went away, and the upstream call to abort at
 * once when it does (a flag and a field: no AbortController nor listener per request and attempt).
 */
export class ClientPresence {
  gone = false;
  private current: AbortController | null = null;

  /** The client went away (its own timeout, a cancel): the upstream call in flight is aborted. */
  leave(): void {
    if (this.gone) return;
    this.gone = true;
    if (this.current) abortWith(this.current, 'aborted', 'the client went away');
  }

  /** The upstream call now in flight (null: none); the client leaving aborts it. */
  watch(abort: AbortController | null): void {
    this.current = abort;
  }
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

const GONE: AttemptEnd = { kind: 'gone' };
const ANSWERED: AttemptEnd = { kind: 'answered' };
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** What is recorded of an attempt beyond who made it (the rest comes from the `Attempt`). */
type AttemptOutcome = Pick<AttemptRecord, 'success' | 'circuit' | 'prompt_tokens' | 'completion_tokens' | 'tokens_estimated' | 'ttft_ms'>;

/**
 * One upstream call in flight: what its steps (the call, the answer's reading, the recording)
 * share, as one object instead of a dozen parameters and closures per call.
 */
interface Attempt {
  call: GatewayCall;
  model: Model;
  adapter: ProviderAdapter;
  /** The metric event's id, also the budget reservation's. */
  eventId: string;
  /** A budget reservation is held for this attempt. */
  reserved: boolean;
  /** 1 for the first model tried: only it carries the A/B assignment. */
  number: number;
  /** performance.now() when the call started. */
  started: number;
  /** Aborts the upstream call: timeouts, the client leaving. */
  abort: AbortController;
  totalTimer: NodeJS.Timeout;
  firstByteTimer: NodeJS.Timeout;
  /** Milliseconds to the answer's first byte (the first token when streaming), once it came. */
  ttft: number | null;
}

/** Aborts an upstream call with a classified transport error (a timer's callback: no closure per call). */
function abortWith(abort: AbortController, kind: TransportFailure, message: string): void {
  abort.abort(new UpstreamTransportError(kind, new Error(message)));
}

/** The gateway's own id, creation time and model name on an answer. */
function responseContext(model: Model): ResponseContext {
  return { model: model.id, id: `chatcmpl-${randomHex128()}`, created: Math.floor(Date.now() / 1000) };
}

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
      if (attempts >= options.maxAttempts || call.client.gone) break;
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
      const eventId = randomUuid();
      const reserved = await this.reserve(eventId, model, call);
      attempts++;
      const end = await this.attempt(call, model, adapter, request, eventId, reserved, attempts);
      if (end.kind === 'answered' || end.kind === 'gone') return;
      last = end.error;
      if (end.kind === 'final') break;
    }
    if (call.client.gone) return;
    const error = last ?? new OpenAIError(503, 'No model could be tried: every candidate is rate-limited or its circuit is open', 'api_error', 'no_eligible_model', 'model');
    res.set({ 'x-request-id': call.requestId, 'x-router-request-id': call.requestId, 'x-router-attempts': String(attempts) });
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

  private headers(a: Attempt): Record<string, string> {
    const headers: Record<string, string> = {
      // The route's request id middleware leaves x-request-id to the answer (requestIdWrittenByRoute).
      'x-request-id': a.call.requestId,
      'x-router-request-id': a.call.requestId,
      'x-router-model': a.model.id,
      'x-router-provider': a.model.provider,
      'x-router-attempts': String(a.number),
    };
    const assignment = a.call.plan.assignment;
    if (assignment && a.number === 1) {
      headers['x-router-ab-test'] = assignment.test.id;
      headers['x-router-variant'] = assignment.variant.id;
    }
    return headers;
  }

  /** Records how the attempt ended (never throws, never waits: the answer does not wait for it). */
  private record(a: Attempt, r: AttemptOutcome): void {
    if (a.call.used) a.call.used.tokens += r.prompt_tokens + r.completion_tokens;
    const isFirst = a.number === 1;
    const assignment = isFirst ? a.call.plan.assignment : null;
    this.deps.recorder.record({
      success: r.success,
      circuit: r.circuit,
      prompt_tokens: r.prompt_tokens,
      completion_tokens: r.completion_tokens,
      tokens_estimated: r.tokens_estimated,
      ttft_ms: r.ttft_ms,
      event_id: a.eventId,
      key_id: a.call.keyId,
      request_id: a.call.requestId,
      model: a.model,
      latency_ms: performance.now() - a.started,
      user_id: a.call.body.user ?? null,
      // The assignment is about the variant's call: the first attempt, not the fallbacks.
      ab_test_id: assignment?.test.id ?? null,
      variant_id: assignment?.variant.id ?? null,
      reserved: a.reserved,
    });
  }

  /** Records a failed attempt that produced no tokens. */
  private failed(a: Attempt, circuit: CircuitOutcome, ttft: number | null = null): void {
    this.record(a, { success: false, circuit, prompt_tokens: 0, completion_tokens: 0, tokens_estimated: false, ttft_ms: ttft });
  }

  /** The first byte of the answer arrived: the first-byte timeout stops, and the time to it is kept. */
  private firstByte(a: Attempt): number {
    clearTimeout(a.firstByteTimer);
    a.ttft = performance.now() - a.started;
    return a.ttft;
  }

  /** One upstream call, from the request to the recorded outcome. */
  private async attempt(call: GatewayCall, model: Model, adapter: ProviderAdapter, request: UpstreamRequest, eventId: string, reserved: boolean, number: number): Promise<AttemptEnd> {
    const { options } = this.deps;
    const abort = new AbortController();
    const total = Math.max(1, Math.min(model.timeout_ms ?? options.timeoutMs, call.deadline - Date.now()));
    const a: Attempt = {
      call,
      model,
      adapter,
      eventId,
      reserved,
      number,
      started: performance.now(),
      abort,
      totalTimer: setTimeout(abortWith, total, abort, 'timeout', `no complete answer within ${total} ms`),
      firstByteTimer: setTimeout(abortWith, options.firstByteTimeoutMs, abort, 'first_byte_timeout', `no first byte within ${options.firstByteTimeoutMs} ms`),
      ttft: null,
    };
    call.client.watch(abort);

    try {
      return call.body.stream === true ? await this.attemptStream(a, request) : await this.attemptWhole(a, request);
    } finally {
      clearTimeout(a.totalTimer);
      clearTimeout(a.firstByteTimer);
      call.client.watch(null);
    }
  }

  /** A non-streamed call: the answer is read whole, then translated. */
  private async attemptWhole(a: Attempt, request: UpstreamRequest): Promise<AttemptEnd> {
    let answer: WholeResponse;
    try {
      answer = await this.deps.client.sendWhole(request, a.abort.signal, () => this.firstByte(a));
    } catch (error) {
      if (error instanceof BodyReadError) {
        this.noteRateLimits(a.model, error.statusCode, error.headers);
        if (error.statusCode >= 200 && error.statusCode < 300) return this.unreadable(a, error.cause);
        return this.upstreamFailure(a, error.statusCode, '');
      }
      return this.transportFailure(a, error);
    }
    this.noteRateLimits(a.model, answer.statusCode, answer.headers);
    if (answer.statusCode < 200 || answer.statusCode >= 300) return this.upstreamFailure(a, answer.statusCode, bodyText(answer.body));
    return this.answerJson(a, answer.body);
  }

  /** A streamed call: the answer is translated and written as it comes. */
  private async attemptStream(a: Attempt, request: UpstreamRequest): Promise<AttemptEnd> {
    const { call } = a;
    const answer = new StreamedAnswer(
      a.adapter,
      call.res,
      { ...responseContext(a.model), includeUsage: call.body.stream_options?.include_usage === true },
      {
        headers: (statusCode, headers) => this.noteRateLimits(a.model, statusCode, headers),
        opening: () => {
          this.firstByte(a);
          return this.headers(a);
        },
      },
    );
    let transport: UpstreamTransportError | null = null;
    try {
      await this.deps.client.stream(request, a.abort.signal, answer);
    } catch (error) {
      transport = classifyTransportError(error, a.abort.signal.reason);
    }
    if (answer.failure) throw answer.failure;
    if (answer.statusCode === 0) return this.transportFailure(a, transport);
    if (answer.statusCode < 200 || answer.statusCode >= 300) return this.upstreamFailure(a, answer.statusCode, answer.errorText());
    if (!transport) answer.end();
    return this.streamEnded(a, answer, transport);
  }

  /** No answer (or it was lost): the client left, or the next model may be tried. */
  private transportFailure(a: Attempt, error: unknown): AttemptEnd {
    const e = classifyTransportError(error, a.abort.signal.reason);
    if (e.kind === 'aborted') {
      this.failed(a, 'none', a.ttft);
      return GONE;
    }
    this.failed(a, 'failure', a.ttft);
    return { kind: 'retry', error: transportError(e) };
  }

  /** A success whose body could not be read or parsed. */
  private unreadable(a: Attempt, error: unknown): AttemptEnd {
    this.failed(a, 'failure', a.ttft);
    return { kind: 'retry', error: new OpenAIError(502, `The provider's answer could not be read: ${(error as Error).message}`, 'api_error', 'upstream_invalid_response') };
  }

  /** The provider answered an error status: the next model when the provider is at fault, else the client's error. */
  private upstreamFailure(a: Attempt, status: number, text: string): AttemptEnd {
    const e = upstreamError(status, a.adapter.parseError(status, text));
    const providerAtFault = RETRYABLE_STATUS(status) || MISCONFIGURED_STATUS(status);
    this.failed(a, providerAtFault ? 'failure' : 'success', performance.now() - a.started);
    return providerAtFault ? { kind: 'retry', error: e } : { kind: 'final', error: e };
  }

  private noteRateLimits(model: Model, statusCode: number, headers: ResponseHeaders): void {
    const until = rateLimitedUntil(statusCode, headers, Date.now());
    if (until === null) return;
    this.deps.rateLimits.limit(model.id, until).catch((error: unknown) => this.deps.logger.warn('could not share a rate limit', { err: error, model_id: model.id }));
  }

  /** A whole (non-streamed) answer: translated, sent with its cost, recorded. */
  private answerJson(a: Attempt, body: Buffer): AttemptEnd {
    const ttft = a.ttft;
    let completion: ChatCompletion;
    try {
      completion = a.adapter.parseResponse(JSON.parse(bodyText(body)), responseContext(a.model));
    } catch (error) {
      return this.unreadable(a, error);
    }
    const usage = completion.usage;
    const promptTokens = usage?.prompt_tokens ?? a.call.plan.prompt_tokens;
    const completionTokens = usage?.completion_tokens ?? countPromptTokens(completionText(completion));
    const headers = this.headers(a);
    headers['x-router-cost-usd'] = String(callCost(a.model, promptTokens, completionTokens));
    headers['content-type'] = JSON_CONTENT_TYPE;
    // Node's own response calls: what express's res.set().json() would send, without its per-call
    // work. The length goes in the headers: after writeHead, Node cannot add it and would chunk.
    const json = JSON.stringify(completion);
    headers['content-length'] = String(Buffer.byteLength(json));
    a.call.res.writeHead(200, headers).end(json);
    this.record(a, { success: true, circuit: 'success', prompt_tokens: promptTokens, completion_tokens: completionTokens, tokens_estimated: !usage, ttft_ms: ttft });
    return ANSWERED;
  }

  /** A streamed answer is over (whole, cut or left by the client): its end goes out, and it is recorded. */
  private streamEnded(a: Attempt, answer: StreamedAnswer, transport: UpstreamTransportError | null): AttemptEnd {
    const { call } = a;
    const { translator, sse } = answer;
    const usage: CompletionUsage | null = translator.usage;
    const promptTokens = usage?.prompt_tokens ?? call.plan.prompt_tokens;
    // Never recorded with zero tokens: without the provider's usage, the streamed text is counted.
    const completionTokens = usage?.completion_tokens ?? countPromptTokens(translator.outputText);
    const tokens = { prompt_tokens: promptTokens, completion_tokens: completionTokens, tokens_estimated: !usage, ttft_ms: a.ttft };
    if (transport?.kind === 'aborted' && call.client.gone) {
      // What was generated until the client left is still billed by the provider: record it.
      this.record(a, { ...tokens, success: false, circuit: 'none' });
      return GONE;
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
        this.failed(a, 'failure', a.ttft);
        return { kind: 'retry', error: broken };
      }
      sse.error(broken);
      this.record(a, { ...tokens, success: false, circuit: 'failure' });
      return ANSWERED;
    }
    // An answer with no chunk at all still opens the stream, so the client sees [DONE].
    if (!sse.started) sse.open(this.headers(a));
    sse.done();
    this.record(a, { ...tokens, success: true, circuit: 'success' });
    return ANSWERED;
  }
}
