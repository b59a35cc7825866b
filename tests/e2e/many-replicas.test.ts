/**
 * Many replicas of everything: two API processes and two of each worker (metric-aggregator,
 * health-checker, cache-invalidator, budget-enforcer) on one Redis of the test's own (AOF
 * everysec, as shipped) and the test's own database, under a bounded load of routes (A/B users)
 * and metrics spread over both APIs.
 *
 * Checks the fault campaign's invariants (tests/support/system-invariants.ts: nothing lost or
 * doubled, rollups = raw rows, budget spend = sum of costs, users kept their variant), and what
 * replicas could get wrong: each pg-boss schedule ran once per cron slot (not once per replica),
 * each budget threshold was alerted once (rows and both enforcers' counters), and both replicas of
 * each consumer took work.
 *
 * It also prints what the run cost (for the capacity model in docs/operations.md, never asserted):
 * CPU time of every process, Redis commands and bytes (INFO commandstats / stats deltas) and
 * Postgres transactions and rows (pg_stat_database deltas), per 1,000 metric events.
 */
import { readFileSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createTestEnv, type TestEnv } from '../support/index.js';
import { LoadGenerator } from '../support/load-generator.js';
import { type OwnRedis, startOwnRedis } from '../support/own-redis.js';
import { freePort } from '../support/processes.js';
import type { ServiceProcess, WorkerKind } from '../support/service-processes.js';
import { callService, createCheapestPairAbTest, createServiceSet, noCrashes as noCrashesOf, startServiceSet, systemVars, waitForAbAssignment } from '../support/system-processes.js';
import { ROOT } from '../support/system.js';
import { checkSystemInvariants, formatInvariants, formatTable, type Invariant, scrapeSum } from '../support/system-invariants.js';
import { waitUntil } from '../support/wait.js';

const ADMIN_KEY = 'replicas-test-admin-key-0123456789';
const ADMIN = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
const AB_TEST_ID = 'replicas-ab';
const USERS = Array.from({ length: 60 }, (_, i) => `replica-user-${i}`);
/** Metric events the load must get accepted (bounded; ~50 a second at the load's pace). */
const METRICS = 3000;
/** Every-minute schedules of the shipped config: each must run once per minute, not once per replica. */
const MINUTE_SCHEDULES = ['budget-enforcer.reconcile', 'metric-aggregator.expire-ab-tests'];

let redis: OwnRedis | null = null;
let env: TestEnv | null = null;
let db: pg.Pool | null = null;
let redisClient: Redis | null = null;
const services: ServiceProcess[] = [];
const apis: ServiceProcess[] = [];
const replicas = {} as Record<WorkerKind, ServiceProcess[]>;
let load: LoadGenerator | null = null;

const progress = (message: string): void => void process.stderr.write(`[many replicas] ${message}\n`);

const call = (path: string, init: RequestInit = {}, replica = 0) => callService(apis[replica]!.url, path, init);

const count = async (sql: string, values: unknown[] = []): Promise<number> => Number((await db!.query<{ n: string }>(sql, values)).rows[0]?.n ?? 0);

const noCrashes = (): void => noCrashesOf(services);

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(service: ServiceProcess): number {
  const pid = service.pid();
  if (pid === null) return 0;
  // The service is `node --import tsx src/main.ts`, the process itself (no wrapper shell).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Redis command calls by name, plus network bytes in and out. */
async function redisCounters(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await redisClient!.info('commandstats')).split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) out.set(match[1]!, Number(match[2]));
  }
  for (const line of (await redisClient!.info('stats')).split(/\r?\n/)) {
    const match = /^(total_net_input_bytes|total_net_output_bytes):(\d+)/.exec(line);
    if (match) out.set(match[1]!, Number(match[2]));
  }
  return out;
}

