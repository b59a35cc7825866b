/**
 * The fault campaign (`pnpm test:faults`; also part of `pnpm test`).
 *
 * On a Redis and a Postgres of its own (own ports, own temp directories; the machine's servers on
 * 6379/5432 are never touched), the test starts the mock provider, two API replicas and the four
 * workers, puts a steady, bounded load of routes (A/B routes with consistent-hash users) and
 * metrics on both replicas, and injects in turn:
 *   - SIGKILL of each worker (metric-aggregator, health-checker, cache-invalidator,
 *     budget-enforcer), then a restart;
 *   - SIGKILL of Redis, then a restart on the same data directory (AOF replay);
 *   - a crash-like stop of Postgres (immediate shutdown), then a restart (recovery);
 *   - SIGSTOP of one API replica, then SIGCONT.
 * Then it checks and prints as a table: accepted = persisted (0 lost, 0 doubled), rollups = raw
 * rows, budget spend = sum of costs, every consistent-hash user kept their variant, and each
 * fault's recovery (asserted to have happened; the times are printed, never asserted).
 *
 * Redis runs with `appendfsync always`, so the zero-loss invariant holds whatever the disk does:
 * every acknowledged write is fsynced before the 202. With `everysec` (the shipped default) a
 * SIGKILL of the Redis process loses nothing either when the disk keeps up (Redis write()s the AOF
 * before replying; the kernel keeps it), but a crash of the machine may lose ~1 s (up to 2 s) of
 * acknowledged writes, and so may a process kill while a slow fsync made Redis postpone its write.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type OwnPostgres, startOwnPostgres } from '../support/own-postgres.js';
import { type OwnRedis, startOwnRedis } from '../support/own-redis.js';
import { freePort } from '../support/processes.js';
import { ROOT } from '../support/system.js';
import { waitFor, waitUntil } from '../support/wait.js';
import { LoadGenerator } from '../support/load-generator.js';
import { ServiceProcess, WORKERS, type WorkerKind } from '../support/service-processes.js';
import { callService, createCheapestPairAbTest, createServiceSet, noCrashes as noCrashesOf, startServiceSet, systemVars, waitForAbAssignment, waitForMoreMetrics } from '../support/system-processes.js';
import { checkSystemInvariants, formatInvariants, formatTable, type Invariant, queueBacklog, scrapeSum, sum } from '../support/system-invariants.js';

/** `always` for the zero-loss invariant; FAULTS_REDIS_APPENDFSYNC=everysec runs the campaign on the shipped default. */
const APPENDFSYNC = (process.env.FAULTS_REDIS_APPENDFSYNC ?? 'always') as 'always' | 'everysec';
const ADMIN_KEY = 'fault-campaign-admin-key-0123456789';
const ADMIN = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const KEY_PREFIX = 'mrfault';
const AB_TEST_ID = 'fault-ab';
const USERS = Array.from({ length: 120 }, (_, i) => `fault-user-${i}`);
/** Metrics accepted while a fault is on before it is lifted: proof that load ran through it. */
const LOAD_DURING_FAULT = 60;
/** Metrics accepted between two faults. */
const LOAD_BETWEEN_FAULTS = 60;

let postgres: OwnPostgres | null = null;
let redis: OwnRedis | null = null;
let db: pg.Pool | null = null;
let redisClient: Redis | null = null;
const services: ServiceProcess[] = [];
let apis: ServiceProcess[] = [];
const workers = {} as Record<WorkerKind, ServiceProcess>;
let load: LoadGenerator | null = null;

interface Recovery {
  fault: string;
  /** What "recovered" means for this fault. */
  check: string;
  recovered: boolean;
  /** From the fault's injection to recovery. */
  sinceInjectionMs: number | null;
  /** From lifting the fault (restart, SIGCONT) to recovery. */
  sinceLiftMs: number | null;
  note?: string;
}
const recoveries: Recovery[] = [];

const api = (path: string, init: RequestInit = {}, replica = 0) => callService(apis[replica]!.url, path, init);

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await db!.query<{ n: string }>(sql, values);
  return Number(rows[0]?.n ?? 0);
}

