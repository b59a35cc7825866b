import {
  countPromptTokens,
  route,
  type RouteDecision,
  type RoutingOptions,
  type RoutingStrategy,
} from '@model-router/domain';
import { ApiError, validationError } from '@model-router/http';
import { type EventPublisher, usdToNanos } from '@model-router/queue';
import express, { type RequestHandler, type Router } from 'express';
import type { ApiMetrics } from '../metrics.js';
import { routeRequestSchema } from './route.schema.js';
import type { SnapshotStore } from './snapshot-store.js';

export interface RouteDeps {
  snapshots: SnapshotStore;
  options: RoutingOptions;
  defaultStrategy: RoutingStrategy;
  metrics: ApiMetrics;
  requireClient: RequestHandler;
  publisher: EventPublisher;
  /** Called when a route event could not be stored (Redis down): the answer still goes out. */
  onEventLost: (error: unknown) => void;
}

function explainOf(decision: RouteDecision & { ok: true }) {
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

/** POST /api/v1/route: answers from the in-memory snapshot only; no I/O before the answer. */
export function routeRoutes(deps: RouteDeps): Router {
  const router = express.Router();
  router.post('/route', deps.requireClient, (req, res) => {
    const parsed = routeRequestSchema.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error);
    const body = parsed.data;
    const strategy = body.strategy ?? deps.defaultStrategy;
    const explain = req.query.explain === 'true' || req.query.explain === '1';

    const started = process.hrtime.bigint();
    const promptTokens = countPromptTokens(body.prompt);
    const decision = route(
      deps.snapshots.current,
      {
        prompt_tokens: promptTokens,
        max_tokens: body.max_tokens,
        strategy,
        required_capabilities: body.required_capabilities,
        providers: body.providers,
        max_cost_usd: body.max_cost_usd,
        max_latency_ms: body.max_latency_ms,
      },
      deps.options,
    );
    deps.metrics.routeDecisionSeconds.observe({ strategy }, Number(process.hrtime.bigint() - started) / 1e9);

    if (!decision.ok) {
      throw new ApiError('NO_ELIGIBLE_MODEL', 'no model satisfies the request', {
        prompt_tokens: promptTokens,
        excluded: decision.excluded,
      });
    }
    const { chosen } = decision;
    const requestId = res.locals.requestId as string;
    deps.metrics.routeDecisions.inc({
      strategy,
      model: chosen.model.id,
      provider: chosen.model.provider,
      ab_test: 'false',
    });
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
      reason: decision.reason,
      ab_test_id: null,
      variant_id: null,
      is_ab_test: false,
      fallbacks: decision.fallbacks,
      ...(explain ? explainOf(decision) : {}),
    });
    // After the answer: routing stays available when Redis is not, and a lost event is counted.
    deps.publisher
      .publish('route.decided', {
        event_id: requestId,
        occurred_at: new Date().toISOString(),
        model_id: chosen.model.id,
        provider: chosen.model.provider,
        strategy,
        user_id: body.user_id ?? null,
        ab_test_id: null,
        variant_id: null,
        prompt_tokens: promptTokens,
        max_tokens: body.max_tokens,
        estimated_cost_nanos: usdToNanos(chosen.estimated_cost),
        estimated_latency_ms: chosen.estimated_latency_ms,
      })
      .catch(deps.onEventLost);
  });
  return router;
}
