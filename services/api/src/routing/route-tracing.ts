import type { StoredAbTest } from '@model-router/database';
import type { RouteDecision, RoutingStrategy } from '@model-router/domain';
import { ATTR, tracingEnabled } from '@model-router/telemetry';
import { type Attributes, SpanStatusCode, trace } from '@opentelemetry/api';
import type { AbAssigner, Assignment } from '../abtests/ab-assigner.js';

/**
 * Spans of a route request: `abtest.assign` and `route.decide`, children of the request's span.
 * Each function first reads a boolean (is tracing on in this process?) and then looks for a recorded
 * span in context: with tracing off the route path pays that boolean and nothing else.
 */

const tracer = trace.getTracer('@model-router/api');

/** Is this request recorded by a tracer? (A boolean and nothing else when tracing is off.) */
export const traced = (): boolean => tracingEnabled() && trace.getActiveSpan()?.isRecording() === true;

/** Puts the user in a variant of `test`, inside an `abtest.assign` span when the request is traced. */
export async function assignTraced(assigner: AbAssigner, test: StoredAbTest, userId: string | undefined): Promise<Assignment | null> {
  if (!traced()) return assigner.assign(test, userId);
  return tracer.startActiveSpan(
    'abtest.assign',
    { attributes: { [ATTR.ABTEST_ID]: test.id, [ATTR.ABTEST_STRATEGY]: test.strategy } },
    async (span) => {
      try {
        const assignment = await assigner.assign(test, userId);
        span.setAttribute(ATTR.ABTEST_ASSIGNED, assignment !== null);
        if (assignment) {
          span.setAttribute(ATTR.ABTEST_VARIANT_ID, assignment.variant.id);
          span.setAttribute(ATTR.GEN_AI_REQUEST_MODEL, assignment.variant.model_id);
        }
        return assignment;
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

export interface DecisionTrace {
  strategy: RoutingStrategy;
  maxTokens: number;
  promptTokens: number;
  decision: RouteDecision & { ok: true };
  chosen: { model: { id: string; provider: string }; estimated_cost: number; estimated_latency_ms: number };
  fallbacks: readonly string[];
  assignment: Assignment | null;
}

/**
 * Records the decision as a `route.decide` span from `startedNs` (a `process.hrtime.bigint()` taken
 * before tokenizing) to now, after the fact: the decision itself stays a plain synchronous call.
 */
export function traceDecision(startedNs: bigint, d: DecisionTrace): void {
  if (!traced()) return;
  const endMs = performance.timeOrigin + performance.now();
  const startMs = endMs - Number(process.hrtime.bigint() - startedNs) / 1e6;
  const attributes: Attributes = {
    [ATTR.ROUTING_STRATEGY]: d.strategy,
    [ATTR.GEN_AI_REQUEST_MODEL]: d.chosen.model.id,
    [ATTR.GEN_AI_PROVIDER_NAME]: d.chosen.model.provider,
    [ATTR.GEN_AI_REQUEST_MAX_TOKENS]: d.maxTokens,
    [ATTR.ROUTING_PROMPT_TOKENS]: d.promptTokens,
    [ATTR.ROUTING_ELIGIBLE_MODELS]: d.decision.candidates.length,
    [ATTR.ROUTING_EXCLUDED_MODELS]: d.decision.excluded.length,
    [ATTR.ROUTING_ESTIMATED_COST_USD]: d.chosen.estimated_cost,
    [ATTR.ROUTING_ESTIMATED_LATENCY_MS]: d.chosen.estimated_latency_ms,
    [ATTR.ROUTING_FALLBACKS]: [...d.fallbacks],
  };
  if (d.assignment) {
    attributes[ATTR.ABTEST_ID] = d.assignment.test.id;
    attributes[ATTR.ABTEST_VARIANT_ID] = d.assignment.variant.id;
  }
  tracer.startSpan('route.decide', { startTime: startMs, attributes }).end(endMs);
}
