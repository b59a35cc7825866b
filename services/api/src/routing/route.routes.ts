import {
  type BudgetRoutePlan,
  type KeyGrant,
  countPromptTokens,
  route,
  type RouteQuery,
  type RoutingSnapshot,
  runtimeOf,
  type RoutingOptions,
  type RoutingStrategy,
  usdToNanos,
} from '@model-router/domain';
import { ApiError, clientKeyIdOf, validationError } from '@model-router/http';
import type { EventPublisher } from '@model-router/queue';
import type { Request, RequestHandler, Response } from 'express';
import { type AbAssigner, type Assignment, NEEDS_REDIS } from '../abtests/ab-assigner.js';
import { type Answer, applyAssignment, type Decided } from '../abtests/apply-assignment.js';
import { type BudgetRefusal, type BudgetTracker, refusalRetryAfter } from '../state/budget-tracker.js';
import { type ApiMetrics, childCache } from '../prometheus-metrics.js';
import type { KeyLimits } from '../keys/key-limits.js';
import { keyGrantFrom, keyMayJoinTest, restrictingGrant } from '../keys/key-scope.js';
import { assignTraced, traceDecision, traced } from './route-tracing.js';
import { parseRouteRequestFast, type RouteRequest, routeRequestSchema } from './route.schema.js';
import type { SnapshotStore } from '../state/snapshot-store.js';

export interface RouteDeps {
  snapshots: SnapshotStore;
  options: RoutingOptions;
  defaultStrategy: RoutingStrategy;
  metrics: ApiMetrics;
  publisher: EventPublisher;
  /** A/B assignment; null when A/B testing is disabled in config. */
  assigner: AbAssigner | null;
  /**
   * Takes one of a half-open circuit's trial permits (shared by every replica); false when none is
   * left. Called only when the chosen model's circuit is half-open, the one time routing reads Redis.
   */
  acquireTrial: ((modelId: string) => Promise<boolean>) | null;
  /** Called when a route event could not be stored (Redis down): the answer still goes out. */
  onEventLost: (error: unknown) => void;
  /** Budget enforcement from this replica's in-memory budget state; absent: budgets are not applied. */
  budgets?: BudgetTracker | null;
  /** The rate limits of the request's API key; absent: none are applied. */
  keyLimits?: KeyLimits | null;
}


function explainOf(decision: Decided) {
  return {
    candidates: decision.ranked.map((c) => ({
      model_id: c.model.id,
      score: Number(c.score.toFixed(6)),
      estimated_cost: c.estimated_cost,
      estimated_latency_ms: c.estimated_latency_ms,
    })),
    excluded: decision.excluded,
  };
}

/** The snapshot with one model's circuit taken as open (its half-open trials are used up). */
function withCircuitOpen(snapshot: RoutingSnapshot, modelId: string): RoutingSnapshot {
  const runtime = new Map(snapshot.runtime);
  runtime.set(modelId, { ...runtimeOf(snapshot, modelId), circuit: 'open' });
  return { ...snapshot, runtime };
}

/** 429 BUDGET_EXCEEDED naming the budgets, with Retry-After: until the earliest of their periods ends. */
function budgetExceeded(refusal: BudgetRefusal): ApiError {
  return new ApiError('BUDGET_EXCEEDED', refusal.message, { budgets: refusal.budgets, excluded: refusal.excluded }, refusalRetryAfter(refusal));
}

