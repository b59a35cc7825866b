/**
 * Section "budget-enforcement": the time from crossing a budget's limit to its enforcement on every
 * API replica. Two API replicas (bench/servers/api.ts, child processes) and the real
 * budget-enforcer (services/budget-enforcer/dist/main.js, child process) share the bench database
 * and Redis prefix. Per trial: a new global `block` budget of $0.01; one metric of $0.02 posted to
 * replica A; both replicas polled with POST /api/v1/route until each answers 429 BUDGET_EXCEEDED.
 * The figure is the time from the metric's 202 to the slower replica's first 429.
 *
 * BENCH_BUDGET_TRIALS (20).
 */
import { randomBytes } from 'node:crypto';
import { type ChildServer, startBenchApi } from '../lib/child.js';
import { BENCH_REDIS_URL, callJson, clearQueues, sleep, startWorker, type Worker } from '../lib/services.js';
import { envNumber, fixed, percentile, round } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';

const TARGET_P99_MS = 1000;
const ENFORCER_PORT = Math.round(envNumber('BENCH_ENFORCER_PORT', 19_204));
const INVALIDATOR_PORT = Math.round(envNumber('BENCH_INVALIDATOR_PORT', 19_205));
const BUDGET_PREFIX = 'bench-budget-';
const ROUTE_BODY = JSON.stringify({ prompt: '用户的问题', max_tokens: 1000, strategy: 'cheapest', user_id: 'bench-budget-user' });
const TRIAL_TIMEOUT_MS = 10_000;

interface Trial {
  trial: number;
  budget_id: string;
  /** ms from the crossing metric's 202 to the first 429 BUDGET_EXCEEDED of each replica. */
  replica_ms: number[];
  enforced_ms: number;
  polls: number[];
}

/** Polls one replica's route until it answers 429 BUDGET_EXCEEDED; ms after `t0`, or NaN on timeout. */
async function untilBlocked(url: string, t0: number): Promise<{ ms: number; polls: number }> {
  let polls = 0;
  while (performance.now() - t0 < TRIAL_TIMEOUT_MS) {
    const r = await callJson('POST', `${url}/api/v1/route`, ROUTE_BODY);
    polls++;
    if (r.status === 429 && r.text.includes('BUDGET_EXCEEDED')) return { ms: performance.now() - t0, polls };
    if (r.status !== 200) throw new Error(`route answered ${r.status} while waiting for enforcement: ${r.text}`);
  }
  return { ms: Number.NaN, polls };
}

/** Waits until every replica routes again (200), e.g. after the budget was deleted. */
async function untilOpen(urls: string[]): Promise<void> {
  const deadline = Date.now() + TRIAL_TIMEOUT_MS;
  for (const url of urls) {
    for (;;) {
      const r = await callJson('POST', `${url}/api/v1/route`, ROUTE_BODY);
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`replica ${url} still answers ${r.status}: ${r.text}`);
      await sleep(50);
    }
  }
}

async function removeBenchBudgets(base: string): Promise<void> {
  const list = await callJson('GET', `${base}/api/v1/budgets`, undefined, true);
  const body = list.body as { budgets?: { id: string }[] } | { id: string }[] | null;
  const budgets = Array.isArray(body) ? body : (body?.budgets ?? []);
  for (const b of budgets.filter((b) => b.id.startsWith(BUDGET_PREFIX))) await callJson('DELETE', `${base}/api/v1/budgets/${b.id}`, undefined, true);
}

