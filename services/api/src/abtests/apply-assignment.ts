import type { Candidate, RouteDecision } from '@model-router/domain';
import type { Assignment } from './ab-assigner.js';

/** A routing decision that found a model. */
export type Decided = RouteDecision & { ok: true };

/** What a route request answers: the model, its fallbacks, and why (/api/v1/route and the gateway). */
export interface Answer {
  chosen: Candidate;
  fallbacks: string[];
  reason: string;
}

/**
 * The variant's model wins when the filters left it eligible. When they did not (circuit open, over
 * budget, missing a required capability…) the request goes to the best eligible model and the
 * answer says why; the assignment is still reported, because the analysis is by assignment.
 */
export function applyAssignment(decision: Decided, assignment: Assignment, maxFallbacks: number): Answer {
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