let lastIsoMs = 0;
let lastIso = '';
/** `new Date().toISOString()`, formatted once per millisecond (many route events share one). */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastIsoMs) {
    lastIsoMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

/** One route request on its way to an answer (an object, not closures: this is the hot path). */
interface Pending {
  body: RouteRequest;
  strategy: RoutingStrategy;
  explain: boolean;
  assignment: Assignment | null;
  snapshot: RoutingSnapshot;
  query: RouteQuery;
  budgetPlan: BudgetRoutePlan | undefined;
  /** `process.hrtime.bigint()` before tokenizing: the decision's start. */
  started: bigint;
  decision: Decided | null;
  answer: Answer | null;
}

/**
 * POST /api/v1/route: answers from the in-memory snapshot. Redis is read only for a weighted_random
 * A/B test and for a half-open circuit's trial permit; every other request is answered
 * synchronously (no promise, no extra turn of the event loop).
 */
class RouteEndpoint {
  private readonly decisionsOf;
  private readonly decisionSecondsOf: (strategy: string) => { observe(value: number): void };

  constructor(private readonly deps: RouteDeps) {
    this.decisionsOf = childCache((strategy, model, provider, abTest) =>
      deps.metrics.routeDecisions.labels(strategy, model, provider, abTest),
    );
    const decisionSeconds = new Map<string, { observe(value: number): void }>();
    this.decisionSecondsOf = (strategy: string) => {
      let child = decisionSeconds.get(strategy);
      if (!child) decisionSeconds.set(strategy, (child = deps.metrics.routeDecisionSeconds.labels(strategy)));
      return child;
    };
  }

  handle(req: Request, res: Response): Promise<void> | undefined {
    const { deps } = this;
    let body = parseRouteRequestFast(req.body);
    if (!body) {
      const parsed = routeRequestSchema.safeParse(req.body);
      if (!parsed.success) throw validationError(parsed.error);
      body = parsed.data;
    }
    const strategy = body.strategy ?? deps.defaultStrategy;
    const explain = req.query.explain === 'true' || req.query.explain === '1';
    // A stored key limited to some models: the routing filter, and no A/B test it cannot fully use.
    const grant = restrictingGrant(keyGrantFrom(res.locals));
    if (body.enable_ab_test && deps.assigner) {
      const current = deps.snapshots.current;
      const test = deps.assigner.pickTest(current.runningTestList, current.runningTests, body.ab_test_id);
      if (test && (grant === undefined || keyMayJoinTest(grant, test, current.modelsById))) {
        const now = traced() ? NEEDS_REDIS : deps.assigner.assignWithoutIo(test, body.user_id);
        if (now === NEEDS_REDIS) {
          return assignTraced(deps.assigner, test, body.user_id).then((assignment) =>
            this.answer(res, body, strategy, explain, assignment, grant),
          );
        }
        return this.answer(res, body, strategy, explain, now, grant);
      }
    }
    return this.answer(res, body, strategy, explain, null, grant);
  }

  private answer(
    res: Response,
    body: RouteRequest,
    strategy: RoutingStrategy,
    explain: boolean,
    assignment: Assignment | null,
    grant: KeyGrant | undefined,
  ): Promise<void> | undefined {
    const { deps } = this;
    if (assignment) deps.metrics.abAssignments.inc({ ab_test: assignment.test.id, variant: assignment.variant.id });
    const started = process.hrtime.bigint();
    const promptTokens = countPromptTokens(body.prompt);
    const p: Pending = {
      body,
      strategy,
      explain,
      assignment,
      snapshot: deps.snapshots.current,
      query: {
        prompt_tokens: promptTokens,
        max_tokens: body.max_tokens,
        strategy,
        required_capabilities: body.required_capabilities,
        providers: body.providers,
        max_cost_usd: body.max_cost_usd,
        max_latency_ms: body.max_latency_ms,
        // Undefined unless the key restricts models: the filter then costs nothing.
        key: grant,
      },
      budgetPlan: undefined,
      started,
      decision: null,
      answer: null,
    };
    // Budgets: models a budget removes for this request, and cheapest-first under a downgrade.
    const plan = deps.budgets?.plan(p.snapshot.models, {
      user_id: body.user_id,
      key_id: clientKeyIdOf(res.locals),
      prompt_tokens: promptTokens,
      max_tokens: body.max_tokens,
    });
    if (plan) {
      p.budgetPlan = plan;
      if (plan.blocked !== p.snapshot.budget_blocked) p.snapshot = { ...p.snapshot, budget_blocked: plan.blocked };
      if (plan.downgraded_by !== null) p.query.strategy = 'cheapest';
    }
    // A key with rate limits is counted in Redis first (the request's tokens: prompt + max_tokens).
    const admission = deps.keyLimits?.admit(res, promptTokens + body.max_tokens);
    if (admission) return this.afterAdmission(res, p, admission);
    return this.decideAndRespond(res, p);
  }

  private async afterAdmission(res: Response, p: Pending, admission: Promise<unknown>): Promise<void> {
    const waited = process.hrtime.bigint();
    await admission;
    // The decision's time leaves out the wait for Redis.
    p.started += process.hrtime.bigint() - waited;
    return this.decideAndRespond(res, p);
  }

  private decideAndRespond(res: Response, p: Pending): Promise<void> | undefined {
    this.decide(p);
    this.decisionSecondsOf(p.strategy).observe(Number(process.hrtime.bigint() - p.started) / 1e9);
    if (!this.halfOpen(p)) {
      this.respond(res, p);
      return undefined;
    }
    return this.withTrialPermit(res, p);
  }

  private decide(p: Pending): void {
    // Ranking every eligible model is needed only to explain; a decision needs the top few.
    const decision = route(p.snapshot, p.query, this.deps.options, { rankAll: p.explain });
    // Names the budget behind each exclusion; 429 BUDGET_EXCEEDED when budgets left nothing.
    const refusal = p.budgetPlan ? this.deps.budgets!.applyVerdict(decision, p.budgetPlan) : null;
    if (refusal) throw budgetExceeded(refusal);
    if (!decision.ok) {
      throw new ApiError('NO_ELIGIBLE_MODEL', 'no model satisfies the request', {
        prompt_tokens: p.query.prompt_tokens,
        excluded: decision.excluded,
      });
    }
    p.decision = decision;
    p.answer = p.assignment ? applyAssignment(decision, p.assignment, this.deps.options.max_fallbacks) : decision;
  }

  /** Is the chosen model's circuit half-open (so it needs one of the shared trial permits)? */
  private halfOpen(p: Pending): boolean {
    return this.deps.acquireTrial !== null && runtimeOf(p.snapshot, p.answer!.chosen.model.id).circuit === 'half_open';
  }

  /**
   * A half-open circuit admits a limited number of trial requests across all replicas: the one
   * case where the decision waits for Redis. Without a permit the model counts as open.
   */
  private async withTrialPermit(res: Response, p: Pending): Promise<void> {
    while (this.halfOpen(p)) {
      const modelId = p.answer!.chosen.model.id;
      if (await this.deps.acquireTrial!(modelId).catch(() => false)) break;
      p.snapshot = withCircuitOpen(p.snapshot, modelId);
      this.decide(p);
    }
    this.respond(res, p);
  }

  private respond(res: Response, p: Pending): void {
    const { deps } = this;
    const { body, strategy, assignment } = p;
    const decision = p.decision!;
    const { chosen, fallbacks, reason } = p.answer!;
    const promptTokens = p.query.prompt_tokens;
    traceDecision(p.started, { strategy, maxTokens: body.max_tokens, promptTokens, decision, chosen, fallbacks, assignment });
    const requestId = res.locals.requestId as string;
    this.decisionsOf(strategy, chosen.model.id, chosen.model.provider, assignment ? 'true' : 'false').inc();
    res.json({
      request_id: requestId,
      model_id: chosen.model.id,
      model_name: chosen.model.name,
      provider: chosen.model.provider,
      estimated_cost: chosen.estimated_cost,
      estimated_latency: `${Math.round(chosen.estimated_latency_ms)}ms`,
      estimated_latency_ms: chosen.estimated_latency_ms,
      prompt_tokens: promptTokens,
      strategy,
      reason,
      ab_test_id: assignment?.test.id ?? null,
      variant_id: assignment?.variant.id ?? null,
      is_ab_test: assignment !== null,
      fallbacks,
      ...(p.explain ? explainOf(decision) : {}),
    });
    // After the answer, and nobody waits for it: routing stays available when Redis is not, and a
    // lost event is counted. Built here from the validated request and the decision (no schema check).
    deps.publisher.publishDetached(
      'route.decided',
      {
        event_id: requestId,
        // X-Request-Id is chosen by the client: it deduplicates within the client's namespace only.
        key_id: clientKeyIdOf(res.locals),
        occurred_at: isoNow(),
        model_id: chosen.model.id,
        provider: chosen.model.provider,
        strategy,
        user_id: body.user_id ?? null,
        ab_test_id: assignment?.test.id ?? null,
        variant_id: assignment?.variant.id ?? null,
        ...(assignment?.probability != null ? { assignment_probability: assignment.probability } : {}),
        prompt_tokens: promptTokens,
        max_tokens: body.max_tokens,
        estimated_cost_nanos: usdToNanos(chosen.estimated_cost),
        estimated_latency_ms: chosen.estimated_latency_ms,
      },
      deps.onEventLost,
    );
  }
}

/** The Express handler of POST /api/v1/route (see RouteEndpoint). */
export function routeHandler(deps: RouteDeps): RequestHandler {
  const endpoint = new RouteEndpoint(deps);
  return (req, res, next) => {
    try {
      endpoint.handle(req, res)?.catch(next);
    } catch (error) {
      next(error);
    }
  };
}
