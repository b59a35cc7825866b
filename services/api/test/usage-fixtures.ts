/**
 * Set-up shared by the usage tests (by model, provider, user, day, hour; by key): a real metric
 * aggregator writing the rollups the usage endpoint reads, the ranges read back, and the totals
 * the posted metrics should add up to.
 */
import { createLogger } from '@model-router/logger';
import { startMetricAggregator } from '@model-router/metric-aggregator';
import { waitUntil } from '@model-router/tests/support';
import pg from 'pg';
import type { Harness } from './harness.js';

/** One posted metric, as far as usage totals go. */
export interface PostedUsage {
  at: number;
  success: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cost_nanos: number;
}

export interface UsageRow<K> {
  key: K;
  request_count: number;
  success_count: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
}

/** The usage rows the metrics posted in [from, to) add up to, grouped by `keyOf`, sorted by key. */
export function expectedUsage<P extends PostedUsage, K extends string | null>(posted: readonly P[], keyOf: (p: P) => K, from: number, to: number): UsageRow<K>[] {
  const rows = new Map<K, { request_count: number; success_count: number; prompt_tokens: number; completion_tokens: number; cost_nanos: number }>();
  for (const p of posted) {
    if (p.at < from || p.at >= to) continue;
    const key = keyOf(p);
    const row = rows.get(key) ?? { request_count: 0, success_count: 0, prompt_tokens: 0, completion_tokens: 0, cost_nanos: 0 };
    row.request_count += 1;
    row.success_count += p.success ? 1 : 0;
    row.prompt_tokens += p.prompt_tokens;
    row.completion_tokens += p.completion_tokens;
    row.cost_nanos += p.cost_nanos;
    rows.set(key, row);
  }
  return [...rows.entries()]
    .map(([key, r]) => ({ key, request_count: r.request_count, success_count: r.success_count, prompt_tokens: r.prompt_tokens, completion_tokens: r.completion_tokens, cost_usd: r.cost_nanos / 1e9 }))
    .sort((a, b) => String(a.key).localeCompare(String(b.key)));
}

const HOUR = 3_600_000;
const MINUTE = 60_000;

/** Ranges over metrics posted from `base` on: all of them, one cutting through minutes and hours, one inside an hour. */
export function usageRanges(base: number): Array<[string, number, number]> {
  return [
    ['everything', base - HOUR, base + 40 * HOUR],
    ['a range cutting through minutes and hours', base + HOUR + 23 * MINUTE + 17_500, base + 27 * HOUR + 5 * MINUTE + 3_250],
    ['a range inside one hour', base + 2 * HOUR + 61_001, base + 2 * HOUR + 50 * MINUTE + 999],
  ];
}

export interface UsageAggregator {
  db: pg.Pool;
  /** Waits until `count` metric events are persisted. */
  persisted(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** A real metric aggregator on the harness's database and Redis, and a pool to watch what it writes. */
export async function startUsageAggregator(h: Harness): Promise<UsageAggregator> {
  const aggregator = await startMetricAggregator(h.env.config(), { logger: createLogger('aggregator-test', 'error'), opsPort: 0 });
  const db = new pg.Pool({ connectionString: h.env.databaseUrl, max: 2 });
  return {
    db,
    async persisted(count) {
      await waitUntil(async () => (await db.query('SELECT count(*)::int AS n FROM model_router.metric_events')).rows[0].n === count, {
        timeoutMs: 30_000,
        intervalMs: 50,
        what: `all ${count} metrics persisted`,
      });
    },
    async stop() {
      await db.end();
      await aggregator.stop();
    },
  };
}
