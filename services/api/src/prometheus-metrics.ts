import { createHttpMetrics } from '@model-router/http';
import { Counter, Histogram, type Registry } from 'prom-client';

export interface ApiMetrics {
  routeDecisions: Counter<'strategy' | 'model' | 'provider' | 'ab_test'>;
  routeDecisionSeconds: Histogram<'strategy'>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpRequestSeconds: Histogram<'method' | 'route'>;
  eventsLost: Counter<'event'>;
  abAssignments: Counter<'ab_test' | 'variant'>;
  gatewayAttempts: Counter<'model' | 'provider' | 'outcome'>;
  keyRateLimited: Counter<'limit'>;
  keyRateLimitUnavailable: Counter;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  const http = createHttpMetrics(registry);
  return {
    routeDecisions: new Counter({
      name: 'model_router_route_decisions_total',
      help: 'Answered route requests, by strategy, chosen model, its provider and whether an A/B test decided.',
      labelNames: ['strategy', 'model', 'provider', 'ab_test'],
      registers: [registry],
    }),
    routeDecisionSeconds: new Histogram({
      name: 'model_router_route_decision_seconds',
      help: 'Time to compute a routing decision in process (tokenizing the prompt included).',
      labelNames: ['strategy'],
      // Microsecond buckets: a decision is expected to take tens of microseconds.
      buckets: [5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3],
      registers: [registry],
    }),
    httpRequests: http.requests,
    httpRequestSeconds: http.duration,
    eventsLost: new Counter({
      name: 'model_router_events_lost_total',
      help: 'Events the API could not store in Redis (route events while Redis was down); accepted (202) events are never lost.',
      labelNames: ['event'],
      registers: [registry],
    }),
    abAssignments: new Counter({
      name: 'model_router_abtest_assignments_total',
      help: 'Route requests put in an A/B test variant, by test and variant (tests are few and have at most 10 variants).',
      labelNames: ['ab_test', 'variant'],
      registers: [registry],
    }),
    gatewayAttempts: new Counter({
      name: 'model_router_gateway_attempts_total',
      help: 'Upstream calls made by the gateway, by model, provider and outcome (success, failure, client_error, client_gone).',
      labelNames: ['model', 'provider', 'outcome'],
      registers: [registry],
    }),
    keyRateLimited: new Counter({
      name: 'model_router_key_rate_limited_total',
      help: 'Requests refused with 429 RATE_LIMITED because their API key was over its requests (rpm) or tokens (tpm) per minute, by the limit reached.',
      labelNames: ['limit'],
      registers: [registry],
    }),
    keyRateLimitUnavailable: new Counter({
      name: 'model_router_key_rate_limit_unavailable_total',
      help: 'Rate-limit checks and corrections of API keys that could not reach Redis; the requests went through uncounted (fail-open).',
      registers: [registry],
    }),
  };
}

/**
 * Caches a metric's labelled children by their label values, so the hot path does not rebuild and
 * hash a label object on every request.
 */
export function childCache<T>(make: (...values: string[]) => T): (...values: string[]) => T {
  const cache = new Map<string, T>();
  return (...values) => {
    const key = values.join('\u0000');
    let child = cache.get(key);
    if (!child) {
      child = make(...values);
      cache.set(key, child);
    }
    return child;
  };
}
