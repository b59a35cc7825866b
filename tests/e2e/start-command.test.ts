/**
 * End to end: starts the system exactly as the README says (`make up`), on this test's own database,
 * Redis prefix and ports, then routes the seed's example request over real HTTP and stops it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createTestEnv, type Spawned, startSystem, type TestEnv, waitFor } from '../support/index.js';

let env: TestEnv;
let system: Spawned;
let apiUrl: string;
let mockUrl: string;
let workerUrls: string[];

beforeAll(async () => {
  env = await createTestEnv();
  const running = await startSystem(env);
  system = running.process;
  apiUrl = running.apiUrl;
  mockUrl = running.mockUrl;
  const { urls } = running;
  workerUrls = [urls['metric-aggregator'], urls['health-checker'], urls['cache-invalidator'], urls['budget-enforcer']];
}, 150_000);

afterAll(async () => {
  await system?.stop('SIGTERM');
  await env?.cleanup();
}, 60_000);

describe('the start command', () => {
  it('prints the URLs of the API and the mock provider', () => {
    expect(system.output()).toContain(`${apiUrl}/api/v1`);
    expect(system.output()).toContain(`${mockUrl}/v1`);
  });

  it("answers the seed's route example with a full response", async () => {
    const res = await fetch(`${apiUrl}/api/v1/route`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: '用户的问题', max_tokens: 1000, strategy: 'cheapest', user_id: 'user123', enable_ab_test: true }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ strategy: 'cheapest', is_ab_test: false, ab_test_id: null, variant_id: null });
    expect(typeof body.model_id).toBe('string');
    expect(typeof body.model_name).toBe('string');
    expect(typeof body.provider).toBe('string');
    expect(body.estimated_latency).toMatch(/^\d+ms$/);
    expect(body.estimated_cost).toBeGreaterThan(0);
    expect(Array.isArray(body.fallbacks)).toBe(true);
  });

  it('seeded the catalog with endpoints on the mock provider, which answers', async () => {
    const { models } = (await (await fetch(`${apiUrl}/api/v1/models`)).json()) as { models: Array<{ endpoint: string; api: string }> };
    expect(models.length).toBeGreaterThanOrEqual(12);
    // Gemini's API lives under /v1beta; every other model's under /v1 (the mock serves both).
    expect(models.every((m) => m.endpoint === (m.api === 'gemini' ? `${mockUrl}/v1beta` : `${mockUrl}/v1`))).toBe(true);
    const listed = await fetch(`${mockUrl}/v1/models`);
    expect(listed.status).toBe(200);
  });

  it('every service reports ready', async () => {
    expect((await fetch(`${apiUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${mockUrl}/healthz`)).status).toBe(200);
    for (const url of workerUrls) expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('persists a reported metric through the queue to Postgres', async () => {
    const post = await fetch(`${apiUrl}/api/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_id: 'gpt-4o', success: true, latency_ms: 321, prompt_tokens: 10, completion_tokens: 20, event_id: 'e2e-metric-1' }),
    });
    expect(post.status).toBe(202);
    const pool = new pg.Pool({ connectionString: env.databaseUrl });
    try {
      const rows = await waitFor(
        async () => (await pool.query(`SELECT latency_ms FROM model_router.metric_events WHERE event_id = 'e2e-metric-1'`)).rows,
        (found) => found.length > 0,
        { timeoutMs: 20_000, intervalMs: 100, what: 'the metric row' },
      );
      expect(rows).toEqual([{ latency_ms: 321 }]);
    } finally {
      await pool.end();
    }
  });

  it('stops every service gracefully on SIGTERM (as Ctrl-C does)', async () => {
    await system.stop('SIGTERM');
    const lines = system.output().split('\n');
    const serviceOf = (line: string) => /^\[([\w-]+)\]/.exec(line)?.[1];
    // Every service that logged (a JSON line behind its name) must have logged its graceful stop.
    const logLines = lines.filter((line) => /^\[[\w-]+\] \{/.test(line));
    const started = new Set(logLines.map(serviceOf));
    const stopped = new Set(logLines.filter((line) => line.includes('"msg":"stopped"')).map(serviceOf));
    expect([...started]).toEqual(expect.arrayContaining(['api', 'mock-provider', 'metric-aggregator', 'health-checker', 'cache-invalidator']));
    if (stopped.size !== started.size) console.log(system.output().slice(-6000));
    expect(stopped).toEqual(started);
  });
});