async function postgresCounters(): Promise<Record<string, number>> {
  const { rows } = await db!.query(
    `SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_fetched, blks_hit + blks_read AS blocks
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Object.fromEntries(Object.entries(rows[0] as Record<string, string>).map(([k, v]) => [k, Number(v)]));
}

beforeAll(async () => {
  redis = await startOwnRedis({ appendfsync: 'everysec' });
  env = await createTestEnv();
  const mockPort = await freePort();
  const vars = systemVars({ databaseUrl: env.databaseUrl, redis: { REDIS_URL: redis.url }, keyPrefix: env.redisPrefix, adminKey: ADMIN_KEY, mockPort });
  const set = await createServiceSet(vars, mockPort, { apis: 2, workerReplicas: 2 });
  apis.push(...set.apis);
  Object.assign(replicas, set.workers);
  services.push(...set.all);
  // The first API migrates and seeds; then everything else starts at once, as a rollout would
  // (both replicas of each worker create the same pg-boss queues and schedules together; starting
  // on a database nobody has created yet is tests/e2e/simultaneous-start.test.ts).
  await startServiceSet(set);
  progress(`own Redis on ${redis.port}; ${services.length} processes ready`);
  db = new pg.Pool({ connectionString: env.databaseUrl, max: 4 });
  redisClient = new Redis(redis.url, { maxRetriesPerRequest: null });
}, 300_000);

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
  await db?.end().catch(() => undefined);
  redisClient?.disconnect();
  await redis?.destroy();
  await env?.cleanup().catch(() => undefined);
}, 120_000);

describe('two replicas of every service', () => {
  it('keeps every invariant: nothing lost or doubled, schedules once, each threshold alerted once', async () => {
    const { models, variants, created, started } = await createCheapestPairAbTest(call, ADMIN, AB_TEST_ID, 'replicas');
    expect(created.status).toBe(201);
    expect(started.status).toBe(200);
    const provider = models[0]!.provider;
    // The load's costs average 2.5 ms-dollars (2.5e6 nanos) an event: METRICS events spend ~7.5 USD.
    // A 3 USD budget crosses 50 %, 80 % and 100 % while both enforcers are busy with it.
    const smallLimitUsd = 3;
    for (const body of [
      { id: 'replicas-global', scope: 'global', period: 'daily', limit_usd: 9_000_000, action: 'alert_only' },
      { id: 'replicas-provider', scope: 'provider', scope_id: provider, period: 'monthly', limit_usd: 9_000_000, action: 'alert_only' },
      { id: 'replicas-small', scope: 'global', period: 'monthly', limit_usd: smallLimitUsd, action: 'alert_only' },
    ]) {
      expect((await call('/api/v1/budgets', { method: 'POST', headers: ADMIN, body: JSON.stringify(body) })).status).toBe(201);
    }
    await waitForAbAssignment(call, AB_TEST_ID, [0, 1], (replica) => `api-${replica + 1} assigns the A/B test`);

    load = new LoadGenerator({
      apiUrls: apis.map((a) => a.url), modelIds: models.map((m) => m.id), abTestId: AB_TEST_ID, users: USERS,
      tickMs: 50, metricsEveryTicks: 4, metricsPerBatch: 10, maxInFlight: 128, maxRequests: 20_000, seed: 21,
    });
    const redisBefore = await redisCounters();
    const pgBefore = await postgresCounters();
    const cpuBefore = new Map(services.map((s) => [s.name, cpuSeconds(s)]));
    const startedAt = Date.now();
    load.start();
    await waitUntil(
      () => {
        noCrashes();
        return load!.metricsAccepted.size >= METRICS;
      },
      { timeoutMs: 240_000, intervalMs: 100, what: `${METRICS} metrics accepted` },
    );
    await load.stop();
    progress(`load done in ${Date.now() - startedAt} ms: ${load.metricsAccepted.size} metrics accepted, ${load.routesAnswered.size} routes answered`);

    const { invariants, routeSummary } = await checkSystemInvariants({
      db: db!, redis: redisClient!, keyPrefix: env!.redisPrefix, load, apis,
      aggregators: replicas['metric-aggregator'], enforcers: replicas['budget-enforcer'], services,
      abTest: { id: AB_TEST_ID, users: USERS, variants },
      budgets: { globalId: 'replicas-global', providerId: 'replicas-provider', provider },
      progress,
    });
    const check = (invariant: string, expected: number | string, actual: number | string) => invariants.push({ invariant, expected, actual, holds: expected === actual });
    const cost = (await call('/api/v1/budgets/replicas-small/status')).json;

    // Each threshold the small budget's spend reached: one alert row, and one alert raised in all.
    const spentNanos = await count(`SELECT coalesce(sum(spent_nanos),0) AS n FROM model_router.budget_spend WHERE budget_id = 'replicas-small'`);
    const reached = [0.5, 0.8, 1.0].filter((t) => spentNanos >= t * smallLimitUsd * 1e9).length;
    check('small budget: thresholds its spend reached', 3, reached);
    const alertRows = await count(`SELECT count(*) AS n FROM model_router.budget_alerts WHERE budget_id = 'replicas-small'`);
    check('small budget: alert rows = thresholds reached', reached, alertRows);
    const raised = (await Promise.all(replicas['budget-enforcer'].map((r) => scrapeSum(r, 'model_router_budget_threshold_crossed_total')))).reduce((a, b) => a + b, 0);
    check('threshold alerts raised by both enforcers together = alert rows (of every budget)', await count('SELECT count(*) AS n FROM model_router.budget_alerts'), raised);
    check('small budget state: exceeded', 'exceeded', String(cost.state));

    // Schedules: each every-minute job once per minute slot, however many replicas scheduled it.
    await waitUntil(async () => (await count(`SELECT count(DISTINCT name) AS n FROM model_router_boss.job WHERE name = ANY($1) AND state = 'completed'`, [MINUTE_SCHEDULES])) === MINUTE_SCHEDULES.length, {
      timeoutMs: 90_000, intervalMs: 500, what: 'each every-minute schedule completed at least once',
    });
    // pg-boss forwards each cron occurrence through its send-it queue, filed under the occurrence's
    // own minute (`data.slot`), and that job sends the schedule's job. A pass after a gap of more
    // than a minute (a loaded machine) forwards the missed minute too (`missed: 'once'`), so two jobs
    // can be created in one clock minute for two occurrences: count per occurrence, not per creation
    // minute. No occurrence forwarded twice by the replicas' passes, and no more jobs than
    // occurrences (a send-it job replayed after sending would make one more).
    const forwardedTwice = await db!.query<{ name: string; slot: string; n: string }>(
      `SELECT data->>'name' AS name, data->>'slot' AS slot, count(*) AS n
         FROM model_router_boss.job WHERE name = '__pgboss__send-it' AND data->>'name' = ANY($1) GROUP BY 1, 2 HAVING count(*) > 1`,
      [MINUTE_SCHEDULES],
    );
    check('every-minute schedules: an occurrence forwarded more than once', '', forwardedTwice.rows.map((r) => `${r.name} ${r.slot} ×${r.n}`).join('; '));
    const sentTooOften = await db!.query<{ name: string; jobs: string; occurrences: string }>(
      `SELECT j.name, j.jobs, coalesce(o.occurrences, 0) AS occurrences
         FROM (SELECT name, count(*) AS jobs FROM model_router_boss.job WHERE name = ANY($1) GROUP BY 1) j
         LEFT JOIN (SELECT data->>'name' AS name, count(DISTINCT data->>'slot') AS occurrences
                      FROM model_router_boss.job WHERE name = '__pgboss__send-it' GROUP BY 1) o ON o.name = j.name
        WHERE j.jobs > coalesce(o.occurrences, 0)`,
      [MINUTE_SCHEDULES],
    );
    check('every-minute schedules: more jobs than occurrences', '', sentTooOften.rows.map((r) => `${r.name}: ${r.jobs} jobs for ${r.occurrences} occurrences`).join('; '));

    // Both replicas of each consumer took work (the queue spreads it; none sat idle).
    for (const [kind, metric] of [['metric-aggregator', 'model_router_aggregator_events_total'], ['budget-enforcer', 'model_router_budget_cost_events_total']] as const) {
      const each = await Promise.all(replicas[kind].map((r) => scrapeSum(r, metric)));
      check(`${kind}: replicas that processed events`, 2, each.filter((n) => n > 0).length);
    }
    for (const [i, a] of apis.entries()) check(`api-${i + 1} answered requests`, 'yes', (load.stats.okByReplica[i] ?? 0) > 0 ? 'yes' : 'no');

    // --- What it cost (printed for docs/operations.md; not asserted). ---
    const events = load.metricsAccepted.size;
    const routes = load.routesAnswered.size;
    const per1000 = (n: number) => ((n * 1000) / events).toFixed(1);
    const redisAfter = await redisCounters();
    const pgAfter = await postgresCounters();
    const redisRows = [...redisAfter]
      .map(([name, v]) => [name, v - (redisBefore.get(name) ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([name, d]) => [name, String(d), per1000(d)]);
    const pgRows = Object.entries(pgAfter).map(([k, v]) => [k, String(v - pgBefore[k]!), per1000(v - pgBefore[k]!)]);
    const cpuRows = services.map((s) => {
      const used = cpuSeconds(s) - (cpuBefore.get(s.name) ?? 0);
      return [s.name, used.toFixed(2), per1000(used * 1e3)];
    });
    const report = [
      `Many replicas: ${events} metric events accepted, ${routes} routes answered over ${(Date.now() - startedAt) / 1000} s (bounded load, both APIs)`,
      formatInvariants(invariants),
      `Routes: ${routeSummary}`,
      '',
      'Cost of the run (includes the drain and idle polling; per 1,000 metric events, routes in the same run)',
      formatTable(['process', 'CPU s', 'CPU ms per 1,000 events'], cpuRows),
      formatTable(['Redis', 'delta', 'per 1,000 events'], redisRows),
      formatTable(['Postgres (this database)', 'delta', 'per 1,000 events'], pgRows),
    ].join('\n');
    console.log(report);
    mkdirSync(join(ROOT, '.artifacts'), { recursive: true });
    writeFileSync(join(ROOT, '.artifacts', 'many-replicas.txt'), report);
    expect(invariants.filter((i: Invariant) => !i.holds)).toEqual([]);
  }, 600_000);
});
