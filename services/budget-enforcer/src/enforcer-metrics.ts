import { Counter, Gauge, type Registry } from 'prom-client';

export interface EnforcerMetrics {
  spendUsd: Gauge<'budget'>;
  thresholdsCrossed: Counter<'budget' | 'threshold'>;
  costEvents: Counter<'outcome'>;
  webhookDeliveries: Counter<'outcome'>;
}

export function createEnforcerMetrics(registry: Registry): EnforcerMetrics {
  return {
    spendUsd: new Gauge({
      name: 'model_router_budget_spend_usd',
      help: "Each budget's committed spend in its current period, in USD.",
      labelNames: ['budget'],
      registers: [registry],
    }),
    thresholdsCrossed: new Counter({
      name: 'model_router_budget_threshold_crossed_total',
      help: 'budget.threshold_crossed alerts raised (each threshold once per budget period).',
      labelNames: ['budget', 'threshold'],
      registers: [registry],
    }),
    costEvents: new Counter({
      name: 'model_router_budget_cost_events_total',
      help: 'Cost events handled: "counted" (new, added to budgets), "duplicate" (already counted), "uncovered" (no budget covers them) or "dead_lettered" (refused by Postgres on their own, set aside; counted per attempt).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'model_router_budget_webhook_deliveries_total',
      help: 'Alert webhook attempts: "delivered" (2xx) or "failed" (retried by pg-boss until its attempts run out).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

