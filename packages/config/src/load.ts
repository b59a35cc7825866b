import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { type Config, configSchema } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The repository's configs/model-router.yaml, wherever the process was started from. */
export const DEFAULT_CONFIG_PATH = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../configs/model-router.yaml',
);

/** Environment variables that override one key each: VARIABLE → path in the YAML. */
export const ENV_OVERRIDES: Readonly<Record<string, readonly string[]>> = {
  PORT: ['server', 'port'],
  HOST: ['server', 'host'],
  DATABASE_URL: ['database', 'url'],
  DATABASE_POOL_SIZE: ['database', 'pool_size'],
  REDIS_URL: ['redis', 'url'],
  REDIS_KEY_PREFIX: ['redis', 'key_prefix'],
  REDIS_ALLOW_VOLATILE: ['redis', 'allow_volatile'],
  REDIS_CLUSTER_NODES: ['redis', 'cluster', 'nodes'],
  ALLOW_PRIVATE_ENDPOINTS: ['security', 'allow_private_endpoints'],
  WORKERS_OPS_HOST: ['workers', 'ops_host'],
  MOCK_PROVIDER_CONTROL_KEY: ['mock_provider', 'control_api_key'],
  ADMIN_API_KEY: ['auth', 'admin_api_key'],
  CLIENT_API_KEY: ['auth', 'client_api_key'],
  READONLY_API_KEY: ['auth', 'readonly_api_key'],
  LOG_LEVEL: ['log', 'level'],
  NODE_ENV: ['service', 'environment'],
  ROUTING_DEFAULT_STRATEGY: ['routing', 'default_strategy'],
  CATALOG_ENDPOINT_BASE_URL: ['catalog', 'endpoint_base_url'],
  METRIC_AGGREGATOR_PORT: ['workers', 'metric_aggregator', 'ops_port'],
  HEALTH_CHECKER_PORT: ['workers', 'health_checker', 'ops_port'],
  CACHE_INVALIDATOR_PORT: ['workers', 'cache_invalidator', 'ops_port'],
  BUDGET_ENFORCER_PORT: ['workers', 'budget_enforcer', 'ops_port'],
  MOCK_PROVIDER_HOST: ['mock_provider', 'host'],
  MOCK_PROVIDER_PORT: ['mock_provider', 'port'],
};

type Tree = Record<string, unknown>;

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

/** Parses and validates a config tree; a bad value throws a ConfigError naming every bad key. */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = result.error.issues.flatMap((issue) => {
      // An unknown key is named itself, so a typo points at the line to fix.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `  - ${[...issue.path, key].join('.')}: unknown key`);
      }
      return [`  - ${issue.path.join('.') || '(root)'}: ${issue.message}`];
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

export interface LoadOptions {
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Applied last, for tests and tools that need a key the YAML and environment do not set. */
  overrides?: Record<string, unknown>;
}

/**
 * Reads the YAML file (MODEL_ROUTER_CONFIG or configs/model-router.yaml), overlays the environment
 * variables in ENV_OVERRIDES, and validates the result once. Services call this at start.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = options.path ?? env.MODEL_ROUTER_CONFIG ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let tree: Tree;
  try {
    tree = (parseYaml(text) ?? {}) as Tree;
  } catch (error) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(error as Error).message}`);
  }
  for (const [variable, keyPath] of Object.entries(ENV_OVERRIDES)) {
    const value = env[variable];
    if (value !== undefined && value !== '') setPath(tree, keyPath, value);
  }
  for (const [dotted, value] of Object.entries(options.overrides ?? {})) {
    setPath(tree, dotted.split('.'), value);
  }
  try {
    return parseConfig(tree);
  } catch (error) {
    if (error instanceof ConfigError) error.message = `${path}: ${error.message}`;
    throw error;
  }
}
