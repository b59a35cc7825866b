/**
 * Production mode (NODE_ENV=production or server.mode: production): what a start refuses, each
 * refusal naming the setting, and what a production start changes (client keys required on the
 * route and ingestion endpoints, worker ops servers on 127.0.0.1). Redis is a redis-server of the
 * test's own, durable (AOF, noeviction) unless a case says otherwise.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApi } from '@model-router/api';
import { ConfigError, DEVELOPMENT_ADMIN_API_KEY } from '@model-router/config';
import { createLogger } from '@model-router/logger';
import { startService } from '@model-router/service-runtime';
import { type OwnRedis, startOwnRedis } from '../support/own-redis.js';
import { createTestEnv, spawnCommand, type TestEnv } from '../support/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN_KEY = 'prod-admin-key-0123456789';
const CLIENT_KEY = 'prod-client-key-0123456789';
const logger = createLogger('production-mode-test', 'error');

let env: TestEnv;
let durable: OwnRedis;
let volatile: OwnRedis;

beforeAll(async () => {
  env = await createTestEnv();
  [durable, volatile] = await Promise.all([startOwnRedis({ appendfsync: 'everysec' }), startOwnRedis({ extraArgs: ['--appendonly', 'no'] })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([durable?.destroy(), volatile?.destroy()]);
  await env?.cleanup();
});

/** A production config on this file's database and the durable Redis, with `overrides`. */
const production = (overrides: Record<string, unknown> = {}) =>
  env.config({
    'service.environment': 'production',
    'auth.admin_api_key': ADMIN_KEY,
    'auth.client_api_key': CLIENT_KEY,
    'redis.url': durable.url,
    ...overrides,
  });

describe('the API in production mode', () => {
  it('refuses the shipped development admin key, naming auth.admin_api_key', async () => {
    const start = startApi(production({ 'auth.admin_api_key': DEVELOPMENT_ADMIN_API_KEY }), logger);
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/auth\.admin_api_key: the shipped development key is refused in production mode/);
  });

  it('refuses to start without a client key, naming auth.client_api_key', async () => {
    const config = production();
    delete config.auth.client_api_key;
    await expect(startApi(config, logger)).rejects.toThrow(/auth\.client_api_key: required in production mode/);
  });

  it('is production mode by server.mode as well', async () => {
    const config = production({ 'service.environment': 'development', 'server.mode': 'production', 'auth.admin_api_key': DEVELOPMENT_ADMIN_API_KEY });
    await expect(startApi(config, logger)).rejects.toThrow(/auth\.admin_api_key/);
  });

  it('refuses a Redis without persistence, naming appendonly, unless REDIS_ALLOW_VOLATILE', async () => {
    await expect(startApi(production({ 'redis.url': volatile.url }), logger)).rejects.toThrow(
      /refused in production mode: Redis persistence is off \(appendonly no\).*REDIS_ALLOW_VOLATILE=true/,
    );
    const api = await startApi(production({ 'redis.url': volatile.url, 'redis.allow_volatile': true }), logger);
    await api.stop();
  });

  it('asks for a client key on the route and ingestion endpoints', async () => {
    const api = await startApi(production(), logger);
    try {
      const route = (headers: Record<string, string>) =>
        fetch(`${api.url}/api/v1/route`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ prompt: 'hello', strategy: 'cheapest' }),
        });
      const metrics = (headers: Record<string, string>) =>
        fetch(`${api.url}/api/v1/metrics`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ model_id: 'gpt-4o', success: true, latency_ms: 10 }),
        });
      expect((await route({})).status).toBe(401);
      expect((await metrics({})).status).toBe(401);
      expect((await route({ authorization: 'Bearer not-a-client-key-0000' })).status).toBe(403);
      expect((await route({ authorization: `Bearer ${CLIENT_KEY}` })).status).toBe(200);
      expect((await metrics({ authorization: `Bearer ${CLIENT_KEY}` })).status).toBe(202);
    } finally {
      await api.stop();
    }
  });
});

describe('worker services in production mode', () => {
  const service = (config: ReturnType<typeof production>) =>
    startService({ name: 'ops-bind-test', config, logger, opsPort: 0, setup: async () => ({ stop: async () => undefined }) });

  it('bind their ops servers to 127.0.0.1 unless workers.ops_host says otherwise', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ 'server.host': '0.0.0.0' }, '127.0.0.1'],
      [{ 'server.host': '0.0.0.0', 'workers.ops_host': '0.0.0.0' }, '0.0.0.0'],
      // Development keeps server.host.
      [{ 'server.host': '0.0.0.0', 'service.environment': 'development' }, '0.0.0.0'],
    ];
    for (const [overrides, bound] of cases) {
      const running = await service(production(overrides));
      try {
        expect(running.opsAddress.address).toBe(bound);
        expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
      } finally {
        await running.stop();
      }
    }
  });

  it('refuse, as processes, a production start with the development key and no client key: exit 78 naming both settings', async () => {
    const child = spawnCommand(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: resolve(ROOT, 'services/cache-invalidator'),
      // The repository's YAML: its admin key is the development key; no CLIENT_API_KEY.
      env: { ...env.processEnv({ NODE_ENV: 'production', REDIS_URL: durable.url }), ADMIN_API_KEY: '', CLIENT_API_KEY: '' },
    });
    const code = await new Promise<number | null>((done) => child.child.once('exit', (exitCode) => done(exitCode)));
    expect(code).toBe(78);
    expect(child.output()).toMatch(/refused in production mode:/);
    expect(child.output()).toMatch(/auth\.admin_api_key: the shipped development key/);
    expect(child.output()).toMatch(/auth\.client_api_key: required in production mode/);
  });
});
