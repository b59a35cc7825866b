import { type CircuitState, HEALTH_STATES } from '@model-router/domain';
import type { ModelCircuitRuntime } from '@model-router/health';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PROBE_OUTCOMES, type ProbeResult } from './probe.js';

const CIRCUIT_CODE: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** The health checker's Prometheus metrics: circuit and health per model, probes and their latency. */
export class HealthMetrics {
  private readonly circuit: Gauge<'model'>;
  private readonly health: Gauge<'model' | 'state'>;
  private readonly probes: Counter<'model' | 'outcome'>;
  private readonly probeSeconds: Histogram;
  private readonly shown = new Set<string>();

  constructor(registry: Registry) {
    this.circuit = new Gauge({
      name: 'model_router_circuit_state',
      help: 'Circuit breaker state per model: 0 closed, 1 half_open, 2 open.',
      labelNames: ['model'],
      registers: [registry],
    });
    this.health = new Gauge({
      name: 'model_router_model_health',
      help: 'Model health: 1 for the model\'s current state (healthy, degraded, unhealthy, unknown), 0 for the others.',
      labelNames: ['model', 'state'],
      registers: [registry],
    });
    this.probes = new Counter({
      name: 'model_router_health_probes_total',
      help: 'Health probes of model endpoints, by model and outcome (ok, error, timeout, unreachable, refused).',
      labelNames: ['model', 'outcome'],
      registers: [registry],
    });
    this.probeSeconds = new Histogram({
      name: 'model_router_health_probe_seconds',
      help: 'Duration of health probes of model endpoints, failed ones included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  probed(modelId: string, result: ProbeResult): void {
    this.probes.inc({ model: modelId, outcome: result.outcome });
    this.probeSeconds.observe(result.latency_ms / 1000);
  }

  show(view: ModelCircuitRuntime): void {
    this.shown.add(view.model_id);
    this.circuit.set({ model: view.model_id }, CIRCUIT_CODE[view.circuit]);
    for (const state of HEALTH_STATES) this.health.set({ model: view.model_id, state }, state === view.health ? 1 : 0);
  }

  /** Drops the gauges of models no longer probed (deleted or disabled). */
  retainOnly(modelIds: Iterable<string>): void {
    const keep = new Set(modelIds);
    for (const model of this.shown) {
      if (keep.has(model)) continue;
      this.shown.delete(model);
      this.circuit.remove({ model });
      for (const state of HEALTH_STATES) this.health.remove({ model, state });
      for (const outcome of PROBE_OUTCOMES) this.probes.remove({ model, outcome });
    }
  }
}
