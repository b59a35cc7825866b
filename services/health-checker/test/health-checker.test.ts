import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Config } from '@model-router/config';
import { createPool, ModelRepository, type Pool } from '@model-router/database';
import type { Model } from '@model-router/domain';
import { CircuitStore, type ModelCircuitRuntime, type RuntimeChange, subscribeRuntimeChanges } from '@model-router/health';
import { createLogger } from '@model-router/logger';
import { type RunningMockProvider, startMockProvider } from '@model-router/mock-provider';
import { EventPublisher, JOB_CATALOG, type ModelOutcomesEvent, queuePrefix } from '@model-router/queue';
import { createTestEnv, REDIS_URL, type TestEnv, waitFor } from '@model-router/tests/support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { PROBE_SCHEDULER_ID, type RunningHealthChecker, startHealthChecker } from '../src/index.js';

const logger = createLogger('health-checker-test', 'error');
const COOLDOWN = 1000;

let env: TestEnv;
let config: Config;
let pool: Pool;
let mock: RunningMockProvider;
let checker: RunningHealthChecker;
/** A second store on its own connection, as another API replica would have. */
let replica: CircuitStore;
let publisher: EventPublisher;
const clients: Redis[] = [];
const notices: RuntimeChange[] = [];

function client(): Redis {
  const redis = new Redis(REDIS_URL);
  clients.push(redis);
  return redis;
}

function model(id: string, endpoint: string | null): Model {
  return {
    id,
    name: id,
    provider: 'mock',
    input_price_per_1k: 0.001,
    output_price_per_1k: 0.002,
    context_window: 8000,
    max_output_tokens: 1000,
    capabilities: ['chat'],
    enabled: true,
    latency_ms: 100,
    endpoint,
  };
}

const runtimeOf = async (id: string): Promise<ModelCircuitRuntime> => (await checker.store.getRuntime([id])).get(id)!;

function outcomes(modelId: string, successes: number, failures: number): ModelOutcomesEvent {
  return {
    event_id: randomUUID(),
    occurred_at: new Date().toISOString(),
    source: 'metrics',
    model_id: modelId,
    successes,
    failures,
    trailing_failures: failures,
    latency_ms_sum: 100 * (successes + failures),
  };
}

beforeAll(async () => {
  env = await createTestEnv();
  mock = await startMockProvider({ logger, port: 0 });
  pool = createPool(env.databaseUrl, 2, 'health-checker-test');
  const models = new ModelRepository(pool);
  const endpoint = `${mock.url}/v1`;
  for (const m of [
    model('flaky-model', endpoint),
    model('steady-model', endpoint),
    model('org/slashed-model', endpoint),
    model('passive-model', null),
    model('passive-model-2', null),
  ]) {
    await models.insert(m);
  }
  await models.insert({ ...model('disabled-model', endpoint), enabled: false });

  config = env.config({
    'workers.health_checker.probe_interval': 200,
    'workers.health_checker.probe_timeout': 1000,
    'circuit_breaker.cooldown': COOLDOWN,
  });
  await subscribeRuntimeChanges(client(), config.redis.key_prefix, (n) => notices.push(n));
  checker = await startHealthChecker(config, { logger, opsPort: 0 });
  replica = new CircuitStore(client(), { keyPrefix: config.redis.key_prefix, policy: config.circuit_breaker });
  publisher = new EventPublisher(client(), { keyPrefix: config.redis.key_prefix });
});

afterAll(async () => {
  await checker?.stop();
  await publisher?.close();
  await replica?.close();
  for (const c of clients) c.disconnect();
  await mock?.stop();
  await pool?.end();
  await env?.cleanup();
});

