import type { ModelRepository } from '@model-router/database';
import { type EndpointPolicy, singleOutcome } from '@model-router/domain';
import type { CircuitStore } from '@model-router/health';
import type { Logger } from '@model-router/logger';
import { type EventHandler, handler } from '@model-router/queue';
import type { HealthMetrics } from './health.metrics.js';
import { forEachLimit, probeModel } from './probe.js';

export interface ProbeHandlerDeps {
  models: ModelRepository;
  store: CircuitStore;
  metrics: HealthMetrics;
  logger: Logger;
  timeoutMs: number;
  /** Endpoints probed at once. */
  concurrency: number;
  /** Which endpoints may be probed (security.allow_private_endpoints). */
  endpointPolicy: EndpointPolicy;
  /** For tests: answers probes instead of HTTP (see ProbeOptions.fetch). */
  fetch?: typeof fetch;
}

/**
 * One tick of the schedule: probe every enabled model that has an endpoint and record each result
 * as an outcome (a probe counts as a trial when the circuit is half-open). Models without an
 * endpoint are not probed, but their lazy transitions (open → half-open after the cooldown, health
 * as the window empties) are made real and announced, so replicas learn of them.
 */
export function probeHandler(deps: ProbeHandlerDeps): EventHandler<'health.probe'> {
  // Ticks can overlap when probes are slow; a second run at once would only double the load.
  let running = false;
  // A refused endpoint is logged once per model and reason, not on every tick.
  const warned = new Set<string>();
  return handler({
    name: 'health.probe',
    async handle() {
      if (running) return;
      running = true;
      try {
        await probeAll(deps, warned);
      } finally {
        running = false;
      }
    },
  });
}

async function probeAll(deps: ProbeHandlerDeps, warned: Set<string>): Promise<void> {
  const enabled = (await deps.models.list()).filter((m) => m.enabled);
  const probed = enabled.flatMap((m) => (m.endpoint ? [{ id: m.id, endpoint: m.endpoint }] : []));
  const results = await forEachLimit(probed, deps.concurrency, async (model) => {
    const result = await probeModel(model, {
      timeoutMs: deps.timeoutMs,
      policy: deps.endpointPolicy,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    deps.metrics.probed(model.id, result);
    if (result.refusal && !warned.has(`${model.id} ${result.refusal}`)) {
      warned.add(`${model.id} ${result.refusal}`);
      deps.logger.warn('model endpoint refused: not probed, counted as a failure', { model: model.id, reason: result.refusal });
    }
    const view = await deps.store.recordOutcomes(model.id, singleOutcome(result.outcome === 'ok', result.latency_ms));
    deps.metrics.show(view);
    if (result.outcome !== 'ok') {
      deps.logger.debug('probe failed', { model: model.id, outcome: result.outcome, status: result.status, circuit: view.circuit });
    }
  });
  const unprobed = enabled.filter((m) => !m.endpoint).map((m) => m.id);
  for (const view of (await deps.store.refresh(unprobed)).values()) deps.metrics.show(view);
  deps.metrics.retainOnly(enabled.map((m) => m.id));

  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0) {
    // The probes ran but their results could not be stored (Redis away): fail the tick visibly.
    throw new Error(`could not record ${failed.length} of ${probed.length} probe results: ${String(failed[0])}`);
  }
}
