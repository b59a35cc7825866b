import { Counter, Histogram, type Registry } from 'prom-client';

export interface AggregatorMetrics {
  batchSize: Histogram<'event'>;
  events: Counter<'event' | 'outcome'>;
  lagSeconds: Histogram<'event'>;
  batchSeconds: Histogram<'event'>;
  guardrailTrips: Counter<'ab_test' | 'variant' | 'metric'>;
}

export function createAggregatorMetrics(registry: Registry): AggregatorMetrics {
  return {
    batchSize: new Histogram({
      name: 'model_router_aggregator_batch_size',
      help: 'Events per job (batch) handled by the metric aggregator.',
      labelNames: ['event'],
      buckets: [1, 10, 50, 100, 250, 500, 750, 1000],
      registers: [registry],
    }),
    events: new Counter({
      name: 'model_router_aggregator_events_total',
      help: 'Events handled: outcome "inserted" (written for the first time), "duplicate" (already in the ledger) or "dead_lettered" (refused by Postgres on its own, set aside; counted per attempt).',
      labelNames: ['event', 'outcome'],
      registers: [registry],
    }),
    lagSeconds: new Histogram({
      name: 'model_router_aggregator_lag_seconds',
      help: 'From acceptance (metric events: accepted_at; route events: occurred_at) to the commit that persisted the event.',
      labelNames: ['event'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'model_router_aggregator_batch_seconds',
      help: 'Time to persist one batch (ledger, raw rows and rollups in one transaction).',
      labelNames: ['event'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    guardrailTrips: new Counter({
      name: 'model_router_abtest_guardrail_tripped_total',
      help: 'abtest.guardrail_tripped: A/B tests paused by a guardrail (per test, treatment and metric).',
      labelNames: ['ab_test', 'variant', 'metric'],
      registers: [registry],
    }),
  };
}
