import type { CircuitStore } from '@model-router/health';
import { type EventHandler, handler } from '@model-router/queue';
import type { HealthMetrics } from './health.metrics.js';

/**
 * Passive health: outcome summaries (from reported metrics, or probes made elsewhere) applied to the
 * circuits. Summaries of one model are applied in the order of the batch; a retried batch may apply
 * some twice, which only weighs a few outcomes double in a short window.
 */
export function outcomesHandler(deps: { store: CircuitStore; metrics: HealthMetrics }): EventHandler<'model.outcomes'> {
  return handler({
    name: 'model.outcomes',
    async handle(events) {
      const now = Date.now();
      const views = await Promise.all(events.map((event) => deps.store.recordOutcomes(event.model_id, event, now)));
      for (const view of views) deps.metrics.show(view);
    },
  });
}
