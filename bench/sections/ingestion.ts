/**
 * Section "ingestion": metric ingestion end to end. HTTP POST /api/v1/metrics in batches of 1,000
 * to the real API (child process, bench/servers/api.ts) → BullMQ in Redis → the real
 * metric-aggregator (services/metric-aggregator/dist/main.js, child process) → Postgres, on the
 * bench database and Redis prefix. Beside it in the same run: a naive baseline inserting one row
 * per event into a plain table through a pg Pool of 10 connections.
 *
 * BENCH_INGEST_EVENTS (200000), BENCH_INGEST_IN_FLIGHT (4 batches), BENCH_BASELINE_EVENTS (20000).
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type ChildServer, profileArgs, startBenchApi } from '../lib/child.js';
import { clientAuthorization } from '../lib/keys.js';
import { CpuWindow } from '../lib/machine.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, callJson, clearQueues, sleep, startWorker, type Worker } from '../lib/services.js';
import { envNumber, fixed, int, round } from '../lib/stats.js';
import type { Section, SectionResult } from '../lib/types.js';

const BATCH = 1000;
const TARGET_EPS = 20_000;
const TARGET_LAG_P99_S = 2;
const TARGET_RATIO = 10;
const AGGREGATOR_PORT = Math.round(envNumber('BENCH_AGGREGATOR_PORT', 19_201));
/** Queues the metrics endpoint fills (metric.recorded, cost.recorded, model.outcomes). */
const INGEST_QUEUES = ['metric-events', 'cost-events', 'model-outcomes'];
const BASELINE_TABLE = 'public.bench_naive_metric_events';

interface BaselineResult {
  events: number;
  seconds: number;
  events_per_second: number;
  pool_size: number;
}

