import {
  type Candidate,
  countPromptTokens,
  type Exclusion,
  type KeyGrant,
  type Model,
  route,
  type RouteQuery,
  type RoutingOptions,
  type RoutingStrategy,
} from '@model-router/domain';
import { contentText, requestedMaxTokens } from '@model-router/providers';
import type { AbAssigner, Assignment } from '../abtests/ab-assigner.js';
import { type BudgetRefusal, type BudgetTracker, refusalRetryAfter } from '../state/budget-tracker.js';
import { applyAssignment } from '../abtests/apply-assignment.js';
import { keyMayJoinTest, restrictingGrant } from '../keys/key-scope.js';
import type { ApiSnapshot, SnapshotStore } from '../state/snapshot-store.js';
import { type GatewayRequest, routerStrategyOf } from './chat-completions.schema.js';
import { OpenAIError } from './openai-error.js';

/** What the gateway will try for one request, best first, and why. */
export interface GatewayPlan {
  /** The models to try in order: the chosen one, then its fallbacks. */
  candidates: Candidate[];
  assignment: Assignment | null;
  /** The routing strategy, or null when the client named a registry model. */
  strategy: RoutingStrategy | null;
  /** The prompt's tokens, counted when first read (see PromptTokens). */
  readonly prompt_tokens: number;
  /** Completion tokens routed and reserved for: the request's max tokens, else the configured default. */
  max_tokens: number;
}

/** Who is calling: the API key (the tenant) whose budgets and allowed models apply. */
export interface GatewayTenant {
  /** The key's id (the events' `key_id`): its `key` budgets apply. */
  keyId: string;
  /** A stored key's grant (allowed models and providers); null for keys without one. */
  grant: KeyGrant | null;
}

export interface GatewayRouterDeps {
  snapshots: SnapshotStore;
  budgets: BudgetTracker | null;
  assigner: AbAssigner | null;
  options: RoutingOptions;
  maxAttempts: number;
  defaultMaxTokens: number;
}

/**
 * The prompt as the tokenizer sees it: every message's text, tool calls' names and arguments, and
 * the tool definitions (which providers bill as prompt tokens too).
 */
export function promptText(body: GatewayRequest): string {
  const parts: string[] = [];
  for (const message of body.messages) {
    parts.push(contentText(message.content ?? null));
    if (message.role === 'assistant' && message.tool_calls) {
      for (const call of message.tool_calls) parts.push(call.function.name, call.function.arguments);
    }
  }
  if (body.tools?.length) parts.push(JSON.stringify(body.tools));
  return parts.join('\n');
}

/**
 * A prompt's token count, made when first asked for: counting costs about a microsecond per token,
 * the largest part of a call with a long prompt, and many calls never need it (a named model, no
 * budgets, no tokens-per-minute limit, and the provider reports usage).
 */
export class PromptTokens {
  private counted: number | undefined;
  /** An upper bound of the count, with no counting: a token is at least one byte of UTF-8. */
  readonly bound: number;

  constructor(private readonly text: string) {
    this.bound = Buffer.byteLength(text, 'utf8');
  }

  count(): number {
    this.counted ??= countPromptTokens(this.text);
    return this.counted;
  }
}

/** The plan, its `prompt_tokens` counted when first read (a class: the getter lives on its prototype). */
class Plan implements GatewayPlan {
  constructor(
    readonly candidates: Candidate[],
    readonly assignment: Assignment | null,
    readonly strategy: RoutingStrategy | null,
    private readonly prompt: PromptTokens,
    readonly max_tokens: number,
  ) {}

  get prompt_tokens(): number {
    return this.prompt.count();
  }
}

/** A named model that routing left out, as the error OpenAI would answer for the same cause. */
function namedModelError(model: string, exclusion: Exclusion, snapshot: ApiSnapshot): OpenAIError {
  switch (exclusion.reason) {
    case 'disabled':
      return new OpenAIError(404, `The model '${model}' is disabled`, 'invalid_request_error', 'model_not_found', 'model');
    case 'key_not_allowed':
      return new OpenAIError(403, `This API key may not use the model '${model}'`, 'permission_error', 'key_not_allowed', 'model');
    case 'context_window_exceeded':
      return new OpenAIError(400, `The prompt and max tokens exceed the context window of '${model}'`, 'invalid_request_error', 'context_length_exceeded', 'messages');
    case 'max_output_tokens_exceeded':
      return new OpenAIError(400, `max_tokens is larger than the most '${model}' can produce`, 'invalid_request_error', 'invalid_value', 'max_tokens');
    case 'circuit_open':
      return new OpenAIError(503, `The model '${model}' is unavailable: its circuit breaker is open`, 'api_error', 'model_unavailable', 'model');
    case 'rate_limited': {
      const until = snapshot.rate_limited?.get(model) ?? Date.now() + 1000;
      const retryAfter = String(Math.max(1, Math.ceil((until - Date.now()) / 1000)));
      return new OpenAIError(429, `The model '${model}' is rate-limited by its provider`, 'rate_limit_error', 'rate_limit_exceeded', 'model', { 'Retry-After': retryAfter });
    }
    default:
      return new OpenAIError(400, `The model '${model}' does not satisfy the router options (${exclusion.reason})`, 'invalid_request_error', exclusion.reason, 'router');
  }
}

/** Budgets left no model: OpenAI's answer to a spent quota (429 insufficient_quota), naming the budget. */
function budgetExceeded(refusal: BudgetRefusal): OpenAIError {
  return new OpenAIError(429, refusal.message, 'insufficient_quota', 'budget_exceeded', null, refusalRetryAfter(refusal));
}

/**
 * Chooses what the gateway tries for a request with the same decision code as POST /api/v1/route
 * (filters, ranking, budgets, A/B assignment): a `router/<strategy>` model is routed, a registry
 * model id is checked by the same filters on its own.
 */