export const budgetEnforcementSection: Section = {
  name: 'budget-enforcement',
  usesDatabase: true,
  title: 'Budget enforcement: crossing a limit → 429 on every API replica',
  async run(ctx): Promise<SectionResult> {
    const trials = Math.round(envNumber('BENCH_BUDGET_TRIALS', 20));
    const replicas: ChildServer[] = [];
    let enforcer: Worker | null = null;
    let invalidator: Worker | null = null;
    try {
      ctx.log('budget-enforcement: starting two API replicas, the budget-enforcer and the cache-invalidator (child processes)');
      await clearQueues(BENCH_REDIS_URL, ['cost-events']);
      for (const name of ['api-a', 'api-b']) {
        replicas.push(await startBenchApi(ctx.rootDir, { name }));
      }
      enforcer = await startWorker({
        name: 'budget-enforcer',
        script: 'services/budget-enforcer/dist/main.js',
        cwd: ctx.rootDir,
        portVariable: 'BUDGET_ENFORCER_PORT',
        port: ENFORCER_PORT,
      });
      // The one relay of config changes: a budget created on one replica reaches the other through it.
      invalidator = await startWorker({
        name: 'cache-invalidator',
        script: 'services/cache-invalidator/dist/main.js',
        cwd: ctx.rootDir,
        portVariable: 'CACHE_INVALIDATOR_PORT',
        port: INVALIDATOR_PORT,
      });
      const urls = replicas.map((r) => r.ready.url);
      const [a] = urls as [string, string];
      await removeBenchBudgets(a);
      await untilOpen(urls);
      const routed = await callJson('POST', `${a}/api/v1/route`, ROUTE_BODY);
      const modelId = (routed.body as { model_id: string }).model_id;

      const run = randomBytes(3).toString('hex');
      const results: Trial[] = [];
      for (let i = 1; i <= trials; i++) {
        const budgetId = `${BUDGET_PREFIX}${run}-${i}`;
        const created = await callJson(
          'POST',
          `${a}/api/v1/budgets`,
          { id: budgetId, name: 'bench enforcement', scope: 'global', period: 'daily', limit_usd: 0.01, action: 'block' },
          true,
        );
        if (created.status !== 201) throw new Error(`creating budget ${budgetId} answered ${created.status}: ${created.text}`);
        // Both replicas learn of the new budget (outbox → cache-invalidator → pub/sub) well within this pause; spend is 0.
        await sleep(1500);
        await untilOpen(urls);

        const metric = { model_id: modelId, success: true, latency_ms: 100, cost: 0.02, event_id: `${budgetId}-cross` };
        const posted = await callJson('POST', `${a}/api/v1/metrics`, metric);
        const t0 = performance.now();
        if (posted.status !== 202) throw new Error(`the crossing metric answered ${posted.status}: ${posted.text}`);
        const each = await Promise.all(urls.map((url) => untilBlocked(url, t0)));
        const replicaMs = each.map((e) => e.ms);
        results.push({ trial: i, budget_id: budgetId, replica_ms: replicaMs, enforced_ms: Math.max(...replicaMs), polls: each.map((e) => e.polls) });
        ctx.log(`budget-enforcement: trial ${i}/${trials}: ${replicaMs.map((ms) => fixed(ms, 1)).join(' / ')} ms`);

        const deleted = await callJson('DELETE', `${a}/api/v1/budgets/${budgetId}`, undefined, true);
        if (deleted.status !== 204) throw new Error(`deleting budget ${budgetId} answered ${deleted.status}: ${deleted.text}`);
        await untilOpen(urls);
      }

      const timedOut = results.filter((r) => !Number.isFinite(r.enforced_ms)).length;
      const sorted = results.map((r) => (Number.isFinite(r.enforced_ms) ? r.enforced_ms : Number.POSITIVE_INFINITY)).sort((x, y) => x - y);
      const perReplica = [0, 1].map((k) => results.map((r) => r.replica_ms[k]!).sort((x, y) => x - y));
      const p50 = percentile(sorted, 0.5);
      const p99 = percentile(sorted, 0.99);
      const max = sorted[sorted.length - 1]!;
      const fmt = (ms: number) => (Number.isFinite(ms) ? fixed(ms, 1) : `> ${TRIAL_TIMEOUT_MS}`);

      return {
        tables: [
          {
            title: `${trials} trials: global block budget of $0.01, one $0.02 metric posted to replica A, both replicas polled with POST /api/v1/route`,
            columns: ['time to 429 (ms)', 'p50', 'p99', 'max', 'min'],
            rows: [
              ['slower replica (enforced everywhere)', fmt(p50), fmt(p99), fmt(max), fmt(sorted[0]!)],
              ...perReplica.map((s, k) => [`replica ${k === 0 ? 'A (received the metric)' : 'B'}`, fmt(percentile(s, 0.5)), fmt(percentile(s, 0.99)), fmt(s[s.length - 1]!), fmt(s[0]!)]),
            ],
          },
        ],
        targets: [
          { name: 'crossing a limit → 429 on every replica, p99', target: `≤ ${TARGET_P99_MS} ms`, actual: `${fmt(p99)} ms`, pass: p99 <= TARGET_P99_MS && timedOut === 0 },
        ],
        notes: [
          'Path measured: 202 of POST /api/v1/metrics (cost.recorded queued in Redis) → budget-enforcer commits the spend in Postgres and announces it → each replica\'s in-memory budget state → 429 BUDGET_EXCEEDED on POST /api/v1/route.',
          'Each replica is polled back to back (one request in flight per replica, ~1 ms apart on loopback), so the figures include up to one poll interval.',
          `With ${trials} trials, p99 (nearest rank) is the maximum of the trials.`,
          'Each trial uses a new budget id (its spend starts at 0) and deletes it afterwards, waiting until both replicas route again.',
        ],
        data: {
          trials,
          p50_ms: round(p50, 1),
          p99_ms: Number.isFinite(p99) ? round(p99, 1) : null,
          max_ms: Number.isFinite(max) ? round(max, 1) : null,
          timed_out: timedOut,
          runs: results.map((r) => ({ ...r, replica_ms: r.replica_ms.map((ms) => round(ms, 1)), enforced_ms: round(r.enforced_ms, 1) })),
        },
      };
    } finally {
      if (replicas[0]) await removeBenchBudgets(replicas[0].ready.url).catch(() => undefined);
      if (invalidator) await invalidator.stop().catch((error: unknown) => ctx.log(`cache-invalidator: ${String(error)}`));
      if (enforcer) await enforcer.stop().catch((error: unknown) => ctx.log(`budget-enforcer: ${String(error)}`));
      for (const r of replicas.reverse()) await r.stop().catch((error: unknown) => ctx.log(`${r.name}: ${String(error)}`));
      await clearQueues(BENCH_REDIS_URL, ['cost-events']).catch(() => 0);
    }
  },
};
