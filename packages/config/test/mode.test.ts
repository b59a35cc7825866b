import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import {
  allowPrivateEndpoints,
  assertStartableConfig,
  ConfigError,
  DEVELOPMENT_ADMIN_API_KEY,
  isProductionMode,
  loadConfig,
  mockProviderControlKey,
  parseConfig,
  productionProblems,
  workerOpsHost,
} from '../src/index.js';

const ADMIN = 'a-production-admin-key-0123';
const CLIENT = 'a-production-client-key-0123';
const production = (extra: Record<string, unknown> = {}) =>
  parseConfig({ service: { environment: 'production' }, auth: { admin_api_key: ADMIN, client_api_key: CLIENT }, ...extra });

function yamlFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mr-mode-')), 'model-router.yaml');
  writeFileSync(path, text);
  return path;
}

/** The message assertStartableConfig throws, or null when it lets the config start. */
function refusal(config: ReturnType<typeof parseConfig>): string | null {
  try {
    assertStartableConfig(config);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
}

describe('production mode', () => {
  it('is on with NODE_ENV=production or server.mode: production, off otherwise', () => {
    expect(isProductionMode(loadConfig({ env: { NODE_ENV: 'production' } }))).toBe(true);
    expect(isProductionMode(loadConfig({ env: {}, path: yamlFile(`server:\n  mode: production\nauth:\n  admin_api_key: ${ADMIN}\n`) }))).toBe(true);
    // NODE_ENV=development does not undo the file's production mode (the safe direction).
    expect(isProductionMode(loadConfig({ env: { NODE_ENV: 'development' }, path: yamlFile(`server:\n  mode: production\nauth:\n  admin_api_key: ${ADMIN}\n`) }))).toBe(true);
    expect(isProductionMode(loadConfig({ env: {} }))).toBe(false);
    expect(isProductionMode(loadConfig({ env: { NODE_ENV: 'test' } }))).toBe(false);
  });

  it('starts with its own admin key and a client key', () => {
    expect(productionProblems(production())).toEqual([]);
    expect(refusal(production())).toBeNull();
  });

  it('refuses the shipped development admin key, naming auth.admin_api_key', () => {
    // The repository's YAML holds the development key: NODE_ENV=production without ADMIN_API_KEY.
    const config = loadConfig({ env: { NODE_ENV: 'production', CLIENT_API_KEY: CLIENT } });
    expect(config.auth.admin_api_key).toBe(DEVELOPMENT_ADMIN_API_KEY);
    expect(refusal(config)).toMatch(/auth\.admin_api_key: the shipped development key is refused in production mode/);
    expect(refusal(config)).not.toMatch(/client_api_key/);
  });

  it('refuses a missing admin key, naming auth.admin_api_key', () => {
    expect(() => loadConfig({ env: { NODE_ENV: 'production' }, path: yamlFile(`auth:\n  client_api_key: ${CLIENT}\n`) })).toThrow(
      /auth\.admin_api_key/,
    );
  });

  it('refuses to leave the route and ingestion endpoints open, naming auth.client_api_key', () => {
    const config = parseConfig({ service: { environment: 'production' }, auth: { admin_api_key: ADMIN } });
    expect(refusal(config)).toMatch(/auth\.client_api_key: required in production mode/);
    expect(refusal(config)).not.toMatch(/admin_api_key/);
    // The same configuration is fine in development.
    expect(refusal(parseConfig({ auth: { admin_api_key: ADMIN } }))).toBeNull();
  });

  it('counts a key of auth.client_api_keys as a client key', () => {
    const config = parseConfig({
      service: { environment: 'production' },
      auth: { admin_api_key: ADMIN, client_api_keys: [{ id: 'team-a', key: CLIENT }] },
    });
    expect(refusal(config)).toBeNull();
    const dev = parseConfig({
      service: { environment: 'production' },
      auth: { admin_api_key: ADMIN, client_api_keys: [{ id: 'team-a', key: DEVELOPMENT_ADMIN_API_KEY }] },
    });
    expect(refusal(dev)).toMatch(/auth\.client_api_key: the shipped development key is refused/);
  });

  it('refuses the development key wherever else it is used, naming each setting', () => {
    const config = production({
      auth: { admin_api_key: ADMIN, client_api_key: DEVELOPMENT_ADMIN_API_KEY, readonly_api_key: DEVELOPMENT_ADMIN_API_KEY },
      mock_provider: { control_api_key: DEVELOPMENT_ADMIN_API_KEY },
    });
    const message = refusal(config) ?? '';
    for (const setting of ['auth.client_api_key', 'auth.readonly_api_key', 'mock_provider.control_api_key']) {
      expect(message).toContain(`${setting}: the shipped development key is refused`);
    }
  });

  it('never refuses in development, whatever the keys', () => {
    expect(refusal(loadConfig({ env: {} }))).toBeNull();
  });
});

describe('defaults that depend on the mode', () => {
  it('binds worker ops servers to 127.0.0.1 in production unless workers.ops_host says otherwise', () => {
    expect(workerOpsHost(production())).toBe('127.0.0.1');
    expect(workerOpsHost(production({ server: { host: '0.0.0.0' } }))).toBe('127.0.0.1');
    expect(workerOpsHost(production({ workers: { ops_host: '0.0.0.0' } }))).toBe('0.0.0.0');
    expect(workerOpsHost(loadConfig({ env: { NODE_ENV: 'production', WORKERS_OPS_HOST: '10.0.0.5' } }))).toBe('10.0.0.5');
    expect(workerOpsHost(parseConfig({ auth: { admin_api_key: ADMIN }, server: { host: '0.0.0.0' } }))).toBe('0.0.0.0');
  });

  it('allows private model endpoints in development only, unless security.allow_private_endpoints says otherwise', () => {
    expect(allowPrivateEndpoints(loadConfig({ env: {} }))).toBe(true);
    expect(allowPrivateEndpoints(production())).toBe(false);
    expect(allowPrivateEndpoints(production({ security: { allow_private_endpoints: true } }))).toBe(true);
    expect(allowPrivateEndpoints(loadConfig({ env: { ALLOW_PRIVATE_ENDPOINTS: 'false' } }))).toBe(false);
    expect(() => loadConfig({ env: { ALLOW_PRIVATE_ENDPOINTS: 'maybe' } })).toThrow(/security\.allow_private_endpoints: must be true or false/);
  });

  it('gives the mock provider control API the development key in development, or its own key', () => {
    expect(mockProviderControlKey(loadConfig({ env: {} }))).toBe(DEVELOPMENT_ADMIN_API_KEY);
    expect(mockProviderControlKey(loadConfig({ env: { MOCK_PROVIDER_CONTROL_KEY: 'a-mock-control-key-0123' } }))).toBe('a-mock-control-key-0123');
  });

  it('reads REDIS_ALLOW_VOLATILE as a switch', () => {
    expect(loadConfig({ env: {} }).redis.allow_volatile).toBe(false);
    expect(loadConfig({ env: { REDIS_ALLOW_VOLATILE: 'true' } }).redis.allow_volatile).toBe(true);
    expect(() => loadConfig({ env: { REDIS_ALLOW_VOLATILE: 'yes please' } })).toThrow(/redis\.allow_volatile/);
  });
});