/** The BullMQ queues whose jobs each worker holds while it works on them (the cache-invalidator's queue is in pg-boss). */
const QUEUES_OF: Record<WorkerKind, string[]> = {
  'metric-aggregator': ['metric-events', 'route-events'],
  'budget-enforcer': ['cost-events'],
  'cache-invalidator': [],
  'health-checker': ['model-outcomes'],
};

async function activeJobs(queues: string[]): Promise<number> {
  const counts = await Promise.all(queues.map((q) => redisClient!.llen(`{${KEY_PREFIX}}:${q}:active`)));
  return sum(counts);
}

const persistedMetric = (eventId: string) => count('SELECT count(*) AS n FROM model_router.metric_events WHERE event_id = $1', [eventId]);
const budgetCounted = (eventId: string) => count('SELECT count(*) AS n FROM model_router.budget_processed_events WHERE event_id = $1', [eventId]);

const campaignStart = Date.now();
/** Progress on stderr (not buffered by jest), so a slow or stuck phase is visible while it runs. */
const progress = (message: string): void => {
  process.stderr.write(`[fault campaign +${((Date.now() - campaignStart) / 1000).toFixed(1)} s] ${message}\n`);
};

/** A service that died on its own is a finding: fail at once with its last output. */
const noCrashes = (): void => noCrashesOf(services);

/** Waits until `n` more metrics are accepted than now (the load keeps running meanwhile). */
async function letLoadRun(n: number, what: string): Promise<void> {
  await waitForMoreMetrics(load!, services, n, what, 60_000);
  progress(`${what}: ${load!.metricsAccepted.size} metrics accepted so far`);
}

type Stage = [name: string, holds: () => Promise<boolean>];

/**
 * Waits until the fault is recovered from: every stage holds, in order. Records when each stage
 * first held (after the ones before it), so a slow recovery says which part was slow.
 */
async function measure(fault: string, check: string, injectedAt: number, liftedAt: number, recovered: (() => Promise<boolean>) | Stage[], note?: string): Promise<void> {
  const stages: Stage[] = typeof recovered === 'function' ? [['recovered', recovered]] : recovered;
  const reached: string[] = [];
  try {
    for (const [name, holds] of stages) {
      await waitUntil(holds, { timeoutMs: 90_000, intervalMs: 50, what: `${fault} recovered (${check}; ${name})` });
      reached.push(`${name} +${Date.now() - liftedAt} ms`);
    }
    const now = Date.now();
    const notes = [note, stages.length > 1 ? reached.join(', ') : undefined].filter(Boolean).join('; ');
    recoveries.push({ fault, check, recovered: true, sinceInjectionMs: now - injectedAt, sinceLiftMs: now - liftedAt, note: notes });
    progress(`${fault}: recovered ${now - liftedAt} ms after it was lifted${notes ? ` (${notes})` : ''}`);
  } catch (error) {
    recoveries.push({ fault, check, recovered: false, sinceInjectionMs: null, sinceLiftMs: null, note: (error as Error).message.slice(0, 300) });
    progress(`${fault}: NOT recovered: ${(error as Error).message.slice(0, 300)}`);
  }
  noCrashes();
}

beforeAll(async () => {
  postgres = await startOwnPostgres();
  redis = await startOwnRedis({ appendfsync: APPENDFSYNC });
  const mockPort = await freePort();
  const env = systemVars({ databaseUrl: postgres.url('model_router'), redis: { REDIS_URL: redis.url }, keyPrefix: KEY_PREFIX, adminKey: ADMIN_KEY, mockPort });
  const set = await createServiceSet(env, mockPort, { apis: 2 });
  apis = set.apis;
  for (const kind of WORKERS) workers[kind] = set.workers[kind][0]!;
  services.push(...set.all);
  progress(`own Postgres on ${postgres.port}, own Redis on ${redis.port}; starting the services`);
  // The first API migrates and seeds the catalog; the others then start together.
  await startServiceSet(set);
  progress('every service ready');
  db = new pg.Pool({ connectionString: postgres.url('model_router'), max: 4 });
  db.on('error', () => undefined); // idle connections die when Postgres is stopped on purpose
  redisClient = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  redisClient.on('error', () => undefined);
}, 240_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  for (const service of services) await service.stop().catch(() => undefined);
  await db?.end().catch(() => undefined);
  redisClient?.disconnect();
  await redis?.destroy();
  await postgres?.destroy();
}, 120_000);