describe('health checker: probes', () => {
  it('marks probed models healthy, and never probes a disabled one', async () => {
    for (const id of ['flaky-model', 'steady-model', 'org/slashed-model']) {
      await waitFor(() => runtimeOf(id), (r) => r.health === 'healthy' && r.circuit === 'closed', { timeoutMs: 5000, what: id });
    }
    expect((await runtimeOf('disabled-model')).health).toBe('unknown');
  });

  it('opens the circuit of a model whose endpoint goes down within 3 failures, retries after the cooldown, closes on recovery', async () => {
    await waitFor(() => runtimeOf('flaky-model'), (r) => r.health === 'healthy', { timeoutMs: 5000, what: 'healthy first' });
    const seenFrom = notices.length;
    mock.settings.set('flaky-model', { down: true });

    const opened = await waitFor(() => runtimeOf('flaky-model'), (r) => r.circuit === 'open', { timeoutMs: 5000, what: 'open' });
    // Opened by the third failed probe in a row (three probes at 200 ms apart: well within 2 s).
    expect(opened.consecutive_failures).toBe(3);
    expect(opened.health).toBe('unhealthy');
    expect(opened.retry_at).toBe(opened.opened_at! + COOLDOWN);

    // After the cooldown a trial probe runs; the endpoint is still down, so it opens again.
    const reopened = await waitFor(
      () => runtimeOf('flaky-model'),
      (r) => r.circuit === 'open' && r.opened_at! > opened.opened_at!,
      { timeoutMs: 6000, what: 'reopened after a failed trial' },
    );
    expect(reopened.opened_at! - opened.opened_at!).toBeGreaterThanOrEqual(COOLDOWN);

    mock.settings.set('flaky-model', { down: false });
    await waitFor(() => runtimeOf('flaky-model'), (r) => r.circuit === 'closed' && r.health === 'healthy', { timeoutMs: 8000, what: 'recovered' });

    // Replicas were told every step: open, then half-open (a trial succeeded), then closed. (A
    // notice travels apart from the write: wait for it rather than expect it already.)
    const circuits = await waitFor(
      async () => notices.slice(seenFrom).filter((n) => n.model_id === 'flaky-model').map((n) => n.circuit),
      (seen) => seen.lastIndexOf('closed') > seen.indexOf('open'),
      { timeoutMs: 2000, what: 'notices' },
    );
    const firstOpen = circuits.indexOf('open');
    const halfOpen = circuits.indexOf('half_open', firstOpen);
    expect(firstOpen).toBeGreaterThanOrEqual(0);
    expect(halfOpen).toBeGreaterThan(firstOpen);
    expect(circuits.indexOf('closed', halfOpen)).toBeGreaterThan(halfOpen);
    // The other models were never affected.
    expect(await runtimeOf('steady-model')).toMatchObject({ circuit: 'closed', health: 'healthy' });

    // Gauges follow each probe's result, a moment after the write.
    const metrics = await waitFor(
      async () => (await fetch(`${checker.url}/metrics`)).text(),
      (text) => /model_router_circuit_state\{[^}]*model="flaky-model"[^}]*\} 0/.test(text),
      { timeoutMs: 2000, what: 'circuit gauge' },
    );
    expect(metrics).toMatch(/model_router_model_health\{[^}]*model="flaky-model"[^}]*state="healthy"[^}]*\} 1/);
    const failedProbes = metrics.match(/model_router_health_probes_total\{[^}]*model="flaky-model"[^}]*outcome="error"[^}]*\} (\d+)/);
    expect(Number(failedProbes?.[1])).toBeGreaterThanOrEqual(4);
    expect(metrics).toMatch(/model_router_health_probe_seconds_count\{[^}]*\} [1-9]/);
    expect(metrics).not.toMatch(/model="disabled-model"/);
  });

  it('never contacts an endpoint the policy refuses (stored before validation): each probe is "refused", a failure', async () => {
    // Straight into Postgres: the API would answer 400. Nothing listens there; a probe that tried
    // would end `timeout` or `unreachable`, never `refused`.
    await new ModelRepository(pool).insert(model('metadata-model', 'http://169.254.169.254/latest'));
    const opened = await waitFor(() => runtimeOf('metadata-model'), (r) => r.circuit === 'open', { timeoutMs: 5000, what: 'open' });
    expect(opened.health).toBe('unhealthy');
    const metrics = await (await fetch(`${checker.url}/metrics`)).text();
    const refused = metrics.match(/model_router_health_probes_total\{[^}]*model="metadata-model"[^}]*outcome="refused"[^}]*\} (\d+)/);
    expect(Number(refused?.[1])).toBeGreaterThanOrEqual(3);
    expect(metrics).not.toMatch(/model_router_health_probes_total\{[^}]*model="metadata-model"[^}]*outcome="(timeout|unreachable|ok|error)"[^}]*\} [1-9]/);
  });
});

