/**
 * GET /api/v1/usage?group_by=key: usage per API key (the tenant that sent each metric), exact for
 * any range, read like usage by model — hour and minute key rollups written by the real metric
 * aggregator, the partial minutes at the ends from the raw events.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import request from 'supertest';
import { type Harness, startHarness } from './harness.js';
import { expectedUsage, type PostedUsage, startUsageAggregator, type UsageAggregator, usageRanges } from './usage-fixtures.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const KEYS = { alpha: 'alpha-client-key-0123456789', beta: 'beta-client-key-0123456789', gamma: 'gamma-client-key-0123456789' };
const TENANTS = Object.keys(KEYS) as Array<keyof typeof KEYS>;

let h: Harness;
let aggregator: UsageAggregator;
let db: pg.Pool;

interface Posted extends PostedUsage {
  key: keyof typeof KEYS;
}

// 240 metrics over ~30 hours ending hours ago (inside the ingestion window), at uneven instants, so
// ranges cut through hours and minutes; the keys take turns unevenly.
const base = Math.floor(Date.now() / HOUR) * HOUR - 34 * HOUR;
const posted: Posted[] = Array.from({ length: 240 }, (_, i) => ({
  at: base + i * (7 * MINUTE + 11_000) + i * 41,
  key: TENANTS[(i * 7) % 5 === 0 ? 2 : i % 2]!,
  success: i % 9 !== 0,
  prompt_tokens: 50 + i,
  completion_tokens: 20 + ((i * 17) % 300),
  cost_nanos: 2_000_011 * (1 + (i % 13)) + i,
}));

const expected = (from: number, to: number) => expectedUsage(posted, (p) => p.key, from, to);

async function usageByKey(from: number, to: number) {
  const res = await request(h.api.app)
    .get(`/api/v1/usage?group_by=key&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`)
    .set({ Authorization: `Bearer ${KEYS.alpha}` })
    .expect(200);
  expect(res.body.group_by).toBe('key');
  return (res.body.rows as Array<{ key: string }>).sort((a, b) => a.key.localeCompare(b.key));
}

beforeAll(async () => {
  h = await startHarness({ 'auth.client_api_keys': Object.entries(KEYS).map(([id, key]) => ({ id, key })) });
  aggregator = await startUsageAggregator(h);
  db = aggregator.db;
  for (const tenant of TENANTS) {
    const metrics = posted
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p.key === tenant)
      .map(({ p, i }) => ({
        event_id: `usage-${i}`,
        timestamp: new Date(p.at).toISOString(),
        model_id: i % 3 === 0 ? 'gpt-4o' : 'claude-haiku-4-5',
        success: p.success,
        latency_ms: 100,
        prompt_tokens: p.prompt_tokens,
        completion_tokens: p.completion_tokens,
        cost: p.cost_nanos / 1e9,
      }));
    for (let i = 0; i < metrics.length; i += 100) {
      await request(h.api.app).post('/api/v1/metrics').set({ Authorization: `Bearer ${KEYS[tenant]}` }).send({ metrics: metrics.slice(i, i + 100) }).expect(202);
    }
  }
  await aggregator.persisted(posted.length);
});
afterAll(async () => {
  await aggregator.stop();
  await h.stop();
});

const ranges = usageRanges(base);

describe('GET /api/v1/usage?group_by=key', () => {
  it.each(ranges)('equals the posted metrics per key for %s', async (_name, from, to) => {
    const rows = await usageByKey(from, to);
    const want = expected(from, to);
    expect(rows.map((r) => ({ ...r, cost_usd: Math.round((r as unknown as { cost_usd: number }).cost_usd * 1e9) }))).toEqual(
      want.map((r) => ({ ...r, cost_usd: Math.round(r.cost_usd * 1e9) })),
    );
  });

  it("the migration's backfill from raw events makes exactly the rows the aggregator wrote", async () => {
    const migration = readFileSync(new URL('../../../migrations/1764500000001_key-usage-rollups.sql', import.meta.url), 'utf8');
    const backfill = /INSERT INTO model_router\.key_rollups[^)]*\)\s*(SELECT[\s\S]*?);/.exec(migration)?.[1];
    expect(backfill).toBeDefined();
    const order = 'ORDER BY 1, 2, 3';
    const rebuilt = await db.query(`SELECT * FROM (${backfill}) AS b(granularity, bucket_start, key_id, n, ok, p, c, cost) ${order}`);
    const written = await db.query(
      `SELECT granularity, bucket_start, key_id, request_count AS n, success_count AS ok, prompt_tokens_sum AS p,
              completion_tokens_sum AS c, cost_nanos_sum AS cost FROM model_router.key_rollups ${order}`,
    );
    expect(rebuilt.rows.length).toBeGreaterThan(200);
    expect(rebuilt.rows).toEqual(written.rows);
  });

  it('reads the key rollups: the raw events of whole minutes may go and nothing changes', async () => {
    const [, from, to] = ranges[1]!;
    const before = await usageByKey(from, to);
    // Every raw event inside the range's whole minutes is covered by the key rollups.
    const lo = new Date(Math.ceil(from / MINUTE) * MINUTE);
    const hi = new Date(Math.floor(to / MINUTE) * MINUTE);
    const { rowCount } = await db.query('DELETE FROM model_router.metric_events WHERE occurred_at >= $1 AND occurred_at < $2', [lo, hi]);
    expect(rowCount).toBeGreaterThan(100);
    expect(await usageByKey(from, to)).toEqual(before);
  });

  it('has one rollup row per key per minute and per hour, summing to the events', async () => {
    const { rows } = await db.query(
      `SELECT granularity, key_id, sum(request_count)::int AS n FROM model_router.key_rollups GROUP BY 1, 2 ORDER BY 1, 2`,
    );
    const perKey = (tenant: string) => posted.filter((p) => p.key === tenant).length;
    expect(rows).toEqual(
      ['hour', 'minute'].flatMap((granularity) => TENANTS.map((key_id) => ({ granularity, key_id, n: perKey(key_id) }))),
    );
  });
});