describe('fault campaign', () => {
  it('keeps every accepted event exactly once, rollups, budgets and assignments exact, through worker, Redis, Postgres and API faults', async () => {
    // --- Setup through the public API: an A/B test (consistent hash) and two budgets. ---
    const { models, variants, created, started } = await createCheapestPairAbTest(api, ADMIN, AB_TEST_ID, 'fault campaign');
    expect(models.length).toBeGreaterThan(4);
    expect(created.status).toBe(201);
    expect(started.status).toBe(200);
    const provider = models[0]!.provider;
    for (const body of [
      { id: 'fault-global', scope: 'global', period: 'daily', limit_usd: 9_000_000, action: 'alert_only' },
      { id: 'fault-provider', scope: 'provider', scope_id: provider, period: 'monthly', limit_usd: 9_000_000, action: 'alert_only' },
    ]) {
      const res = await api('/api/v1/budgets', { method: 'POST', headers: ADMIN, body: JSON.stringify(body) });
      expect(res.status).toBe(201);
    }
    // Both replicas assign the test before the load starts (the second learns of it through Redis).
    await waitForAbAssignment(api, AB_TEST_ID, [0, 1], (replica) => `replica ${replica + 1} assigns the A/B test`);

    load = new LoadGenerator({
      apiUrls: apis.map((a) => a.url),
      modelIds: models.map((m) => m.id),
      abTestId: AB_TEST_ID,
      users: USERS,
      tickMs: 50,
      metricsEveryTicks: 4,
      metricsPerBatch: 10,
      maxInFlight: 128,
      maxRequests: 20_000,
      seed: 9,
    });
    // The budget enforcer knows the new budgets once it counts a first event for them.
    const first = await load.canary('budgets');
    await waitUntil(async () => (await count(`SELECT count(*) AS n FROM model_router.budget_spend WHERE budget_id = 'fault-global'`)) > 0, {
      timeoutMs: 30_000, what: 'budget-enforcer counts the first cost', detail: () => workers['budget-enforcer'].output().slice(-3000),
    });
    await waitUntil(async () => (await persistedMetric(first)) === 1, { timeoutMs: 30_000, what: 'the aggregator persists the first metric' });

    progress('setup done; load starts');
    load.start();
    await letLoadRun(LOAD_BETWEEN_FAULTS, 'warm-up');

    // --- 1-4: SIGKILL each worker mid-load, then restart it. ---
    for (const kind of WORKERS) {
      const worker = workers[kind];
      // Kill it while it holds a job when its queues have one (bounded wait): a batch in flight
      // must come back and count once.
      const held = QUEUES_OF[kind];
      const activeAtKill = held.length
        ? await waitFor(() => activeJobs(held), (n) => n > 0, { timeoutMs: 5000, intervalMs: 5 }).catch(() => 0)
        : 0;
      const injectedAt = Date.now();
      progress(`SIGKILL ${kind} (pid ${worker.pid()}; jobs active: ${activeAtKill})`);
      await worker.kill();
      await letLoadRun(LOAD_DURING_FAULT, `${kind} down`);
      const liftedAt = Date.now();
      const readyMs = await worker.start();
      const note = `process ready ${readyMs} ms after the restart${held.length ? `; ${activeAtKill} job(s) active at the kill` : ''}`;
      // Fresh counters after a restart: any probe / relayed change / persisted canary is new work.
      if (kind === 'metric-aggregator') {
        const canary = await load.canary(kind);
        await measure(`SIGKILL ${kind}`, 'a metric sent after the restart is persisted', injectedAt, liftedAt, async () => (await persistedMetric(canary)) === 1, note);
      } else if (kind === 'budget-enforcer') {
        const canary = await load.canary(kind);
        await measure(`SIGKILL ${kind}`, 'the cost of a metric sent after the restart is counted', injectedAt, liftedAt, async () => (await budgetCounted(canary)) === 1, note);
      } else if (kind === 'health-checker') {
        await measure(`SIGKILL ${kind}`, 'it probes endpoints again', injectedAt, liftedAt, async () => (await scrapeSum(worker, 'model_router_health_probes_total')) > 0, note);
      } else {
        // A registry change goes through the outbox (pg-boss) to the restarted invalidator.
        const target = models[models.length - 1]!;
        const patched = await api(`/api/v1/models/${target.id}`, { method: 'PATCH', headers: ADMIN, body: JSON.stringify({ name: `${target.id} after ${kind} restart` }) });
        expect(patched.status).toBe(200);
        await measure(`SIGKILL ${kind}`, 'a registry change made after the restart is relayed', injectedAt, liftedAt, async () => (await scrapeSum(worker, 'model_router_config_changes_total')) > 0, note);
      }
      await letLoadRun(LOAD_BETWEEN_FAULTS, `after ${kind}`);
    }

    // --- 5: SIGKILL Redis while accepted events wait in it, restart it on the same directory. ---
    {
      // Hold the consumers (SIGSTOP) so accepted events pile up in the queues: the AOF must bring
      // every one of them back. They get SIGCONT once Redis is back, and reconnect on their own.
      const consumers = [workers['metric-aggregator'], workers['budget-enforcer']];
      for (const c of consumers) c.pause();
      await letLoadRun(LOAD_DURING_FAULT, 'consumers paused');
      // Waiting, or active: a paused worker's blocking fetch may still have moved one job to active.
      const held = await queueBacklog(redisClient!, KEY_PREFIX);
      const waitingJobs = ['metric-events', 'cost-events'].reduce((n, q) => n + held[q]!.waiting + held[q]!.active, 0);
      const injectedAt = Date.now();
      const refusedBefore = load.stats.metric503 + load.stats.timeouts;
      progress(`SIGKILL Redis (pid ${redis!.pid()}; ${waitingJobs} metric/cost jobs held in it)`);
      await redis!.kill();
      // The API answers 503 while Redis is away (nothing accepted); wait until the load has seen it.
      await waitUntil(() => load!.stats.metric503 + load!.stats.timeouts >= refusedBefore + 5, { timeoutMs: 30_000, what: 'the load sees Redis down' });
      const restartAt = Date.now();
      await redis!.start();
      // Lifted once Redis serves again (its AOF replayed): what follows is the system's recovery.
      const liftedAt = Date.now();
      for (const c of consumers) c.resume();
      const canary = await load.canary('redis');
      const canaryAcceptedMs = Date.now() - liftedAt;
      await measure(`SIGKILL Redis (AOF, appendfsync ${APPENDFSYNC})`, 'a metric sent after the restart is accepted (202), persisted and its cost counted', injectedAt, liftedAt, [
        ['persisted', async () => (await persistedMetric(canary)) === 1],
        ['cost counted', async () => (await budgetCounted(canary)) === 1],
      ], `Redis serving ${liftedAt - restartAt} ms after its restart; ${waitingJobs} metric/cost jobs were held in it at the kill; canary accepted +${canaryAcceptedMs} ms`);
      expect(waitingJobs).toBeGreaterThan(0);
      await letLoadRun(LOAD_BETWEEN_FAULTS, 'after Redis');
    }

    // --- 6: stop Postgres (immediate: crash-like), restart it. ---
    {
      const injectedAt = Date.now();
      progress(`stop Postgres, immediate (pid ${postgres!.pid()})`);
      await postgres!.stop('immediate');
      // Metrics are still accepted: they wait in Redis for Postgres.
      await letLoadRun(LOAD_DURING_FAULT, 'Postgres down');
      const restartAt = Date.now();
      await postgres!.start();
      // Lifted once Postgres accepts connections (crash recovery done).
      const liftedAt = Date.now();
      const canary = await load.canary('postgres');
      await measure('stop Postgres (immediate) and restart', 'a metric sent after the restart is persisted and its cost counted; both APIs ready', injectedAt, liftedAt, [
        ['APIs ready', async () => (await apis[0]!.isReady()) && (await apis[1]!.isReady())],
        ['persisted', async () => (await persistedMetric(canary)) === 1],
        ['cost counted', async () => (await budgetCounted(canary)) === 1],
      ], `Postgres accepting connections ${liftedAt - restartAt} ms after its restart`);
      await letLoadRun(LOAD_BETWEEN_FAULTS, 'after Postgres');
    }

    // --- 7: SIGSTOP one API replica; the other keeps serving; SIGCONT. ---
    {
      const paused = apis[1]!;
      const servedBefore = load.stats.okByReplica[0]!;
      const injectedAt = Date.now();
      progress(`SIGSTOP api-2 (pid ${paused.pid()})`);
      paused.pause();
      await letLoadRun(LOAD_DURING_FAULT, 'api-2 paused');
      const servedByOtherDuringPause = load.stats.okByReplica[0]! - servedBefore;
      const liftedAt = Date.now();
      paused.resume();
      await measure('SIGSTOP api-2, SIGCONT', 'api-2 answers a route 200 again', injectedAt, liftedAt, async () => (await load!.routeOnce(1)) === 1, `api-1 answered ${servedByOtherDuringPause} requests while api-2 was paused`);
      expect(servedByOtherDuringPause).toBeGreaterThan(0);
      await letLoadRun(LOAD_BETWEEN_FAULTS, 'after API pause');
    }

    await load.stop();

    const { invariants, routeSummary } = await checkSystemInvariants({
      db: db!, redis: redisClient!, keyPrefix: KEY_PREFIX, load, apis,
      aggregators: [workers['metric-aggregator']], enforcers: [workers['budget-enforcer']], services,
      abTest: { id: AB_TEST_ID, users: USERS, variants },
      budgets: { globalId: 'fault-global', providerId: 'fault-provider', provider },
      progress,
    });
    const check = (invariant: string, expected: number | string, actual: number | string) => invariants.push({ invariant, expected, actual, holds: expected === actual });
    for (const r of recoveries) check(`recovered: ${r.fault}`, 'yes', r.recovered ? 'yes' : `no (${r.note})`);

    // --- Report. ---
    const report = formatReport(invariants, load, routeSummary);
    console.log(report);
    mkdirSync(join(ROOT, '.artifacts'), { recursive: true });
    writeFileSync(join(ROOT, '.artifacts', 'fault-campaign.txt'), report);

    expect(invariants.filter((i) => !i.holds)).toEqual([]);
    expect(recoveries).toHaveLength(7);
  }, 600_000);
});

function formatReport(invariants: Invariant[], load: LoadGenerator, routeSummary: string): string {
  const table = formatTable;
  const s = load.stats;
  return [
    'Fault campaign: invariants',
    formatInvariants(invariants),
    '',
    'Recovery after each fault (measured, not asserted). Lifted: a worker restart issued (its boot counts as recovery); Redis or Postgres serving again; SIGCONT sent.',
    table(
      ['fault', 'recovered when', 'since injection', 'since lifted', 'note'],
      recoveries.map((r) => [r.fault, r.check, r.sinceInjectionMs === null ? '-' : `${r.sinceInjectionMs} ms`, r.sinceLiftMs === null ? '-' : `${r.sinceLiftMs} ms`, r.note ?? '']),
    ),
    '',
    `Load: ${s.requests} requests (${s.routeOk} routes answered, ${s.metricBatchesAccepted} metric batches accepted, ${load.metricsAccepted.size} metric events), ` +
      `${s.routeRetries + s.metricRetries} retries with the same ids, ${s.metric503} metric 503s, ${s.timeouts} timeouts, ${s.ticksSkipped} ticks skipped at the in-flight bound`,
    `Routes: ${routeSummary}`,
  ].join('\n');
}