/** One INSERT per event, 10 connections, into a plain table with metric_events' columns. */
async function runBaseline(pool: pg.Pool, events: number, models: { id: string; provider: string }[]): Promise<BaselineResult> {
  await pool.query(`DROP TABLE IF EXISTS ${BASELINE_TABLE}`);
  await pool.query(`CREATE TABLE ${BASELINE_TABLE} (LIKE model_router.metric_events INCLUDING DEFAULTS)`);
  const poolSize = 10;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= events) return;
      const model = models[i % models.length]!;
      const now = new Date();
      await pool.query(
        `INSERT INTO ${BASELINE_TABLE} (event_id, occurred_at, accepted_at, model_id, provider, success, latency_ms, prompt_tokens, completion_tokens, cost_nanos, user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [`naive-${i}`, now, now, model.id, model.provider, i % 20 !== 0, 100 + (i % 900), 100, 200, 1000 + (i % 50), `user-${i % 10_000}`],
      );
    }
  };
  await Promise.all(Array.from({ length: poolSize }, worker));
  const seconds = (performance.now() - started) / 1000;
  const count = Number((await pool.query(`SELECT count(*) AS n FROM ${BASELINE_TABLE}`)).rows[0].n);
  if (count !== events) throw new Error(`baseline: ${count} rows for ${events} inserts`);
  await pool.query(`DROP TABLE ${BASELINE_TABLE}`);
  return { events, seconds, events_per_second: events / seconds, pool_size: poolSize };
}

function batchBody(runId: string, start: number, count: number, models: { id: string }[]): string {
  const metrics = new Array(count);
  for (let k = 0; k < count; k++) {
    const i = start + k;
    metrics[k] = {
      event_id: `${runId}-${i}`,
      model_id: models[i % models.length]!.id,
      success: i % 20 !== 0,
      latency_ms: 100 + (i % 900),
      prompt_tokens: 100,
      completion_tokens: 200,
      user_id: `user-${i % 10_000}`,
    };
  }
  return JSON.stringify({ metrics });
}

export const ingestionSection: Section = {
  name: 'ingestion',
  usesDatabase: true,
  title: 'Metric ingestion end to end (HTTP → BullMQ → metric-aggregator → Postgres) vs one INSERT per event',
  async run(ctx): Promise<SectionResult> {
    const total = Math.round(envNumber('BENCH_INGEST_EVENTS', 200_000) / BATCH) * BATCH;
    const inFlight = Math.round(envNumber('BENCH_INGEST_IN_FLIGHT', 4));
    const baselineEvents = Math.round(envNumber('BENCH_BASELINE_EVENTS', 20_000));
    const pool = new pg.Pool({ connectionString: BENCH_DATABASE_URL, max: 10 });
    let api: ChildServer | null = null;
    let aggregator: Worker | null = null;
    try {
      ctx.log('ingestion: cleaning the bench event tables and queues');
      await pool.query('TRUNCATE model_router.metric_events, model_router.processed_events, model_router.model_rollups');
      await clearQueues(BENCH_REDIS_URL, INGEST_QUEUES);

      ctx.log('ingestion: starting the API and the metric-aggregator (child processes)');
      api = await startBenchApi(ctx.rootDir, { nodeArgs: profileArgs('ingestion-api') });
      aggregator = await startWorker({
        name: 'metric-aggregator',
        script: 'services/metric-aggregator/dist/main.js',
        cwd: ctx.rootDir,
        portVariable: 'METRIC_AGGREGATOR_PORT',
        port: AGGREGATOR_PORT,
        nodeArgs: profileArgs('ingestion-aggregator'),
      });
      const models = (await pool.query<{ id: string; provider: string }>('SELECT id, provider FROM model_router.models ORDER BY id LIMIT 8')).rows;
      if (!models.length) throw new Error('the bench database has no models');

      // A small warm-up batch through the whole path (JIT, connections), then clean again.
      const warm = await callJson('POST', `${api.ready.url}/api/v1/metrics`, batchBody(`warm-${randomUUID()}`, 0, BATCH, models));
      if (warm.status !== 202) throw new Error(`warm-up batch answered ${warm.status}: ${warm.text}`);
      for (let i = 0; ; i++) {
        const n = Number((await pool.query(`SELECT count(*) AS n FROM model_router.processed_events WHERE kind = 'metric.recorded'`)).rows[0].n);
        if (n >= BATCH) break;
        if (i > 300) throw new Error(`warm-up: ${n}/${BATCH} events persisted after 30 s`);
        await sleep(100);
      }
      await pool.query('TRUNCATE model_router.metric_events, model_router.processed_events, model_router.model_rollups');

      ctx.log(`ingestion: baseline, ${int(baselineEvents)} single-row INSERTs over 10 connections`);
      const baseline = await runBaseline(pool, baselineEvents, models);

      const runId = `bench-${randomUUID()}`;
      ctx.log(`ingestion: sending ${int(total)} events in batches of ${BATCH}, ${inFlight} requests in flight`);
      const aggCpuBefore = await opsCpu(aggregator.opsUrl);
      const apiCpuBefore = (await api.request('cpu')) as NodeJS.CpuUsage;
      const window = new CpuWindow();
      const url = `${api.ready.url}/api/v1/metrics`;
      const firstSend = Date.now();
      let nextBatch = 0;
      let lastAccepted = 0;
      const statuses = new Map<number, number>();
      const sender = async () => {
        for (;;) {
          const b = nextBatch++;
          if (b * BATCH >= total) return;
          const body = batchBody(runId, b * BATCH, BATCH, models);
          for (let attempt = 0; ; attempt++) {
            const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...clientAuthorization() }, body });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            if (res.status === 202) break;
            // 503 (Redis busy): the API says retry; the same event_ids make the retry safe.
            if (res.status !== 503 || attempt > 20) throw new Error(`batch ${b}: ${res.status}`);
            await sleep(100);
          }
          lastAccepted = Date.now();
        }
      };
      await Promise.all(Array.from({ length: inFlight }, sender));
      const acceptSeconds = (lastAccepted - firstSend) / 1000;
      ctx.log(`ingestion: all accepted in ${fixed(acceptSeconds)} s, waiting for Postgres`);

      let persisted = 0;
      let lastChange = Date.now();
      for (;;) {
        const n = Number((await pool.query(`SELECT count(*) AS n FROM model_router.processed_events WHERE kind = 'metric.recorded'`)).rows[0].n);
        if (n !== persisted) lastChange = Date.now();
        persisted = n;
        if (n >= total || Date.now() - lastChange > 30_000) break;
        await sleep(100);
      }
      const apiCpuAfter = (await api.request('cpu')) as NodeJS.CpuUsage;
      const aggCpuAfter = await opsCpu(aggregator.opsUrl);
      const apiCpuS = (apiCpuAfter.user - apiCpuBefore.user + apiCpuAfter.system - apiCpuBefore.system) / 1e6;
      const aggCpuS = aggCpuAfter !== null && aggCpuBefore !== null ? aggCpuAfter - aggCpuBefore : Number.NaN;
      const usage = window.finish(apiCpuS + (Number.isFinite(aggCpuS) ? aggCpuS : 0));

      const stats = (
        await pool.query(
          `SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct_ids,
                  extract(epoch FROM max(persisted_at)) * 1000 AS last_persisted_ms,
                  percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM persisted_at - accepted_at)) AS lag,
                  max(extract(epoch FROM persisted_at - accepted_at)) AS lag_max
             FROM model_router.metric_events WHERE event_id LIKE $1`,
          [`${runId}-%`],
        )
      ).rows[0];
      const rollup = Number(
        (await pool.query(`SELECT coalesce(sum(request_count), 0) AS n FROM model_router.model_rollups WHERE granularity = 'minute'`)).rows[0].n,
      );
      const rows = Number(stats.rows);
      const distinct = Number(stats.distinct_ids);
      const lag = (stats.lag as number[] | null) ?? [];
      const lagP50 = Number(lag[0] ?? Number.NaN);
      const lagP99 = Number(lag[1] ?? Number.NaN);
      const lagMax = Number(stats.lag_max);
      const endToEndSeconds = (Number(stats.last_persisted_ms) - firstSend) / 1000;
      const eps = rows / endToEndSeconds;
      const ratio = eps / baseline.events_per_second;
      const lost = total - distinct;
      const doubled = rows - distinct + Math.max(0, rollup - total);
      const ok = lost === 0 && rows === total && rollup === total;

      return {
        tables: [
          {
            title: `${int(total)} metric events, batches of ${BATCH}, ${inFlight} requests in flight, loopback; baseline ${int(baselineEvents)} single-row INSERTs, pool of ${baseline.pool_size}`,
            columns: ['path', 'events', 'seconds', 'events/s', 'lag p50 s', 'lag p99 s', 'lag max s'],
            rows: [
              ['HTTP → queue → aggregator → Postgres', int(rows), fixed(endToEndSeconds), int(eps), fixed(lagP50, 3), fixed(lagP99, 3), fixed(lagMax, 3)],
              ['HTTP accepted (202) only', int(total), fixed(acceptSeconds), int(total / acceptSeconds), '—', '—', '—'],
              ['one INSERT per event (baseline)', int(baseline.events), fixed(baseline.seconds), int(baseline.events_per_second), '—', '—', '—'],
            ],
          },
          {
            title: 'Exactly once',
            columns: ['sent', 'metric_events rows', 'distinct event_ids', 'rollup request_count', 'lost', 'double-counted'],
            rows: [[int(total), int(rows), int(distinct), int(rollup), int(lost), int(doubled)]],
          },
        ],
        targets: [
          { name: 'events/s end to end (first send → last row persisted)', target: `≥ ${int(TARGET_EPS)}`, actual: int(eps), pass: eps >= TARGET_EPS },
          { name: 'lag p99 (accepted_at → persisted_at)', target: `≤ ${TARGET_LAG_P99_S} s`, actual: `${fixed(lagP99, 3)} s`, pass: lagP99 <= TARGET_LAG_P99_S },
          { name: 'end to end vs one INSERT per event', target: `≥ ${TARGET_RATIO}×`, actual: `${fixed(ratio, 1)}×`, pass: ratio >= TARGET_RATIO },
          { name: 'lost / double-counted events', target: '0 / 0', actual: `${lost} / ${doubled}`, pass: ok },
        ],
        notes: [
          'End to end: from the first POST to the largest persisted_at of the run\'s rows (persisted_at is the aggregator\'s transaction time); the sender stops at the last 202, the rest is the queue draining.',
          'Lag: persisted_at − accepted_at of every row (SQL percentile_cont over metric_events); accepted_at is set by the API when it validates the batch.',
          'Exactly once: rows and distinct event_ids in metric_events, and the sum of the minute rollups\' request_count, each equal to the events sent.',
          `CPU during the end-to-end run, cores of 2: ${usage ? `bench ${fixed(usage.bench_cores)}, API + aggregator ${fixed(usage.accounted_cores)} (aggregator ${fixed(aggCpuS / usage.wall_s)}), irq ${fixed(usage.irq_cores)}, other (Redis, Postgres, …) ${fixed(usage.other_cores)}, machine ${fixed(usage.machine_busy_cores)}` : 'unavailable'}.`,
          'Each accepted metric also queues a cost.recorded event (no budget-enforcer runs here) and a model-outcomes summary; those queues are deleted afterwards.',
        ],
        data: {
          events: total,
          batch: BATCH,
          in_flight: inFlight,
          end_to_end_s: round(endToEndSeconds),
          events_per_second: round(eps, 1),
          accepted_s: round(acceptSeconds),
          accepted_events_per_second: round(total / acceptSeconds, 1),
          lag_s: { p50: round(lagP50), p99: round(lagP99), max: round(lagMax) },
          rows,
          distinct_event_ids: distinct,
          rollup_request_count: rollup,
          lost,
          double_counted: doubled,
          http_statuses: Object.fromEntries([...statuses].map(([k, v]) => [String(k), v])),
          baseline: { ...baseline, seconds: round(baseline.seconds), events_per_second: round(baseline.events_per_second, 1) },
          ratio: round(ratio, 2),
          cpu: usage ? { ...usage, aggregator_cores: round(aggCpuS / usage.wall_s, 2) } : null,
        },
      };
    } finally {
      if (aggregator) await aggregator.stop().catch((error: unknown) => ctx.log(`metric-aggregator: ${String(error)}`));
      if (api) await api.stop().catch((error: unknown) => ctx.log(`api: ${String(error)}`));
      await clearQueues(BENCH_REDIS_URL, INGEST_QUEUES).catch(() => 0);
      await pool.end();
    }
  },
};

/** model_router_process_cpu_seconds_total from a worker's /metrics (prom-client's default metric), or null. */
async function opsCpu(opsUrl: string): Promise<number | null> {
  try {
    const text = await (await fetch(`${opsUrl}/metrics`)).text();
    // e.g. model_router_process_cpu_seconds_total{service="metric-aggregator"} 12.3
    const line = text.split('\n').find((l) => /^model_router_process_cpu_seconds_total[{ ]/.test(l));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : null;
  } catch {
    return null;
  }
}
