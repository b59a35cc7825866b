/**
 * Development and production mode: which settings a production start refuses, and the defaults
 * that differ between the two modes. Every process asks here, so the modes mean the same
 * everywhere.
 */
import { ConfigError, loadConfig } from './load.js';
import type { Config } from './schema.js';

/** The admin key shipped in configs/model-router.yaml and docker-compose.yml: public, development only. */
export const DEVELOPMENT_ADMIN_API_KEY = 'dev-admin-key-change-me';

/** Production mode: NODE_ENV=production (service.environment) or server.mode: production. */
export function isProductionMode(config: Config): boolean {
  return config.service.environment === 'production' || config.server.mode === 'production';
}

/** The client keys of the route and ingestion endpoints, from either way of writing them. */
function clientKeys(config: Config): readonly string[] {
  return [...(config.auth.client_api_key ? [config.auth.client_api_key] : []), ...config.auth.client_api_keys.map((k) => k.key)];
}

/**
 * What production mode refuses, one line per setting (named as in the YAML, with its variable).
 * Empty in development, and in production when the configuration is fit for it.
 */
export function productionProblems(config: Config): string[] {
  if (!isProductionMode(config)) return [];
  const problems: string[] = [];
  if (config.auth.admin_api_key === DEVELOPMENT_ADMIN_API_KEY) {
    problems.push(
      'auth.admin_api_key: the shipped development key is refused in production mode; set ADMIN_API_KEY to a secret of your own',
    );
  }
  const clients = clientKeys(config);
  if (clients.length === 0) {
    problems.push(
      'auth.client_api_key: required in production mode (or auth.client_api_keys), so the route and ingestion endpoints are not open; set CLIENT_API_KEY',
    );
  }
  if (clients.includes(DEVELOPMENT_ADMIN_API_KEY)) {
    problems.push('auth.client_api_key: the shipped development key is refused in production mode');
  }
  if (config.auth.readonly_api_key === DEVELOPMENT_ADMIN_API_KEY) {
    problems.push('auth.readonly_api_key: the shipped development key is refused in production mode');
  }
  if (config.mock_provider.control_api_key === DEVELOPMENT_ADMIN_API_KEY) {
    problems.push('mock_provider.control_api_key: the shipped development key is refused in production mode');
  }
  return problems;
}

/**
 * Throws a ConfigError naming every setting production mode refuses. Every service calls it at
 * start, before it connects to anything; in development it never throws.
 */
export function assertStartableConfig(config: Config): void {
  const problems = productionProblems(config);
  if (problems.length) {
    throw new ConfigError(`refused in production mode:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/**
 * A process's config at start: loaded from the environment and checked for production mode; a bad
 * or refused setting is printed and the process exits 78 (EX_CONFIG) before it connects to anything.
 */
export function loadStartableConfigOrExit(): Config {
  try {
    const config = loadConfig();
    assertStartableConfig(config);
    return config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(78); // EX_CONFIG
  }
}

/** Interface of the workers' ops servers: as configured, else 127.0.0.1 in production, server.host otherwise. */
export function workerOpsHost(config: Config): string {
  return config.workers.ops_host ?? (isProductionMode(config) ? '127.0.0.1' : config.server.host);
}

/** May model endpoints be loopback or private addresses: as configured, else only in development. */
export function allowPrivateEndpoints(config: Config): boolean {
  return config.security.allow_private_endpoints ?? !isProductionMode(config);
}

/** The key of the mock provider's control API: its own if set, else the admin key (the dev key in development). */
export function mockProviderControlKey(config: Config): string {
  return config.mock_provider.control_api_key ?? config.auth.admin_api_key;
}