describe('health checker: passive outcomes', () => {
  it('opens a circuit from reported failures, and a second store sees the same state', async () => {
    await publisher.publishMany('model.outcomes', [outcomes('passive-model', 5, 0)]);
    await waitFor(() => runtimeOf('passive-model'), (r) => r.health === 'healthy', { timeoutMs: 5000, what: 'healthy from reports' });
    for (let i = 0; i < 3; i++) await publisher.publish('model.outcomes', outcomes('passive-model', 0, 1));

    const seenByChecker = await waitFor(() => runtimeOf('passive-model'), (r) => r.circuit === 'open', { timeoutMs: 5000, what: 'open' });
    expect(seenByChecker.consecutive_failures).toBe(3);
    const now = Date.now();
    const [a, b] = await Promise.all([checker.store.getRuntime(['passive-model'], now), replica.getRuntime(['passive-model'], now)]);
    expect(b.get('passive-model')).toEqual(a.get('passive-model'));
    await waitFor(async () => notices.some((n) => n.model_id === 'passive-model' && n.circuit === 'open'), Boolean, { timeoutMs: 2000, what: 'open notice' });

    // Half-open after the cooldown: the replicas share the trial budget.
    await new Promise((resolve) => setTimeout(resolve, COOLDOWN + 50));
    const grants = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? replica : checker.store).tryAcquireTrial('passive-model')));
    expect(grants.filter(Boolean)).toHaveLength(config.circuit_breaker.half_open_max_trials);
    // Reported successes of the trials close it again.
    await publisher.publish('model.outcomes', outcomes('passive-model', 2, 0));
    await waitFor(() => replica.getRuntime(['passive-model']), (m) => m.get('passive-model')?.circuit === 'closed', { timeoutMs: 5000, what: 'closed' });
  });

  it('fails invalid payloads with the reason and keeps the queue moving', async () => {
    const queue = new Queue(JOB_CATALOG['model.outcomes'].queue, { connection: client(), prefix: queuePrefix(config.redis.key_prefix) });
    try {
      const bad = await queue.add('model.outcomes', { events: [{ model_id: 42 }] }, { attempts: 3 });
      const good = await publisher.publish('model.outcomes', outcomes('passive-model-2', 4, 0));
      expect(good).toBeUndefined();

      const state = await waitFor(() => bad.getState(), (s) => s === 'failed', { timeoutMs: 5000, what: 'bad job failed' });
      expect(state).toBe('failed');
      const failed = (await queue.getJob(bad.id!))!;
      expect(failed.failedReason).toMatch(/invalid payload for "model.outcomes": events\.0\.\w+/);
      expect(failed.attemptsMade).toBe(1); // a payload that cannot be read is not retried

      await waitFor(() => runtimeOf('passive-model-2'), (r) => r.health === 'healthy', { timeoutMs: 5000, what: 'later event applied' });
    } finally {
      await queue.close();
    }
  });
});

describe('health checker: schedule', () => {
  it('keeps one probe schedule however many replicas start', async () => {
    const second = await startHealthChecker(config, { logger, opsPort: 0 });
    const queue = new Queue(JOB_CATALOG['health.probe'].queue, { connection: client(), prefix: queuePrefix(config.redis.key_prefix) });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({ key: PROBE_SCHEDULER_ID, every: 200 });
      const ops = await fetch(`${second.url}/healthz`);
      expect(ops.status).toBe(200);
    } finally {
      await queue.close();
      await second.stop();
    }
  });
});
