import {
  type Candidate,
  countPromptTokens,
  route,
  type RouteQuery,
  type RoutingSnapshot,
  runtimeOf,
  type RouteDecision,
  type RoutingOptions,
  type RoutingStrategy,
} from '@model-router/domain';
import { ApiError, validationError } from '@model-router/http';
import { type EventPublisher, usdToNanos } from '@model-router/queue';
import express, { type RequestHandler, type Router } from 'express';
import type { AbAssigner, Assignment } from '../abtests/ab-assigner.js';
import type { BudgetTracker } from '../budgets/budget-tracker.js';
import { type ApiMetrics, childCache } from '../metrics.js';
import { assignTraced, traceDecision } from './route-tracing.js';
import { parseRouteRequestFast, routeRequestSchema } from './route.schema.js';
import type { SnapshotStore } from './snapshot-store.js';

export interface RouteDeps {
  snapshots: SnapshotStore;
  options: RoutingOptions;
  defaultStrategy: RoutingStrategy;
  metrics: ApiMetrics;
  requireClient: RequestHandler;
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
}

type Decided = RouteDecision & { ok: true };

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

interface Answer {
  chosen: Candidate;
  fallbacks: string[];
  reason: string;
}

/**
 * The variant's model wins when the filters left it eligible. When they did not (circuit open, over
 * budget, missing a required capability…) the request goes to the best eligible model and the
 * answer says why; the assignment is still reported, because the analysis is by assignment.
 */
function applyAssignment(decision: Decided, assignment: Assignment, maxFallbacks: number): Answer {
  const { test, variant } = assignment;
  const label = `A/B Test: ${test.id}, Variant: ${variant.id}`;
  const chosen = decision.candidates.find((c) => c.model.id === variant.model_id);
  if (chosen) {
    const fallbacks = decision.ranked.filter((c) => c !== chosen).slice(0, maxFallbacks).map((c) => c.model.id);
    return { chosen, fallbacks, reason: label };
  }
  const why = decision.excluded.find((e) => e.model_id === variant.model_id)?.reason ?? 'not_in_registry';
  return {
    chosen: decision.chosen,
    fallbacks: decision.fallbacks,
    reason: `${label} (variant model ${variant.model_id} unavailable: ${why}; routed to ${decision.chosen.model.id})`,
  };
}

/** The snapshot with one model's circuit taken as open (its half-open trials are used up). */
function withCircuitOpen(snapshot: RoutingSnapshot, modelId: string): RoutingSnapshot {
  const runtime = new Map(snapshot.runtime);
  runtime.set(modelId, { ...runtimeOf(snapshot, modelId), circuit: 'open' });
  return { ...snapshot, runtime };
}

/**
 * POST /api/v1/route: answers from the in-memory snapshot. Redis is read only for a weighted_random
 * A/B test and for a half-open circuit's trial permit.
 */
export function routeRoutes(deps: RouteDeps): Router {
  const router = express.Router();
  const decisionsOf = childCache((strategy, model, provider, abTest) =>
    deps.metrics.routeDecisions.labels(strategy, model, provider, abTest),
  );
  const decisionSecondsOf = childCache((strategy) => deps.metrics.routeDecisionSeconds.labels(strategy));
  router.post('/route', deps.requireClient, async (req, res) => {
    let body = parseRouteRequestFast(req.body);
    if (!body) {
      const parsed = routeRequestSchema.safeParse(req.body);
      if (!parsed.success) throw validationError(parsed.error);
      body = parsed.data;
    }
    const strategy = body.strategy ?? deps.defaultStrategy;
    const explain = req.query.explain === 'true' || req.query.explain === '1';
    let snapshot: RoutingSnapshot = deps.snapshots.current;
    const current = deps.snapshots.current;

    let assignment: Assignment | null = null;
    if (body.enable_ab_test && deps.assigner) {
      const test = deps.assigner.pickTest(current.runningTestList, current.runningTests, body.ab_test_id);
      if (test) assignment = await assignTraced(deps.assigner, test, body.user_id);
      if (assignment) deps.metrics.abAssignments.inc({ ab_test: assignment.test.id, variant: assignment.variant.id });
    }

    const started = process.hrtime.bigint();
    const promptTokens = countPromptTokens(body.prompt);
    const query: RouteQuery = {
      prompt_tokens: promptTokens,
      max_tokens: body.max_tokens,
      strategy,
      required_capabilities: body.required_capabilities,
      providers: body.providers,
      max_cost_usd: body.max_cost_usd,
      max_latency_ms: body.max_latency_ms,
    };
    // Budgets: models a budget removes for this request, and cheapest-first under a downgrade.
    const budgetPlan = deps.budgets?.plan(snapshot.models, { user_id: body.user_id, prompt_tokens: promptTokens, max_tokens: body.max_tokens });
    if (budgetPlan) {
      if (budgetPlan.blocked !== snapshot.budget_blocked) snapshot = { ...snapshot, budget_blocked: budgetPlan.blocked };
      if (budgetPlan.downgraded_by !== null) query.strategy = 'cheapest';
    }
    const decide = (): [Decided, Answer] => {
      // Ranking every eligible model is needed only to explain; a decision needs the top few.
      const decision = route(snapshot, query, deps.options, { rankAll: explain });
      // Names the budget behind each exclusion; 429 BUDGET_EXCEEDED when budgets left nothing.
      if (budgetPlan) deps.budgets!.applyVerdict(decision, budgetPlan);
      if (!decision.ok) {
        throw new ApiError('NO_ELIGIBLE_MODEL', 'no model satisfies the request', {
          prompt_tokens: promptTokens,
          excluded: decision.excluded,
        });
      }
      return [decision, assignment ? applyAssignment(decision, assignment, deps.options.max_fallbacks) : decision];
    };
    let [decision, answer] = decide();
    decisionSecondsOf(strategy).observe(Number(process.hrtime.bigint() - started) / 1e9);

    // A half-open circuit admits a limited number of trial requests across all replicas.
    while (deps.acquireTrial && runtimeOf(snapshot, answer.chosen.model.id).circuit === 'half_open') {
      if (await deps.acquireTrial(answer.chosen.model.id).catch(() => false)) break;
      snapshot = withCircuitOpen(snapshot, answer.chosen.model.id);
      [decision, answer] = decide();
    }
    const { chosen, fallbacks, reason } = answer;
    traceDecision(started, { strategy, maxTokens: body.max_tokens, promptTokens, decision, chosen, fallbacks, assignment });
    const requestId = res.locals.requestId as string;
    decisionsOf(strategy, chosen.model.id, chosen.model.provider, assignment ? 'true' : 'false').inc();
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
      ...(explain ? explainOf(decision) : {}),
    });
    // After the answer: routing stays available when Redis is not, and a lost event is counted.
    deps.publisher
      .publish(
        'route.decided',
        {
        event_id: requestId,
        occurred_at: new Date().toISOString(),
        model_id: chosen.model.id,
        provider: chosen.model.provider,
        strategy,
        user_id: body.user_id ?? null,
        ab_test_id: assignment?.test.id ?? null,
        variant_id: assignment?.variant.id ?? null,
        prompt_tokens: promptTokens,
        max_tokens: body.max_tokens,
        estimated_cost_nanos: usdToNanos(chosen.estimated_cost),
        estimated_latency_ms: chosen.estimated_latency_ms,
        },
        // Built here from the validated request and the decision: no second schema check.
        { trusted: true },
      )
      .catch(deps.onEventLost);
  });
  return router;
}
