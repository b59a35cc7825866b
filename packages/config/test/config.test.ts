import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig, parseConfig } from '../src/index.js';

const KEY = { auth: { admin_api_key: 'an-admin-key-of-enough-length' } };

function yamlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mr-config-'));
  const path = join(dir, 'model-router.yaml');
  writeFileSync(path, text);
  return path;
}

describe('the repository config file', () => {
  it('parses, with the seed abtest block', () => {
    const config = loadConfig({ env: {} });
    expect(config.server.port).toBe(9004);
    expect(config.abtest).toEqual({
      enabled: true,
      cache_ttl: 3_600_000,
      user_variant_cache_ttl: 86_400_000,
      default_strategy: 'consistent_hash',
      alpha: 0.05,
    });
    expect(config.routing.default_strategy).toBe('balanced');
  });
});

describe('defaults and durations', () => {
  it('fills every section from defaults when only the admin key is given', () => {
    const config = parseConfig(KEY);
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/model_router');
    expect(config.redis.key_prefix).toBe('mr');
    expect(config.routing.balanced_weights).toEqual({ cost: 0.4, latency: 0.3, availability: 0.3 });
    expect(config.server.shutdown_timeout).toBe(10_000);
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['1h', 3_600_000],
    ['24h', 86_400_000],
    [250, 250],
  ])('duration %p is %i ms', (value, ms) => {
    expect(parseConfig({ ...KEY, abtest: { cache_ttl: value } }).abtest.cache_ttl).toBe(ms);
  });
});

describe('a bad value stops start-up with a message naming the key', () => {
  it.each([
    [{ ...KEY, server: { port: 70000 } }, 'server.port'],
    [{ ...KEY, abtest: { cache_ttl: 'soon' } }, 'abtest.cache_ttl'],
    [{ ...KEY, abtest: { default_strategy: 'round_robin' } }, 'abtest.default_strategy'],
    [{ ...KEY, routing: { default_strategy: 'random' } }, 'routing.default_strategy'],
    [{ ...KEY, database: { url: 'not a url' } }, 'database.url'],
    [{ ...KEY, redis: { key_prefix: 'has space' } }, 'redis.key_prefix'],
    [{ ...KEY, routing: { balanced_weights: { cost: 0, latency: 0, availability: 0 } } }, 'routing.balanced_weights'],
    [{ ...KEY, servr: {} }, 'servr'],
    [{ auth: { admin_api_key: 'short' } }, 'auth.admin_api_key'],
    [{}, 'auth'],
  ])('%j names %s', (raw, key) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(new RegExp(`- ${key.replace('.', '\\.')}:`));
  });
});

describe('environment overrides', () => {
  it('override single keys of the file', () => {
    const path = yamlFile('auth:\n  admin_api_key: from-the-file-0123456789\nserver:\n  port: 1234\n');
    const config = loadConfig({
      path,
      env: {
        PORT: '5555',
        DATABASE_URL: 'postgres://u@db:5432/x',
        REDIS_URL: 'redis://cache:6379',
        ADMIN_API_KEY: 'from-the-environment-0123',
        LOG_LEVEL: 'debug',
      },
    });
    expect(config.server.port).toBe(5555);
    expect(config.database.url).toBe('postgres://u@db:5432/x');
    expect(config.redis.url).toBe('redis://cache:6379');
    expect(config.auth.admin_api_key).toBe('from-the-environment-0123');
    expect(config.log.level).toBe('debug');
  });

  it('a bad environment value is reported with the file and key', () => {
    const path = yamlFile('auth:\n  admin_api_key: from-the-file-0123456789\n');
    expect(() => loadConfig({ path, env: { PORT: 'eighty' } })).toThrow(/server\.port/);
  });

  it('an unreadable or invalid file is a ConfigError', () => {
    expect(() => loadConfig({ path: '/nonexistent/model-router.yaml', env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ path: yamlFile('server: [unclosed'), env: {} })).toThrow(/not valid YAML/);
  });
});
