/**
 * /metrics of the API and of every worker: valid Prometheus text (a real parser), the metrics the
 * operations docs list, and counters that move by exactly the number of requests made.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApi, type RunningApi } from '@model-router/api';
import { tokenizerLoaded } from '@model-router/domain';
import { startCacheInvalidator } from '@model-router/cache-invalidator';
import { startHealthChecker } from '@model-router/health-checker';
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { JOB_STATES, QUEUE_NAMES } from '@model-router/queue';
import type { RunningService } from '@model-router/service-runtime';
import { readFileSync } from 'node:fs';
import { ADMIN_KEY, createTestEnv, type TestEnv, waitFor } from '../support/index.js';
import { type Scrape, scrape } from '../support/prometheus.js';

const ADMIN = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const JSON_BODY = { 'content-type': 'application/json' };

let env: TestEnv;
let api: RunningApi;
let aggregator: RunningService;
let checker: RunningService;
let invalidator: RunningService;

const post = (path: string, body: unknown, headers: Record<string, string> = JSON_BODY) =>
  fetch(`${api.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });

let tokenizerBeforeStart: boolean;

beforeAll(async () => {
  env = await createTestEnv();
  const config = env.config({ 'workers.health_checker.probe_interval': 500 });
  const logger = createLogger('metrics-test', 'error');
  tokenizerBeforeStart = tokenizerLoaded();
  api = await startApi(config, logger);
  aggregator = await startMetricAggregator(config, { logger, opsPort: 0 });
  // Probes answer at once: this test is about the checker's metrics, not about reaching providers.
  checker = await startHealthChecker(config, { logger, opsPort: 0, fetch: async () => new Response('{"data":[]}', { status: 200 }) });
  invalidator = await startCacheInvalidator(config, { logger, opsPort: 0 });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([invalidator?.stop(), checker?.stop(), aggregator?.stop()]);
  await api?.stop();
  await env?.cleanup();
});

describe('the API at start', () => {
  it('has built the tokenizer before it listens, so no request waits for it', () => {
    // Built on the first count otherwise: a second of CPU that stalls every request meanwhile.
    expect(tokenizerBeforeStart).toBe(false);
    expect(tokenizerLoaded()).toBe(true);
  });
});

describe('every /metrics is valid Prometheus text', () => {
  it('the API and each worker answer a scrape that parses, with process and event-loop metrics', async () => {
    for (const url of [api.url, aggregator.url, checker.url, invalidator.url]) {
      const metrics = await scrape(url);
      expect(metrics.value('model_router_process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(metrics.has('model_router_nodejs_eventloop_lag_p99_seconds')).toBe(true);
      expect(metrics.has('model_router_queue_jobs')).toBe(true);
    }
  });

  it('the API reports the depth of every queue in every state', async () => {
    const metrics = await scrape(api.url);
    expect(metrics.labelValues('model_router_queue_jobs', 'queue')).toEqual([...QUEUE_NAMES].sort());
    expect(metrics.labelValues('model_router_queue_jobs', 'state')).toEqual([...JOB_STATES].sort());
  });

  it('each worker reports the depth of the queues it consumes', async () => {
    expect((await scrape(aggregator.url)).labelValues('model_router_queue_jobs', 'queue')).toEqual(['metric-events', 'route-events']);
    expect((await scrape(checker.url)).labelValues('model_router_queue_jobs', 'queue')).toEqual(['health-probes', 'model-outcomes']);
    expect((await scrape(invalidator.url)).labelValues('model_router_queue_jobs', 'queue')).toEqual(['config-events']);
  });
});

describe('the operations docs', () => {
  const docs = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');

  it('describe every metric the API and the workers export', async () => {
    const names = new Set<string>();
    for (const url of [api.url, aggregator.url, checker.url, invalidator.url]) for (const name of (await scrape(url)).byName.keys()) names.add(name);
    // prom-client's process and event-loop defaults are described as a family.
    const ours = [...names].filter((n) => !/^model_router_(process|nodejs)_/.test(n));
    expect(ours.filter((name) => !docs.includes(`\`${name}\``))).toEqual([]);
  });

  it('describe every metric the Grafana dashboard queries', () => {
    const dashboard = readFileSync(new URL('../../infra/grafana/dashboards/model-router.json', import.meta.url), 'utf8');
    const queried = new Set([...dashboard.matchAll(/model_router_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
    const missing = [...queried].filter((name) => !/^model_router_(process|nodejs)_/.test(name) && !docs.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});

describe('counters move by exactly the requests made', () => {
  it('route requests: decisions, HTTP requests, decision-time observations and the persisted route events', async () => {
    const before = await scrape(api.url);
    const aggregatedBefore = await scrape(aggregator.url);
    const n = 5;
    for (let i = 0; i < n; i++) {
      expect((await post('/api/v1/route', { prompt: `hello ${i}`, max_tokens: 50, strategy: 'cheapest' })).status).toBe(200);
    }
    const after = await scrape(api.url);
    const delta = (s: Scrape, b: Scrape, name: string, labels?: Record<string, string>) => s.value(name, labels) - b.value(name, labels);
    expect(delta(after, before, 'model_router_route_decisions_total', { strategy: 'cheapest', ab_test: 'false' })).toBe(n);
    expect(delta(after, before, 'model_router_route_decision_seconds', { strategy: 'cheapest' })).toBe(n);
    expect(delta(after, before, 'model_router_http_requests_total', { method: 'POST', route: '/api/v1/route', status: '200' })).toBe(n);
    expect(delta(after, before, 'model_router_http_request_duration_seconds', { method: 'POST', route: '/api/v1/route' })).toBe(n);

    const persisted = await waitFor(
      () => scrape(aggregator.url),
      (s) => delta(s, aggregatedBefore, 'model_router_aggregator_events_total', { event: 'route.decided', outcome: 'inserted' }) >= n,
    );
    expect(delta(persisted, aggregatedBefore, 'model_router_aggregator_events_total', { event: 'route.decided', outcome: 'inserted' })).toBe(n);
    expect(delta(persisted, aggregatedBefore, 'model_router_aggregator_lag_seconds', { event: 'route.decided' })).toBe(n);
  });

  it('metric requests: one job each, processed, timed and persisted once', async () => {
    const before = await scrape(aggregator.url);
    const n = 4;
    for (let i = 0; i < n; i++) {
      const res = await post('/api/v1/metrics', { model_id: 'gpt-4o', success: true, latency_ms: 100 + i, prompt_tokens: 10, completion_tokens: 5 });
      expect(res.status).toBe(202);
    }
    const labels = { queue: 'metric-events', outcome: 'completed' };
    const after = await waitFor(
      () => scrape(aggregator.url),
      (s) => s.value('model_router_queue_jobs_processed_total', labels) - before.value('model_router_queue_jobs_processed_total', labels) >= n,
    );
    const delta = (name: string, l: Record<string, string>) => after.value(name, l) - before.value(name, l);
    // Each request awaits its enqueue before answering, so each is its own job.
    expect(delta('model_router_queue_jobs_processed_total', labels)).toBe(n);
    expect(delta('model_router_queue_job_duration_seconds', labels)).toBe(n);
    expect(delta('model_router_queue_job_wait_seconds', { queue: 'metric-events' })).toBe(n);
    expect(delta('model_router_aggregator_events_total', { event: 'metric.recorded', outcome: 'inserted' })).toBe(n);
    expect(delta('model_router_aggregator_batch_size', { event: 'metric.recorded' })).toBe(n);
    expect(delta('model_router_queue_jobs_processed_total', { queue: 'metric-events', outcome: 'failed' })).toBe(0);
  });

  it('A/B assignments by test and variant', async () => {
    const test = {
      id: 'metrics_ab',
      name: 'metrics A/B',
      variants: [
        { id: 'control', model_id: 'gpt-4o', weight: 0.5 },
        { id: 'candidate', model_id: 'gpt-4o-mini', weight: 0.5 },
      ],
      created_by: 'ops',
    };
    expect((await post('/api/v1/abtests', test, ADMIN)).status).toBe(201);
    expect((await post('/api/v1/abtests/metrics_ab/start', {}, ADMIN)).status).toBe(200);
    await waitFor(async () => api.snapshots.current.runningTests.has('metrics_ab'), Boolean);
    const before = await scrape(api.url);
    const variants = new Map<string, number>();
    const n = 6;
    for (let i = 0; i < n; i++) {
      const res = await post('/api/v1/route', { prompt: 'hi', max_tokens: 20, user_id: `user-${i}`, enable_ab_test: true, ab_test_id: 'metrics_ab' });
      const body = (await res.json()) as { variant_id: string };
      variants.set(body.variant_id, (variants.get(body.variant_id) ?? 0) + 1);
    }
    const after = await scrape(api.url);
    for (const [variant, count] of variants) {
      const labels = { ab_test: 'metrics_ab', variant };
      expect(after.value('model_router_abtest_assignments_total', labels) - before.value('model_router_abtest_assignments_total', labels)).toBe(count);
    }
    expect(after.value('model_router_route_decisions_total', { ab_test: 'true' }) - before.value('model_router_route_decisions_total', { ab_test: 'true' })).toBe(n);
  });

  it("each worker's ops server counts its own HTTP requests", async () => {
    for (const service of [aggregator, checker, invalidator]) {
      const before = await scrape(service.url);
      for (let i = 0; i < 3; i++) expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
      const after = await scrape(service.url);
      const labels = { method: 'GET', route: '/healthz', status: '200' };
      expect(after.value('model_router_http_requests_total', labels) - before.value('model_router_http_requests_total', labels)).toBe(3);
    }
  });

  it('the health checker shows health and circuit state per model', async () => {
    const metrics = await waitFor(
      () => scrape(checker.url),
      (s) => s.has('model_router_circuit_state') && s.seriesCount('model_router_circuit_state') > 0,
    );
    const enabled = api.snapshots.current.models.filter((m) => m.enabled).map((m) => m.id).sort();
    expect(metrics.labelValues('model_router_circuit_state', 'model')).toEqual(enabled);
    // Exactly one health state is 1 per model.
    for (const model of enabled) expect(metrics.value('model_router_model_health', { model })).toBe(1);
    expect(metrics.value('model_router_queue_jobs_processed_total', { queue: 'health-probes', outcome: 'completed' })).toBeGreaterThan(0);
  });

  it('the cache invalidator counts each config change once', async () => {
    const before = await scrape(invalidator.url);
    const model = {
      id: 'metrics-model-1', name: 'Metrics Model', provider: 'acme', input_price_per_1k: 0.001, output_price_per_1k: 0.002,
      context_window: 8000, max_output_tokens: 2000, capabilities: ['chat'], latency_ms: 300, endpoint: 'http://127.0.0.1:9/v1',
    };
    expect((await post('/api/v1/models', model, ADMIN)).status).toBe(201);
    const labels = { entity: 'model', action: 'created' };
    const after = await waitFor(
      () => scrape(invalidator.url),
      (s) => s.value('model_router_config_changes_total', labels) > before.value('model_router_config_changes_total', labels),
    );
    expect(after.value('model_router_config_changes_total', labels) - before.value('model_router_config_changes_total', labels)).toBe(1);
  });
});
