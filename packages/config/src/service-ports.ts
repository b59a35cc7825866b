import type { Config } from './schema.js';

/** Every process of Model Router, by the folder under services/ it is built from. */
export const SERVICE_NAMES = ['api', 'mock-provider', 'metric-aggregator', 'health-checker', 'cache-invalidator', 'budget-enforcer'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The port each process listens on (the API's HTTP port; the ops server of each worker, which
 * serves /healthz, /readyz and /metrics). One definition for the container health check and the
 * deployment manifests' checks.
 */
export function servicePort(config: Config, service: ServiceName): number {
  switch (service) {
    case 'api':
      return config.server.port;
    case 'mock-provider':
      return config.mock_provider.port;
    case 'metric-aggregator':
      return config.workers.metric_aggregator.ops_port;
    case 'health-checker':
      return config.workers.health_checker.ops_port;
    case 'cache-invalidator':
      return config.workers.cache_invalidator.ops_port;
    case 'budget-enforcer':
      return config.workers.budget_enforcer.ops_port;
  }
}

/** The environment variable that overrides each process's port (see ENV_OVERRIDES). */
export const SERVICE_PORT_VARIABLES: Readonly<Record<ServiceName, string>> = {
  api: 'PORT',
  'mock-provider': 'MOCK_PROVIDER_PORT',
  'metric-aggregator': 'METRIC_AGGREGATOR_PORT',
  'health-checker': 'HEALTH_CHECKER_PORT',
  'cache-invalidator': 'CACHE_INVALIDATOR_PORT',
  'budget-enforcer': 'BUDGET_ENFORCER_PORT',
};
