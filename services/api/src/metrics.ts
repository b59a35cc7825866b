import { Counter, Histogram, type Registry } from 'prom-client';

export interface ApiMetrics {
  routeDecisions: Counter<'strategy' | 'model' | 'provider' | 'ab_test'>;
  routeDecisionSeconds: Histogram<'strategy'>;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpRequestSeconds: Histogram<'method' | 'route'>;
  eventsLost: Counter<'event'>;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
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
    httpRequests: new Counter({
      name: 'model_router_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpRequestSeconds: new Histogram({
      name: 'model_router_http_request_duration_seconds',
      help: 'HTTP request duration, by method and route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    eventsLost: new Counter({
      name: 'model_router_events_lost_total',
      help: 'Events the API could not store in Redis (route events while Redis was down); accepted (202) events are never lost.',
      labelNames: ['event'],
      registers: [registry],
    }),
  };
}
