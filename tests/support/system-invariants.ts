/**
 * The invariants a run of the whole system must keep, whatever happened during it (faults, many
 * replicas, a Redis Cluster failover): after the load stops, every accepted metric is persisted and
 * its cost counted exactly once, rollups equal the raw rows, budget spend equals the sum of costs,
 * every consistent-hash user kept their variant, nothing failed or was dead-lettered, no process
 * died on its own. Shared by the fault campaign, the many-replica test and the Redis Cluster test.
 */
import { assignVariant } from '@model-router/domain';
import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import type { LoadGenerator } from './load-generator.js';
import type { ServiceProcess } from './service-processes.js';
import { waitFor, waitUntil } from './wait.js';

export interface Invariant {
  invariant: string;
  expected: string | number;
  actual: string | number;
  holds: boolean;
}

export const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const v of values) total += v;
  return total;
};

/** The sum of every sample of a Prometheus metric on a process's /metrics. */
export async function scrapeSum(service: ServiceProcess, metric: string, labelFilter = ''): Promise<number> {
  const res = await fetch(`${service.url}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export type QueueCounts = { waiting: number; active: number; delayed: number; failed: number };

/**
 * Jobs not yet finished in each of the system's BullMQ queues (raw key sizes: BullMQ's layout).
 * Every queue key carries the hash tag `{prefix}`, so this works on a Redis Cluster client too.
 */
export async function queueBacklog(redis: Redis | Cluster, keyPrefix: string): Promise<Record<string, QueueCounts>> {
  const out: Record<string, QueueCounts> = {};
  for (const queue of ['metric-events', 'route-events', 'cost-events', 'model-outcomes']) {
    const key = (suffix: string) => `{${keyPrefix}}:${queue}:${suffix}`;
    const [wait, paused, active, delayed, prioritized, failed] = await Promise.all([
      redis.llen(key('wait')),
      redis.llen(key('paused')),
      redis.llen(key('active')),
      redis.zcard(key('delayed')),
      redis.zcard(key('prioritized')),
      redis.zcard(key('failed')),
    ]);
    out[queue] = { waiting: wait + paused + prioritized, active, delayed, failed };
  }
  return out;
}

export interface SystemRun {
  db: pg.Pool;
  redis: Redis | Cluster;
  keyPrefix: string;
  /** Stopped already: its bookkeeping is final. */
  load: LoadGenerator;
  apis: ServiceProcess[];
  aggregators: ServiceProcess[];
  enforcers: ServiceProcess[];
  /** Every process of the run, for "none died on its own". */
  services: ServiceProcess[];
  /** The consistent-hash A/B test the load used. */
  abTest: { id: string; users: readonly string[]; variants: ReadonlyArray<{ id: string; name: string; model_id: string; weight: number }> };
  /** The global budget and the one scoped to `provider`. */
  budgets: { globalId: string; providerId: string; provider: string };
  progress?: (message: string) => void;
}

/**
 * Waits (bounded) until every accepted metric is persisted and counted and the queues are empty,
 * then checks every invariant. Returns them (holding or not) and a summary of the routes.
 */
export async function checkSystemInvariants(run: SystemRun): Promise<{ invariants: Invariant[]; routeSummary: string }> {
  const { db, redis, keyPrefix, load, apis, aggregators, enforcers, services, abTest, budgets } = run;
  const provider = budgets.provider;
  const progress = run.progress ?? (() => undefined);
  const count = async (sql: string, values: unknown[] = []): Promise<number> => {
    const { rows } = await db.query<{ n: string }>(sql, values);
    return Number(rows[0]?.n ?? 0);
  };
  // --- Drain: every accepted event reaches Postgres, every queue empties. ---
  const accepted = [...load.metricsAccepted];
  progress(`load stopped; draining ${accepted.length} accepted metrics`);
  const backlog = () => queueBacklog(redis, keyPrefix);
  const drainDetail = async () => JSON.stringify(await backlog()) + '\n' + [...aggregators, ...enforcers].map((w) => w.output().slice(-2000)).join('\n');
  let drainError: Error | null = null;
  try {
    await waitUntil(async () => (await count('SELECT count(DISTINCT event_id) AS n FROM model_router.metric_events WHERE event_id = ANY($1)', [accepted])) >= accepted.length, { timeoutMs: 120_000, intervalMs: 250, what: 'every accepted metric persisted', detail: drainDetail });
    await waitUntil(async () => (await count('SELECT count(*) AS n FROM model_router.budget_processed_events WHERE event_id = ANY($1)', [accepted])) >= accepted.length, { timeoutMs: 120_000, intervalMs: 250, what: 'every accepted cost counted', detail: drainDetail });
    await waitFor(backlog, (q) => Object.values(q).every((c) => c.waiting + c.active + c.delayed === 0), { timeoutMs: 120_000, intervalMs: 250, what: 'queues drained', detail: drainDetail });
    progress('drained');
  } catch (error) {
    drainError = error as Error;
    progress(`NOT drained: ${drainError.message.slice(0, 2000)}`);
  }

  // --- Invariants. ---
  const invariants: Invariant[] = [];
  let routeSummary = '';
  const check = (invariant: string, expected: number | string, actual: number | string) => invariants.push({ invariant, expected, actual, holds: expected === actual });
  check('drained: every accepted event persisted and counted, queues empty', 'yes', drainError ? `no: ${drainError.message.split('\n')[0]}` : 'yes');

  // Metrics: accepted = persisted, exactly once.
  const { rows: metricRows } = await db.query<{ event_id: string; n: string; cost: string }>(
    'SELECT event_id, count(*) AS n, sum(cost_nanos) AS cost FROM model_router.metric_events GROUP BY event_id',
  );
  const persisted = new Map(metricRows.map((r) => [r.event_id, Number(r.n)]));
  const lost = accepted.filter((id) => !persisted.has(id));
  const doubled = metricRows.filter((r) => Number(r.n) > 1);
  const neverSent = metricRows.filter((r) => !load.metricsSent.has(r.event_id));
  const persistedNotAccepted = metricRows.filter((r) => load.metricsSent.has(r.event_id) && !load.metricsAccepted.has(r.event_id));
  check('metrics never accepted after every retry', 0, load.metricsGaveUp.size);
  check('accepted metrics lost', 0, lost.length);
  check('metric events stored twice', 0, doubled.length);
  check('metric rows that were never sent', 0, neverSent.length);
  check('metric rows persisted = accepted', accepted.length, metricRows.length - persistedNotAccepted.length);
  const ledgerMetrics = await count(`SELECT count(*) AS n FROM model_router.processed_events WHERE kind = 'metric.recorded'`);
  check('aggregator ledger ids = metric rows', metricRows.length, ledgerMetrics);

  // Routes: a 200's route event is persisted once, unless the API counted it as lost.
  const { rows: routeRows } = await db.query<{ event_id: string; n: string }>('SELECT event_id, count(*) AS n FROM model_router.route_events GROUP BY event_id');
  const routePersisted = new Set(routeRows.map((r) => r.event_id));
  const routeMissing = [...load.routesAnswered].filter((id) => !routePersisted.has(id)).length;
  const routeLostCounted = sum(await Promise.all(apis.map((a) => scrapeSum(a, 'model_router_events_lost_total', 'event="route.decided"'))));
  const warmupRows = routeRows.filter((r) => r.event_id.startsWith('warmup-'));
  const routesNeverSent = routeRows.filter((r) => !load.routesSent.has(r.event_id) && !r.event_id.startsWith('warmup-'));
  check('route events stored twice', 0, routeRows.filter((r) => Number(r.n) > 1).length);
  check('answered routes missing and not counted as lost', 0, Math.max(0, routeMissing - routeLostCounted));
  const duplicates = {
    aggregator: sum(await Promise.all(aggregators.map((w) => scrapeSum(w, 'model_router_aggregator_events_total', 'outcome="duplicate"')))),
    budgets: sum(await Promise.all(enforcers.map((w) => scrapeSum(w, 'model_router_budget_cost_events_total', 'outcome="duplicate"')))),
  };
  routeSummary = `${load.routesAnswered.size} routes answered 200, ${routeRows.length} route events stored (${warmupRows.length} of them warm-up routes), ${routeMissing} answered routes' events lost while Redis was down, ${routeLostCounted} counted by model_router_events_lost_total; ${load.stats.route503} route 503s (retried)\n` +
    `Redeliveries and client retries discarded as duplicates since the last worker restarts: ${duplicates.aggregator} by the aggregator, ${duplicates.budgets} by the budget-enforcer`;
  check('route rows that were never sent', 0, routesNeverSent.length);

  // Rollups = raw rows.
  const raw = (await db.query(`SELECT count(*)::bigint AS n, count(*) FILTER (WHERE success)::bigint AS ok, coalesce(sum(cost_nanos),0)::bigint AS cost,
      coalesce(sum(prompt_tokens),0)::bigint AS pt, coalesce(sum(completion_tokens),0)::bigint AS ct FROM model_router.metric_events`)).rows[0];
  for (const granularity of ['minute', 'hour']) {
    const roll = (await db.query(`SELECT coalesce(sum(request_count),0)::bigint AS n, coalesce(sum(success_count),0)::bigint AS ok, coalesce(sum(cost_nanos_sum),0)::bigint AS cost,
        coalesce(sum(prompt_tokens_sum),0)::bigint AS pt, coalesce(sum(completion_tokens_sum),0)::bigint AS ct,
        coalesce(sum((SELECT sum(b) FROM unnest(latency_buckets) b)),0)::bigint AS hist
        FROM model_router.model_rollups WHERE granularity = $1`, [granularity])).rows[0];
    check(`model ${granularity} rollups: requests = raw rows`, String(raw.n), String(roll.n));
    check(`model ${granularity} rollups: successes = raw`, String(raw.ok), String(roll.ok));
    check(`model ${granularity} rollups: cost nanos = raw`, String(raw.cost), String(roll.cost));
    check(`model ${granularity} rollups: tokens = raw`, `${raw.pt}/${raw.ct}`, `${roll.pt}/${roll.ct}`);
    check(`model ${granularity} rollups: histogram counts = raw rows`, String(raw.n), String(roll.hist));
    // Usage by key (the tenant) is rolled up in the same transaction: per key, the same totals.
    const keyRaw = (await db.query(`SELECT key_id, count(*)::bigint AS n, coalesce(sum(cost_nanos),0)::bigint AS cost,
        coalesce(sum(prompt_tokens + completion_tokens),0)::bigint AS tokens FROM model_router.metric_events GROUP BY key_id ORDER BY key_id`)).rows;
    const keyRoll = (await db.query(`SELECT key_id, sum(request_count)::bigint AS n, sum(cost_nanos_sum)::bigint AS cost,
        sum(prompt_tokens_sum + completion_tokens_sum)::bigint AS tokens FROM model_router.key_rollups WHERE granularity = $1 GROUP BY key_id ORDER BY key_id`, [granularity])).rows;
    check(`key ${granularity} rollups = raw rows (per key: n, cost, tokens)`, JSON.stringify(keyRaw), JSON.stringify(keyRoll));
    const routeRoll = await count('SELECT coalesce(sum(decision_count),0) AS n FROM model_router.route_rollups WHERE granularity = $1', [granularity]);
    check(`route ${granularity} rollups: decisions = raw rows`, routeRows.length, routeRoll);
  }
  const abRaw = (await db.query(`SELECT variant_id, count(*)::bigint AS n, sum(cost_nanos)::bigint AS cost FROM model_router.metric_events WHERE ab_test_id = $1 GROUP BY variant_id ORDER BY variant_id`, [abTest.id])).rows;
  const abRoll = (await db.query(`SELECT variant_id, request_count::bigint AS n, cost_nanos_sum::bigint AS cost FROM model_router.abtest_variant_rollups WHERE ab_test_id = $1 ORDER BY variant_id`, [abTest.id])).rows;
  check('A/B variant rollups = raw rows (per variant: n, cost)', JSON.stringify(abRaw), JSON.stringify(abRoll));
  const userTotals = await count('SELECT coalesce(sum(n),0) AS n FROM model_router.abtest_user_totals WHERE ab_test_id = $1', [abTest.id]);
  check('A/B per-user totals = raw rows with a user', await count('SELECT count(*) AS n FROM model_router.metric_events WHERE ab_test_id = $1 AND user_id IS NOT NULL', [abTest.id]), userTotals);

  // Budgets: spend = sum of the persisted costs (and = what the load generator sent).
  const expectedCost = sum(accepted.map((id) => load.metricsSent.get(id)!.cost_nanos));
  check('sum of accepted costs (nanos) = raw cost', String(expectedCost), String(raw.cost));
  const spend = async (budget: string) => (await db.query(`SELECT coalesce(sum(spent_nanos),0)::bigint AS s, coalesce(sum(event_count),0)::bigint AS n FROM model_router.budget_spend WHERE budget_id = $1`, [budget])).rows[0];
  const globalSpend = await spend(budgets.globalId);
  check('global budget spend = sum of costs (nanos)', String(raw.cost), String(globalSpend.s));
  check('global budget events = raw rows', String(raw.n), String(globalSpend.n));
  const providerRaw = (await db.query(`SELECT coalesce(sum(cost_nanos),0)::bigint AS s, count(*)::bigint AS n FROM model_router.metric_events WHERE provider = $1`, [provider])).rows[0];
  const providerSpend = await spend(budgets.providerId);
  check(`provider budget (${provider}) spend = its costs (nanos)`, `${providerRaw.s} in ${providerRaw.n}`, `${providerSpend.s} in ${providerSpend.n}`);
  const status = (await (await fetch(`${apis[0]!.url}/api/v1/budgets/${budgets.globalId}/status`, { signal: AbortSignal.timeout(10_000) })).json()) as { spent_usd: number };
  check('global budget status: spent_usd in nanos = sum of costs', String(raw.cost), String(Math.round(status.spent_usd * 1e9)));

  // Consistent hash: every user kept one variant, the one the hash gives, and the exposures agree.
  const testConfig = { id: abTest.id, strategy: 'consistent_hash' as const, variants: abTest.variants.map((v) => ({ ...v, name: v.name })) };
  const switched = [...load.variantsSeen].filter(([, seen]) => seen.size !== 1).length;
  const notByHash = [...load.variantsSeen].filter(([user, seen]) => [...seen][0] !== assignVariant(testConfig as never, user)?.id).length;
  const { rows: exposures } = await db.query<{ user_id: string; variant_id: string }>('SELECT user_id, variant_id FROM model_router.abtest_exposures WHERE ab_test_id = $1', [abTest.id]);
  const exposureDisagrees = exposures.filter((e) => load.variantsSeen.has(e.user_id) && ![...load.variantsSeen.get(e.user_id)!].includes(e.variant_id)).length;
  check('A/B users routed (each user of the pool at least once)', abTest.users.length, load.variantsSeen.size);
  check('users who saw more than one variant', 0, switched);
  check('users whose variant is not the consistent hash’s', 0, notByHash);
  check('stored exposures that disagree with the answers', 0, exposureDisagrees);

  // Queues and dead letters: nothing failed, nothing set aside.
  const held = await backlog();
  check('failed jobs in the queues', 0, sum(Object.values(held).map((c) => c.failed)));
  const deadLetters = (await db.query(`SELECT to_regclass('model_router.dead_letter_events') IS NOT NULL AS present`)).rows[0].present
    ? await count('SELECT count(*) AS n FROM model_router.dead_letter_events')
    : 0;
  check('dead-lettered events (every event sent is valid)', 0, deadLetters);
  check('answers no fault explains (4xx/500)', '', load.stats.unexpected.slice(0, 3).join(' | '));
  const crashes = services.flatMap((s) => s.unexpectedExits);
  check('processes that died on their own', '', crashes.join('; '));

  return { invariants, routeSummary };
}

/** A plain-text table (for reports printed by the tests). */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export const formatInvariants = (invariants: readonly Invariant[]): string =>
  formatTable(['invariant', 'expected', 'actual', 'holds'], invariants.map((i) => [i.invariant, String(i.expected), String(i.actual), i.holds ? 'yes' : 'NO']));