export class GatewayRouter {
  private readonly options: RoutingOptions;
  /**
   * A snapshot's view with one of its models only (a named model is checked on its own), kept per
   * snapshot and model: routing prepares each models list once, so a fresh list per request would
   * redo that work (and allocate its caches) every time.
   */
  private readonly single = new WeakMap<ApiSnapshot, Map<string, ApiSnapshot>>();

  constructor(private readonly deps: GatewayRouterDeps) {
    // Enough fallbacks ranked for every attempt allowed (one object: the router caches per options).
    this.options = { ...deps.options, max_fallbacks: Math.max(deps.options.max_fallbacks, deps.maxAttempts - 1) };
  }

  async plan(body: GatewayRequest, tenant: GatewayTenant): Promise<GatewayPlan> {
    const fromModel = routerStrategyOf(body.model);
    const snapshot = this.deps.snapshots.current;
    const prompt = new PromptTokens(promptText(body));
    const maxTokens = requestedMaxTokens(body) ?? this.deps.defaultMaxTokens;
    const options = body.router ?? {};
    const grant = restrictingGrant(tenant.grant);
    if (fromModel === null) {
      const model = snapshot.modelsById.get(body.model);
      if (!model) throw new OpenAIError(404, `The model '${body.model}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
      // A named model is checked on its own: the exact count matters only where a cost is compared
      // (router.max_cost_usd, budgets) or where the prompt may not fit the context window; elsewhere
      // its upper bound decides the same, and the count waits until something reads prompt_tokens.
      const exact = options.max_cost_usd !== undefined || (this.deps.budgets?.hasBudgets() ?? false) || prompt.bound + maxTokens > model.context_window;
      const query: RouteQuery = { ...this.query(body, exact ? prompt.count() : prompt.bound, maxTokens, grant), strategy: options.strategy ?? 'balanced' };
      const decision = this.decide(this.only(snapshot, model), query, body.user, tenant.keyId);
      if (!decision.ok) throw namedModelError(model.id, decision.excluded[0]!, snapshot);
      return new Plan([decision.chosen], null, null, prompt, maxTokens);
    }
    if (options.strategy !== undefined && options.strategy !== fromModel) {
      throw new OpenAIError(400, `router.strategy "${options.strategy}" contradicts the model "${body.model}"`, 'invalid_request_error', 'invalid_value', 'router.strategy');
    }
    const strategy = fromModel;
    let assignment: Assignment | null = null;
    const enableAb = options.enable_ab_test ?? body.user !== undefined;
    if (enableAb && this.deps.assigner) {
      const test = this.deps.assigner.pickTest(snapshot.runningTestList, snapshot.runningTests, options.ab_test_id);
      // A key that may not use every variant's model is in no test (see keyMayJoinTest).
      if (test && (grant === undefined || keyMayJoinTest(grant, test, snapshot.modelsById))) assignment = await this.deps.assigner.assign(test, body.user);
    }
    // Routing compares costs: the exact count.
    const decision = this.decide(snapshot, { ...this.query(body, prompt.count(), maxTokens, grant), strategy }, body.user, tenant.keyId);
    if (!decision.ok) {
      const reasons = [...new Set(decision.excluded.map((e) => e.reason))].join(', ');
      throw new OpenAIError(503, `No model satisfies the request (${reasons || 'no models'})`, 'api_error', 'no_eligible_model', 'model');
    }
    const answer = assignment ? applyAssignment(decision, assignment, this.options.max_fallbacks) : decision;
    const byId = new Map(decision.ranked.map((c) => [c.model.id, c]));
    const candidates = [answer.chosen, ...answer.fallbacks.map((id) => byId.get(id)!).filter((c) => c !== undefined)];
    return new Plan(candidates, assignment, strategy, prompt, maxTokens);
  }

  private only(snapshot: ApiSnapshot, model: Model): ApiSnapshot {
    let byModel = this.single.get(snapshot);
    if (!byModel) {
      byModel = new Map();
      this.single.set(snapshot, byModel);
    }
    let view = byModel.get(model.id);
    if (!view) {
      view = { ...snapshot, models: [model] };
      byModel.set(model.id, view);
    }
    return view;
  }

  private query(body: GatewayRequest, promptTokens: number, maxTokens: number, grant: KeyGrant | undefined): Omit<RouteQuery, 'strategy'> {
    const o = body.router ?? {};
    return {
      prompt_tokens: promptTokens,
      max_tokens: maxTokens,
      required_capabilities: o.required_capabilities,
      providers: o.providers,
      max_cost_usd: o.max_cost_usd,
      max_latency_ms: o.max_latency_ms,
      key: grant,
    };
  }

  /** Budgets' plan, the routing decision, and the budgets' verdict, exactly as /api/v1/route applies them. */
  private decide(snapshot: ApiSnapshot, query: RouteQuery, userId: string | undefined, keyId: string) {
    let view: ApiSnapshot = snapshot;
    const plan = this.deps.budgets?.plan(snapshot.models, { user_id: userId, key_id: keyId, prompt_tokens: query.prompt_tokens, max_tokens: query.max_tokens });
    if (plan) {
      if (plan.blocked !== snapshot.budget_blocked) view = { ...snapshot, budget_blocked: plan.blocked };
      if (plan.downgraded_by !== null) query = { ...query, strategy: 'cheapest' };
    }
    const decision = route(view, query, this.options, { rankAll: false });
    // 429 insufficient_quota when budgets left nothing.
    const refusal = plan ? this.deps.budgets!.applyVerdict(decision, plan) : null;
    if (refusal) throw budgetExceeded(refusal);
    return decision;
  }
}
