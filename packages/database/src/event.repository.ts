import type pg from 'pg';
import { withTransaction } from './pool.js';

/**
 * Storage of route and metric events: the idempotency ledger, the raw time-partitioned tables and
 * the rollups (migrations/1764160000000_event-storage.sql). Each batch is written in ONE
 * transaction: ledger insert → raw rows of the new events → rollup upserts. A redelivered batch
 * finds its ids in the ledger and changes nothing; a batch interrupted anywhere leaves nothing.
 */

/** One route.decided event as stored (the shape of RouteDecidedEvent in @model-router/queue). */
export interface RouteEventRecord {
  event_id: string;
  /** The client namespace of event_id (see migrations/1764200100000_idempotency-namespaces.sql). */
  key_id: string;
  occurred_at: string;
  model_id: string;
  provider: string;
  strategy: string;
  user_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
  /** Bandit tests: the assignment probability of the user's variant (stored with the exposure). */
  assignment_probability?: number | null | undefined;
  prompt_tokens: number;
  max_tokens: number;
  estimated_cost_nanos: number;
  estimated_latency_ms: number;
}

/** One metric.recorded event as stored (the shape of MetricRecordedEvent in @model-router/queue). */
export interface MetricEventRecord {
  event_id: string;
  /** The client namespace of event_id (see migrations/1764200100000_idempotency-namespaces.sql). */
  key_id: string;
  occurred_at: string;
  accepted_at: string;
  model_id: string;
  provider: string;
  success: boolean;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_nanos: number;
  user_id: string | null;
  request_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
  /** Set by the gateway; absent on a client's report. */
  source?: 'client' | 'gateway';
  ttft_ms?: number | null;
  tokens_estimated?: boolean;
}

export interface PersistResult<E> {
  received: number;
  /** Events written for the first time. */
  inserted: number;
  /** Events already in the ledger (a redelivery, a repeated event_id, or twice in this batch). */
  duplicates: number;
  /** The events that were written, for lag measurement. */
  insertedEvents: E[];
}

export type Granularity = 'minute' | 'hour';
const GRANULARITIES: readonly { name: Granularity; ms: number }[] = [
  { name: 'minute', ms: 60_000 },
  { name: 'hour', ms: 3_600_000 },
];

// ---------------------------------------------------------------------------------------------
// Latency histogram: fixed log-spaced bounds, so histograms of any rows merge by adding counts.

/** bound[k] = 120000^(k/40) ms, k = 0..40: 1 ms … 120 s in steps of ×1.3396. */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = Array.from({ length: 41 }, (_, k) => 120_000 ** (k / 40));
/** Bucket 0 is below 1 ms, bucket k (1–40) is [bound[k-1], bound[k]), bucket 41 is 120 s and above. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** The histogram bucket of a latency: the number of bounds at or below it. */
export function latencyBucketIndex(latencyMs: number): number {
  let lo = 0;
  let hi = LATENCY_BUCKET_BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (LATENCY_BUCKET_BOUNDS_MS[mid]! <= latencyMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Estimates the q-quantile (0 < q < 1) of a latency histogram, interpolating geometrically inside
 * the bucket that holds it (linearly in the first); clamped to [min, max] when they are known.
 * Null for an empty histogram.
 */
export function estimateLatencyQuantile(
  buckets: readonly number[],
  q: number,
  range: { min?: number; max?: number } = {},
): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  let estimate = LATENCY_BUCKET_BOUNDS_MS.at(-1)!;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!;
    if (count === 0 || cumulative + count < rank) {
      cumulative += count;
      continue;
    }
    const fraction = Math.min(1, Math.max(0, (rank - cumulative) / count));
    if (i === 0) estimate = fraction * LATENCY_BUCKET_BOUNDS_MS[0]!;
    else if (i >= LATENCY_BUCKET_BOUNDS_MS.length) estimate = LATENCY_BUCKET_BOUNDS_MS.at(-1)!;
    else {
      const lo = LATENCY_BUCKET_BOUNDS_MS[i - 1]!;
      const hi = LATENCY_BUCKET_BOUNDS_MS[i]!;
      estimate = lo * (hi / lo) ** fraction;
    }
    break;
  }
  if (range.min !== undefined) estimate = Math.max(estimate, range.min);
  if (range.max !== undefined) estimate = Math.min(estimate, range.max);
  return estimate;
}

// ---------------------------------------------------------------------------------------------
// Pre-aggregation of a batch in JS: one rollup row per key, so a batch of 1,000 events upserts a
// few dozen rows instead of 1,000 and concurrent batches contend on far fewer row locks.

class MetricAggregate {
  count = 0;
  successes = 0;
  latencySum = 0;
  latencySumSq = 0;
  latencyMin = Infinity;
  latencyMax = -Infinity;
  // Nano-dollar sums in BigInt: squares of costs above ~$0.1 already pass 2^53.
  costSum = 0n;
  costSumSq = 0n;
  promptTokens = 0;
  completionTokens = 0;
  readonly buckets: number[] = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);

  add(e: MetricEventRecord): void {
    this.count += 1;
    if (e.success) this.successes += 1;
    this.latencySum += e.latency_ms;
    this.latencySumSq += e.latency_ms * e.latency_ms;
    if (e.latency_ms < this.latencyMin) this.latencyMin = e.latency_ms;
    if (e.latency_ms > this.latencyMax) this.latencyMax = e.latency_ms;
    const cost = BigInt(e.cost_nanos);
    this.costSum += cost;
    this.costSumSq += cost * cost;
    this.promptTokens += e.prompt_tokens;
    this.completionTokens += e.completion_tokens;
    this.buckets[latencyBucketIndex(e.latency_ms)]! += 1;
  }
}

class UserAggregate {
  count = 0;
  successes = 0;
  latencySum = 0;
  latencySumSq = 0;
  costSum = 0n;
  costSumSq = 0n;

  add(e: MetricEventRecord): void {
    this.count += 1;
    if (e.success) this.successes += 1;
    this.latencySum += e.latency_ms;
    this.latencySumSq += e.latency_ms * e.latency_ms;
    const cost = BigInt(e.cost_nanos);
    this.costSum += cost;
    this.costSumSq += cost * cost;
  }
}

interface RouteAggregate {
  decisions: number;
  estimatedCost: bigint;
  promptTokens: number;
  maxTokens: number;
}

/**
 * Groups by a composite key; `sorted` yields entries in one global key order (deadlock safety).
 * The caller passes the key's string form too, so the hot path allocates no tuple per event.
 */
class Grouped<K, V> {
  private readonly map = new Map<string, { key: K; value: V }>();
  constructor(private readonly create: () => V) {}

  get(id: string, key: () => K): V {
    let entry = this.map.get(id);
    if (!entry) {
      entry = { key: key(), value: this.create() };
      this.map.set(id, entry);
    }
    return entry.value;
  }

  get size(): number {
    return this.map.size;
  }

  sorted(): { key: K; value: V }[] {
    return [...this.map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, entry]) => entry);
  }
}

/** Start (epoch ms) of the UTC bucket of `granularityMs` holding `ms`. */
function bucketStart(ms: number, granularityMs: number): number {
  return ms - (((ms % granularityMs) + granularityMs) % granularityMs);
}

// Array parameters are sent as Postgres array literals built here: node-postgres's generic array
// serializer (a regex replace and a type dispatch per element) was ~5 ms of CPU per 1,000-event
// batch in the aggregator's profile; these take about a third of that.
const NEEDS_ESCAPE = /[\\"]/;

/** `{"a","b",NULL}`: a text[] literal; every element quoted, so any text is safe. */
function textArray(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else out += `"${NEEDS_ESCAPE.test(v) ? v.replace(/[\\"]/g, '\\$&') : v}"`;
  }
  return `${out}}`;
}

/** `{1,2.5,3}`: a literal for bigint[], float8[] or numeric[] (finite numbers or integer strings). */
function numberArray(values: readonly (number | string)[]): string {
  return `{${values.join(',')}}`;
}

function booleanArray(values: readonly boolean[]): string {
  return `{${values.map((v) => (v ? 't' : 'f')).join(',')}}`;
}

/** `{"2026-01-01T00:00:00.000Z",…}` for timestamptz[] from epoch milliseconds. */
function timestampArray(values: readonly number[]): string {
  return textArray(values.map((ms) => new Date(ms).toISOString()));
}

/**
 * An event's identity in the ledger: its client namespace and its id. Key ids never hold "/"
 * (see keyIdSchema in @model-router/queue), so the first "/" ends the namespace.
 */
const identity = (e: { key_id: string; event_id: string }): string => `${e.key_id}/${e.event_id}`;

/** Keeps the first event of each (key_id, event_id): a batch may carry the same id twice. */
function uniqueById<E extends { key_id: string; event_id: string }>(events: readonly E[]): E[] {
  const seen = new Set<string>();
  const unique: E[] = [];
  for (const e of events) {
    const id = identity(e);
    if (seen.has(id)) continue;
    seen.add(id);
    unique.push(e);
  }
  return unique;
}

// ---------------------------------------------------------------------------------------------
// SQL. Every multi-row write takes its rows as arrays and expands them with UNNEST: one statement
// and one round trip per table, whatever the batch size. Upserts insert in the order of their
// sorted input (ORDER BY ord), so two batches lock shared rollup rows in the same order.

// The ledger insert and the raw insert are one statement: only ids the ledger did not know get a
// raw row. It answers one row: how many were new and, only when some were not, which ones (the
// common all-new batch sends no id back; ids come back as "key_id/event_id"). Ids enter the ledger
// sorted, so two batches sharing ids cannot deadlock on them. An id is new per client namespace
// (key_id): two clients may use the same event_id.
const INSERT_ROUTE_EVENTS = `
WITH fresh AS (
  INSERT INTO model_router.processed_events (kind, event_id, key_id)
  SELECT 'route.decided', i.id, i.key FROM unnest($1::text[], $13::text[]) AS i(id, key)
  ORDER BY i.id COLLATE "C", i.key COLLATE "C"
  ON CONFLICT DO NOTHING
  RETURNING event_id, key_id
), written AS (
  INSERT INTO model_router.route_events (event_id, occurred_at, model_id, provider, strategy, user_id,
    ab_test_id, variant_id, prompt_tokens, max_tokens, estimated_cost_nanos, estimated_latency_ms, key_id)
  SELECT u.* FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::float8[], $13::text[])
    AS u(event_id, occurred_at, model_id, provider, strategy, user_id, ab_test_id, variant_id,
         prompt_tokens, max_tokens, estimated_cost_nanos, estimated_latency_ms, key_id)
  WHERE (u.event_id, u.key_id) IN (SELECT event_id, key_id FROM fresh)
  RETURNING event_id, key_id
)
SELECT count(*)::int AS inserted,
  CASE WHEN count(*) < cardinality($1::text[]) THEN coalesce(array_agg(key_id || '/' || event_id), '{}') END AS ids
FROM written`;

const INSERT_METRIC_EVENTS = `
WITH fresh AS (
  INSERT INTO model_router.processed_events (kind, event_id, key_id)
  SELECT 'metric.recorded', i.id, i.key FROM unnest($1::text[], $15::text[]) AS i(id, key)
  ORDER BY i.id COLLATE "C", i.key COLLATE "C"
  ON CONFLICT DO NOTHING
  RETURNING event_id, key_id
), written AS (
  INSERT INTO model_router.metric_events (event_id, occurred_at, accepted_at, model_id, provider, success,
    latency_ms, prompt_tokens, completion_tokens, cost_nanos, user_id, request_id, ab_test_id, variant_id, key_id,
    source, ttft_ms, tokens_estimated)
  SELECT u.* FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[],
    $6::boolean[], $7::float8[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[],
    $13::text[], $14::text[], $15::text[], $16::text[], $17::float8[], $18::boolean[])
    AS u(event_id, occurred_at, accepted_at, model_id, provider, success, latency_ms, prompt_tokens,
         completion_tokens, cost_nanos, user_id, request_id, ab_test_id, variant_id, key_id, source, ttft_ms,
         tokens_estimated)
  WHERE (u.event_id, u.key_id) IN (SELECT event_id, key_id FROM fresh)
  RETURNING event_id, key_id
)
SELECT count(*)::int AS inserted,
  CASE WHEN count(*) < cardinality($1::text[]) THEN coalesce(array_agg(key_id || '/' || event_id), '{}') END AS ids
FROM written`;

/** The SET list that merges an incoming metric aggregate into a stored one (alias r). */
const MERGE_METRIC_AGGREGATE = `
  request_count         = r.request_count + EXCLUDED.request_count,
  success_count         = r.success_count + EXCLUDED.success_count,
  latency_sum           = r.latency_sum + EXCLUDED.latency_sum,
  latency_sum_sq        = r.latency_sum_sq + EXCLUDED.latency_sum_sq,
  latency_min           = LEAST(r.latency_min, EXCLUDED.latency_min),
  latency_max           = GREATEST(r.latency_max, EXCLUDED.latency_max),
  cost_nanos_sum        = r.cost_nanos_sum + EXCLUDED.cost_nanos_sum,
  cost_nanos_sum_sq     = r.cost_nanos_sum_sq + EXCLUDED.cost_nanos_sum_sq,
  prompt_tokens_sum     = r.prompt_tokens_sum + EXCLUDED.prompt_tokens_sum,
  completion_tokens_sum = r.completion_tokens_sum + EXCLUDED.completion_tokens_sum,
  latency_buckets       = model_router.add_buckets(r.latency_buckets, EXCLUDED.latency_buckets),
  updated_at            = now()`;

/** UNNEST columns of a metric aggregate, parameters $offset+1 … $offset+11. */
function metricAggregateUnnest(offset: number): string {
  const p = (i: number) => `$${offset + i}`;
  return `${p(1)}::bigint[], ${p(2)}::bigint[], ${p(3)}::float8[], ${p(4)}::float8[], ${p(5)}::float8[],
    ${p(6)}::float8[], ${p(7)}::bigint[], ${p(8)}::numeric[], ${p(9)}::bigint[], ${p(10)}::bigint[], ${p(11)}::text[]`;
}
const METRIC_AGGREGATE_COLUMNS = `request_count, success_count, latency_sum, latency_sum_sq, latency_min,
  latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum, completion_tokens_sum, latency_buckets`;
const METRIC_AGGREGATE_SELECT = `request_count, success_count, latency_sum, latency_sum_sq, latency_min,
  latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum, completion_tokens_sum, latency_buckets::bigint[]`;

const UPSERT_MODEL_ROLLUPS = `
INSERT INTO model_router.model_rollups AS r (granularity, bucket_start, model_id, provider, ${METRIC_AGGREGATE_COLUMNS})
SELECT granularity, bucket_start, model_id, provider, ${METRIC_AGGREGATE_SELECT}
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], ${metricAggregateUnnest(4)})
  WITH ORDINALITY AS u(granularity, bucket_start, model_id, provider, ${METRIC_AGGREGATE_COLUMNS}, ord)
ORDER BY ord
ON CONFLICT (granularity, bucket_start, model_id, provider) DO UPDATE SET ${MERGE_METRIC_AGGREGATE}`;

// Usage per API key (the tenant): only the sums usage reports (migrations/…_key-usage-rollups.sql).
const UPSERT_KEY_ROLLUPS = `
INSERT INTO model_router.key_rollups AS r (granularity, bucket_start, key_id, request_count, success_count,
  prompt_tokens_sum, completion_tokens_sum, cost_nanos_sum)
SELECT granularity, bucket_start, key_id, request_count, success_count, prompt_tokens_sum, completion_tokens_sum, cost_nanos_sum
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
  WITH ORDINALITY AS u(granularity, bucket_start, key_id, request_count, success_count, prompt_tokens_sum,
    completion_tokens_sum, cost_nanos_sum, ord)
ORDER BY ord
ON CONFLICT (granularity, bucket_start, key_id) DO UPDATE SET
  request_count         = r.request_count + EXCLUDED.request_count,
  success_count         = r.success_count + EXCLUDED.success_count,
  prompt_tokens_sum     = r.prompt_tokens_sum + EXCLUDED.prompt_tokens_sum,
  completion_tokens_sum = r.completion_tokens_sum + EXCLUDED.completion_tokens_sum,
  cost_nanos_sum        = r.cost_nanos_sum + EXCLUDED.cost_nanos_sum,
  updated_at            = now()`;

/** What usage by key sums per (granularity, bucket, key). */
interface KeyUsageAggregate {
  count: number;
  successes: number;
  promptTokens: number;
  completionTokens: number;
  costSum: bigint;
}

const UPSERT_ABTEST_VARIANT_ROLLUPS = `
INSERT INTO model_router.abtest_variant_rollups AS r (ab_test_id, variant_id, ${METRIC_AGGREGATE_COLUMNS})
SELECT ab_test_id, variant_id, ${METRIC_AGGREGATE_SELECT}
FROM unnest($1::text[], $2::text[], ${metricAggregateUnnest(2)})
  WITH ORDINALITY AS u(ab_test_id, variant_id, ${METRIC_AGGREGATE_COLUMNS}, ord)
ORDER BY ord
ON CONFLICT (ab_test_id, variant_id) DO UPDATE SET ${MERGE_METRIC_AGGREGATE}`;

const UPSERT_ABTEST_USER_TOTALS = `
INSERT INTO model_router.abtest_user_totals AS r (ab_test_id, variant_id, user_id, n, success_count,
  latency_sum, latency_sum_sq, cost_nanos_sum, cost_nanos_sum_sq)
SELECT ab_test_id, variant_id, user_id, n, success_count, latency_sum, latency_sum_sq, cost_nanos_sum, cost_nanos_sum_sq
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::float8[], $7::float8[],
  $8::bigint[], $9::numeric[])
  WITH ORDINALITY AS u(ab_test_id, variant_id, user_id, n, success_count, latency_sum, latency_sum_sq,
    cost_nanos_sum, cost_nanos_sum_sq, ord)
ORDER BY ord
ON CONFLICT (ab_test_id, variant_id, user_id) DO UPDATE SET
  n                 = r.n + EXCLUDED.n,
  success_count     = r.success_count + EXCLUDED.success_count,
  latency_sum       = r.latency_sum + EXCLUDED.latency_sum,
  latency_sum_sq    = r.latency_sum_sq + EXCLUDED.latency_sum_sq,
  cost_nanos_sum    = r.cost_nanos_sum + EXCLUDED.cost_nanos_sum,
  cost_nanos_sum_sq = r.cost_nanos_sum_sq + EXCLUDED.cost_nanos_sum_sq,
  updated_at        = now()`;

const UPSERT_ROUTE_ROLLUPS = `
INSERT INTO model_router.route_rollups AS r (granularity, bucket_start, model_id, provider, strategy,
  decision_count, estimated_cost_nanos_sum, prompt_tokens_sum, max_tokens_sum)
SELECT granularity, bucket_start, model_id, provider, strategy, decision_count, estimated_cost_nanos_sum,
  prompt_tokens_sum, max_tokens_sum
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
  $8::bigint[], $9::bigint[])
  WITH ORDINALITY AS u(granularity, bucket_start, model_id, provider, strategy, decision_count,
    estimated_cost_nanos_sum, prompt_tokens_sum, max_tokens_sum, ord)
ORDER BY ord
ON CONFLICT (granularity, bucket_start, model_id, provider, strategy) DO UPDATE SET
  decision_count           = r.decision_count + EXCLUDED.decision_count,
  estimated_cost_nanos_sum = r.estimated_cost_nanos_sum + EXCLUDED.estimated_cost_nanos_sum,
  prompt_tokens_sum        = r.prompt_tokens_sum + EXCLUDED.prompt_tokens_sum,
  max_tokens_sum           = r.max_tokens_sum + EXCLUDED.max_tokens_sum,
  updated_at               = now()`;

// The earliest decision wins (variant and assignment probability), whatever order batches arrive
// in; a decision for another variant marks the user as crossed over, in either order.
const UPSERT_ABTEST_EXPOSURES = `
INSERT INTO model_router.abtest_exposures AS x (ab_test_id, user_id, variant_id, first_seen_at, assignment_probability, crossed)
SELECT ab_test_id, user_id, variant_id, first_seen_at, assignment_probability, crossed
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], $6::boolean[])
  WITH ORDINALITY AS u(ab_test_id, user_id, variant_id, first_seen_at, assignment_probability, crossed, ord)
ORDER BY ord
ON CONFLICT (ab_test_id, user_id) DO UPDATE SET
  variant_id = CASE WHEN EXCLUDED.first_seen_at < x.first_seen_at THEN EXCLUDED.variant_id ELSE x.variant_id END,
  assignment_probability = CASE WHEN EXCLUDED.first_seen_at < x.first_seen_at THEN EXCLUDED.assignment_probability ELSE x.assignment_probability END,
  first_seen_at = LEAST(x.first_seen_at, EXCLUDED.first_seen_at),
  crossed = x.crossed OR EXCLUDED.crossed OR EXCLUDED.variant_id <> x.variant_id
WHERE EXCLUDED.first_seen_at < x.first_seen_at OR EXCLUDED.variant_id <> x.variant_id OR (EXCLUDED.crossed AND NOT x.crossed)`;

/** Parameters of a metric aggregate's 11 UNNEST columns, from sorted groups. */
function metricAggregateParams(groups: readonly { value: MetricAggregate }[]): string[] {
  const values = groups.map((g) => g.value);
  return [
    numberArray(values.map((a) => a.count)),
    numberArray(values.map((a) => a.successes)),
    numberArray(values.map((a) => a.latencySum)),
    numberArray(values.map((a) => a.latencySumSq)),
    numberArray(values.map((a) => a.latencyMin)),
    numberArray(values.map((a) => a.latencyMax)),
    numberArray(values.map((a) => a.costSum.toString())),
    numberArray(values.map((a) => a.costSumSq.toString())),
    numberArray(values.map((a) => a.promptTokens)),
    numberArray(values.map((a) => a.completionTokens)),
    // Each histogram is itself an array literal, passed as one element of a text[].
    textArray(values.map((a) => numberArray(a.buckets))),
  ];
}

// ---------------------------------------------------------------------------------------------
// Read models.

export interface MetricTotals {
  request_count: number;
  success_count: number;
  latency_sum: number;
  latency_sum_sq: number;
  cost_nanos_sum: number;
  cost_nanos_sum_sq: number;
  prompt_tokens_sum: number;
  completion_tokens_sum: number;
}

export interface RouteTotals {
  decision_count: number;
  estimated_cost_nanos_sum: number;
  prompt_tokens_sum: number;
  max_tokens_sum: number;
}

export interface ModelRollupRow extends MetricTotals {
  granularity: Granularity;
  bucket_start: string;
  model_id: string;
  provider: string;
  latency_min: number;
  latency_max: number;
  latency_buckets: number[];
}

export interface AbTestVariantRollup extends MetricTotals {
  ab_test_id: string;
  variant_id: string;
  latency_min: number;
  latency_max: number;
  latency_buckets: number[];
}

/**
 * Per variant, sums over users of the per-user totals: what user-level (delta-method) tests need.
 * For a per-user metric sum Y_u over n_u requests: users, Σn, Σn², ΣY, ΣY², ΣnY.
 */
export interface AbTestUserLevelSums {
  variant_id: string;
  users: number;
  n_sum: number;
  n_sum_sq: number;
  latency: { sum: number; sum_sq: number; cross: number };
  cost_nanos: { sum: number; sum_sq: number; cross: number };
  success: { sum: number; sum_sq: number; cross: number };
}

export interface PruneResult {
  droppedPartitions: string[];
  /** Rows deleted from the DEFAULT partitions (events outside every daily partition). */
  deletedDefaultRows: number;
  deletedLedgerRows: number;
}

export interface CompactResult {
  deletedModelRollups: number;
  deletedRouteRollups: number;
  deletedKeyRollups: number;
}

const numberOrZero = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

function toMetricTotals(row: Record<string, unknown>): MetricTotals {
  return {
    request_count: numberOrZero(row.request_count),
    success_count: numberOrZero(row.success_count),
    latency_sum: numberOrZero(row.latency_sum),
    latency_sum_sq: numberOrZero(row.latency_sum_sq),
    cost_nanos_sum: numberOrZero(row.cost_nanos_sum),
    cost_nanos_sum_sq: numberOrZero(row.cost_nanos_sum_sq),
    prompt_tokens_sum: numberOrZero(row.prompt_tokens_sum),
    completion_tokens_sum: numberOrZero(row.completion_tokens_sum),
  };
}

// Raw rows above this age (days) of DEFAULT partitions and of the ledger are deleted in chunks of
// this many rows, so retention never holds long locks or one huge transaction.
const DELETE_CHUNK = 50_000;
// Safety default: a maintenance statement waiting behind ingestion gives up (and is retried by
// its schedule) rather than queue every insert behind its lock.
const MAINTENANCE_LOCK_TIMEOUT = '3s';

const PARTITION_NAME = /^(route_events|metric_events)_p(\d{8})$/;

/** Storage of route and metric events. */
export class EventRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Writes a batch of route.decided events exactly once (see the class comment). */
  async persistRouteBatch<E extends RouteEventRecord>(events: readonly E[]): Promise<PersistResult<E>> {
    const unique = uniqueById(events);
    if (unique.length === 0) return { received: events.length, inserted: 0, duplicates: events.length, insertedEvents: [] };
    const fresh = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<WrittenIds>({
        name: 'mr_insert_route_events',
        text: INSERT_ROUTE_EVENTS,
        values: [
          textArray(unique.map((e) => e.event_id)),
          textArray(unique.map((e) => e.occurred_at)),
          textArray(unique.map((e) => e.model_id)),
          textArray(unique.map((e) => e.provider)),
          textArray(unique.map((e) => e.strategy)),
          textArray(unique.map((e) => e.user_id)),
          textArray(unique.map((e) => e.ab_test_id)),
          textArray(unique.map((e) => e.variant_id)),
          numberArray(unique.map((e) => e.prompt_tokens)),
          numberArray(unique.map((e) => e.max_tokens)),
          numberArray(unique.map((e) => e.estimated_cost_nanos)),
          numberArray(unique.map((e) => e.estimated_latency_ms)),
          textArray(unique.map((e) => e.key_id)),
        ],
      });
      const freshEvents = keepWritten(unique, rows[0]!);
      if (freshEvents.length > 0) await this.upsertRouteRollups(client, freshEvents);
      return freshEvents;
    });
    return { received: events.length, inserted: fresh.length, duplicates: events.length - fresh.length, insertedEvents: fresh };
  }

  /** Writes a batch of metric.recorded events exactly once (see the class comment). */
  async persistMetricBatch<E extends MetricEventRecord>(events: readonly E[]): Promise<PersistResult<E>> {
    const unique = uniqueById(events);
    if (unique.length === 0) return { received: events.length, inserted: 0, duplicates: events.length, insertedEvents: [] };
    const fresh = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<WrittenIds>({
        name: 'mr_insert_metric_events',
        text: INSERT_METRIC_EVENTS,
        values: [
          textArray(unique.map((e) => e.event_id)),
          textArray(unique.map((e) => e.occurred_at)),
          textArray(unique.map((e) => e.accepted_at)),
          textArray(unique.map((e) => e.model_id)),
          textArray(unique.map((e) => e.provider)),
          booleanArray(unique.map((e) => e.success)),
          numberArray(unique.map((e) => e.latency_ms)),
          numberArray(unique.map((e) => e.prompt_tokens)),
          numberArray(unique.map((e) => e.completion_tokens)),
          numberArray(unique.map((e) => e.cost_nanos)),
          textArray(unique.map((e) => e.user_id)),
          textArray(unique.map((e) => e.request_id)),
          textArray(unique.map((e) => e.ab_test_id)),
          textArray(unique.map((e) => e.variant_id)),
          textArray(unique.map((e) => e.key_id)),
          textArray(unique.map((e) => e.source ?? 'client')),
          numberArray(unique.map((e) => e.ttft_ms ?? 'NULL')),
          booleanArray(unique.map((e) => e.tokens_estimated ?? false)),
        ],
      });
      const freshEvents = keepWritten(unique, rows[0]!);
      if (freshEvents.length > 0) await this.upsertMetricRollups(client, freshEvents);
      return freshEvents;
    });
    return { received: events.length, inserted: fresh.length, duplicates: events.length - fresh.length, insertedEvents: fresh };
  }

  private async upsertRouteRollups(client: pg.PoolClient, events: readonly RouteEventRecord[]): Promise<void> {
    type Key = { granularity: Granularity; bucket: number; model_id: string; provider: string; strategy: string };
    const rollups = new Grouped<Key, RouteAggregate>(() => ({ decisions: 0, estimatedCost: 0n, promptTokens: 0, maxTokens: 0 }));
    type Exposure = { ab_test_id: string; user_id: string; variant_id: string; atMs: number; probability: number | null; crossed: boolean };
    const exposures = new Map<string, Exposure>();
    for (const e of events) {
      const atMs = Date.parse(e.occurred_at);
      for (const g of GRANULARITIES) {
        const bucket = bucketStart(atMs, g.ms);
        // Fixed-width bucket numbers keep the string order of ids equal to the key order.
        const id = `${g.name}\u0000${bucket.toString().padStart(16, '0')}\u0000${e.model_id}\u0000${e.provider}\u0000${e.strategy}`;
        const a = rollups.get(id, () => ({ granularity: g.name, bucket, model_id: e.model_id, provider: e.provider, strategy: e.strategy }));
        a.decisions += 1;
        a.estimatedCost += BigInt(e.estimated_cost_nanos);
        a.promptTokens += e.prompt_tokens;
        a.maxTokens += e.max_tokens;
      }
      if (e.ab_test_id !== null && e.variant_id !== null && e.user_id !== null) {
        const id = `${e.ab_test_id}\u0000${e.user_id}`;
        const seen = exposures.get(id);
        const crossed = seen !== undefined && (seen.crossed || seen.variant_id !== e.variant_id);
        const probability = e.assignment_probability ?? null;
        if (!seen || atMs < seen.atMs) exposures.set(id, { ab_test_id: e.ab_test_id, user_id: e.user_id, variant_id: e.variant_id, atMs, probability, crossed });
        else if (crossed) seen.crossed = true;
      }
    }

    const groups = rollups.sorted();
    await client.query({
      name: 'mr_upsert_route_rollups',
      text: UPSERT_ROUTE_ROLLUPS,
      values: [
        textArray(groups.map((g) => g.key.granularity)),
        timestampArray(groups.map((g) => g.key.bucket)),
        textArray(groups.map((g) => g.key.model_id)),
        textArray(groups.map((g) => g.key.provider)),
        textArray(groups.map((g) => g.key.strategy)),
        numberArray(groups.map((g) => g.value.decisions)),
        numberArray(groups.map((g) => g.value.estimatedCost.toString())),
        numberArray(groups.map((g) => g.value.promptTokens)),
        numberArray(groups.map((g) => g.value.maxTokens)),
      ],
    });

    if (exposures.size > 0) {
      const rows = [...exposures.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, x]) => x);
      await client.query({
        name: 'mr_upsert_abtest_exposures',
        text: UPSERT_ABTEST_EXPOSURES,
        values: [
          textArray(rows.map((x) => x.ab_test_id)),
          textArray(rows.map((x) => x.user_id)),
          textArray(rows.map((x) => x.variant_id)),
          timestampArray(rows.map((x) => x.atMs)),
          textArray(rows.map((x) => (x.probability === null ? null : String(x.probability)))),
          booleanArray(rows.map((x) => x.crossed)),
        ],
      });
    }
  }

  private async upsertMetricRollups(client: pg.PoolClient, events: readonly MetricEventRecord[]): Promise<void> {
    type ModelKey = { granularity: Granularity; bucket: number; model_id: string; provider: string };
    type VariantKey = { ab_test_id: string; variant_id: string };
    const models = new Grouped<ModelKey, MetricAggregate>(() => new MetricAggregate());
    type KeyKey = { granularity: Granularity; bucket: number; key_id: string };
    const keys = new Grouped<KeyKey, KeyUsageAggregate>(() => ({ count: 0, successes: 0, promptTokens: 0, completionTokens: 0, costSum: 0n }));
    const variants = new Grouped<VariantKey, MetricAggregate>(() => new MetricAggregate());
    const users = new Grouped<VariantKey & { user_id: string }, UserAggregate>(() => new UserAggregate());
    for (const e of events) {
      const atMs = Date.parse(e.occurred_at);
      for (const g of GRANULARITIES) {
        const bucket = bucketStart(atMs, g.ms);
        const id = `${g.name}\u0000${bucket.toString().padStart(16, '0')}\u0000${e.model_id}\u0000${e.provider}`;
        models.get(id, () => ({ granularity: g.name, bucket, model_id: e.model_id, provider: e.provider })).add(e);
        const k = keys.get(`${g.name}\u0000${bucket.toString().padStart(16, '0')}\u0000${e.key_id}`, () => ({ granularity: g.name, bucket, key_id: e.key_id }));
        k.count += 1;
        if (e.success) k.successes += 1;
        k.promptTokens += e.prompt_tokens;
        k.completionTokens += e.completion_tokens;
        k.costSum += BigInt(e.cost_nanos);
      }
      const { ab_test_id, variant_id, user_id } = e;
      if (ab_test_id !== null && variant_id !== null) {
        variants.get(`${ab_test_id}\u0000${variant_id}`, () => ({ ab_test_id, variant_id })).add(e);
        // Metrics without a user are left out of user-level totals (see the migration).
        if (user_id !== null) {
          users.get(`${ab_test_id}\u0000${variant_id}\u0000${user_id}`, () => ({ ab_test_id, variant_id, user_id })).add(e);
        }
      }
    }

    const modelGroups = models.sorted();
    await client.query({
      name: 'mr_upsert_model_rollups',
      text: UPSERT_MODEL_ROLLUPS,
      values: [
        textArray(modelGroups.map((g) => g.key.granularity)),
        timestampArray(modelGroups.map((g) => g.key.bucket)),
        textArray(modelGroups.map((g) => g.key.model_id)),
        textArray(modelGroups.map((g) => g.key.provider)),
        ...metricAggregateParams(modelGroups),
      ],
    });

    // Sorted like every rollup write: concurrent batches lock rows in one order.
    const keyGroups = keys.sorted();
    await client.query({
      name: 'mr_upsert_key_rollups',
      text: UPSERT_KEY_ROLLUPS,
      values: [
        textArray(keyGroups.map((g) => g.key.granularity)),
        timestampArray(keyGroups.map((g) => g.key.bucket)),
        textArray(keyGroups.map((g) => g.key.key_id)),
        numberArray(keyGroups.map((g) => g.value.count)),
        numberArray(keyGroups.map((g) => g.value.successes)),
        numberArray(keyGroups.map((g) => g.value.promptTokens)),
        numberArray(keyGroups.map((g) => g.value.completionTokens)),
        numberArray(keyGroups.map((g) => g.value.costSum.toString())),
      ],
    });

    if (variants.size > 0) {
      const variantGroups = variants.sorted();
      await client.query({
        name: 'mr_upsert_abtest_variant_rollups',
        text: UPSERT_ABTEST_VARIANT_ROLLUPS,
        values: [
          textArray(variantGroups.map((g) => g.key.ab_test_id)),
          textArray(variantGroups.map((g) => g.key.variant_id)),
          ...metricAggregateParams(variantGroups),
        ],
      });
    }

    if (users.size > 0) {
      const userGroups = users.sorted();
      await client.query({
        name: 'mr_upsert_abtest_user_totals',
        text: UPSERT_ABTEST_USER_TOTALS,
        values: [
          textArray(userGroups.map((g) => g.key.ab_test_id)),
          textArray(userGroups.map((g) => g.key.variant_id)),
          textArray(userGroups.map((g) => g.key.user_id)),
          numberArray(userGroups.map((g) => g.value.count)),
          numberArray(userGroups.map((g) => g.value.successes)),
          numberArray(userGroups.map((g) => g.value.latencySum)),
          numberArray(userGroups.map((g) => g.value.latencySumSq)),
          numberArray(userGroups.map((g) => g.value.costSum.toString())),
          numberArray(userGroups.map((g) => g.value.costSumSq.toString())),
        ],
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Maintenance (run on schedules by the metric-aggregator).

  /** Creates the daily raw-event partitions for today … today + daysAhead (UTC); returns how many were new. */
  async ensurePartitions(daysAhead: number, fromDay?: string): Promise<number> {
    const { rows } = await withTransaction(this.pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout = '${MAINTENANCE_LOCK_TIMEOUT}'`);
      return fromDay === undefined
        ? client.query<{ created: number }>('SELECT model_router.ensure_event_partitions($1) AS created', [daysAhead])
        : client.query<{ created: number }>('SELECT model_router.ensure_event_partitions($1, $2::date) AS created', [daysAhead, fromDay]);
    });
    return rows[0]?.created ?? 0;
  }

  /**
   * Retention of raw events: drops every daily partition whose whole day is older than
   * `olderThanDays` (UTC days before today), deletes older rows parked in the DEFAULT partitions,
   * and forgets ledger entries processed before the same cutoff. Rollups are untouched.
   */
  async pruneRawEvents(olderThanDays: number): Promise<PruneResult> {
    if (!Number.isInteger(olderThanDays) || olderThanDays < 1) throw new RangeError(`olderThanDays must be a positive integer, got ${olderThanDays}`);
    const { rows: cut } = await this.pool.query<{ cutoff_day: string; cutoff: Date }>(
      `SELECT to_char((now() AT TIME ZONE 'UTC')::date - $1::int, 'YYYYMMDD') AS cutoff_day,
              ((now() AT TIME ZONE 'UTC')::date - $1::int)::timestamp AT TIME ZONE 'UTC' AS cutoff`,
      [olderThanDays],
    );
    const { cutoff_day: cutoffDay, cutoff } = cut[0]!;

    const { rows: partitions } = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent IN ('model_router.route_events'::regclass, 'model_router.metric_events'::regclass)`,
    );
    const droppedPartitions: string[] = [];
    for (const { name } of partitions.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const match = PARTITION_NAME.exec(name);
      // A partition holds one day; it may go when that whole day is before the cutoff day.
      if (!match || match[2]! >= cutoffDay) continue;
      await withTransaction(this.pool, async (client) => {
        await client.query(`SET LOCAL lock_timeout = '${MAINTENANCE_LOCK_TIMEOUT}'`);
        await client.query(`DROP TABLE IF EXISTS model_router.${name}`);
      });
      droppedPartitions.push(name);
    }

    let deletedDefaultRows = 0;
    for (const table of ['route_events_default', 'metric_events_default']) {
      deletedDefaultRows += await this.deleteInChunks(
        `DELETE FROM model_router.${table} WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM model_router.${table} WHERE occurred_at < $1 LIMIT ${DELETE_CHUNK}))`,
        [cutoff],
      );
    }
    const deletedLedgerRows = await this.deleteInChunks(
      `DELETE FROM model_router.processed_events WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM model_router.processed_events WHERE processed_at < $1 LIMIT ${DELETE_CHUNK}))`,
      [cutoff],
    );
    return { droppedPartitions, deletedDefaultRows, deletedLedgerRows };
  }

  /** Deletes minute rollups older than `olderThanDays` days; hour rollups keep the history. */
  async compactMinuteRollups(olderThanDays: number): Promise<CompactResult> {
    if (!Number.isInteger(olderThanDays) || olderThanDays < 1) throw new RangeError(`olderThanDays must be a positive integer, got ${olderThanDays}`);
    const cutoff = `now() - make_interval(days => $1::int)`;
    const models = await this.pool.query(`DELETE FROM model_router.model_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    const routes = await this.pool.query(`DELETE FROM model_router.route_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    const keys = await this.pool.query(`DELETE FROM model_router.key_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    return { deletedModelRollups: models.rowCount ?? 0, deletedRouteRollups: routes.rowCount ?? 0, deletedKeyRollups: keys.rowCount ?? 0 };
  }

  private async deleteInChunks(sql: string, values: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(sql, values);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < DELETE_CHUNK) return total;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  async countRouteEvents(): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.route_events');
    return Number(rows[0].n);
  }

  async countMetricEvents(): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.metric_events');
    return Number(rows[0].n);
  }

  /** Ledger entries of one kind: events ever written (until retention forgets them). */
  async countProcessedEvents(kind: 'route.decided' | 'metric.recorded'): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.processed_events WHERE kind = $1', [kind]);
    return Number(rows[0].n);
  }

  /** Totals over every model rollup of one granularity. */
  async modelRollupTotals(granularity: Granularity): Promise<MetricTotals & { histogram_count: number }> {
    const { rows } = await this.pool.query(
      `SELECT sum(request_count) AS request_count, sum(success_count) AS success_count,
              sum(latency_sum) AS latency_sum, sum(latency_sum_sq) AS latency_sum_sq,
              sum(cost_nanos_sum) AS cost_nanos_sum, sum(cost_nanos_sum_sq) AS cost_nanos_sum_sq,
              sum(prompt_tokens_sum) AS prompt_tokens_sum, sum(completion_tokens_sum) AS completion_tokens_sum,
              (SELECT coalesce(sum(c), 0) FROM model_router.model_rollups r2, unnest(r2.latency_buckets) AS c
                WHERE r2.granularity = $1) AS histogram_count
       FROM model_router.model_rollups WHERE granularity = $1`,
      [granularity],
    );
    return { ...toMetricTotals(rows[0]), histogram_count: numberOrZero(rows[0].histogram_count) };
  }

  /** The same totals computed from the raw metric rows (to check rollups against). */
  async metricEventTotals(): Promise<MetricTotals> {
    const { rows } = await this.pool.query(
      `SELECT count(*) AS request_count, count(*) FILTER (WHERE success) AS success_count,
              sum(latency_ms) AS latency_sum, sum(latency_ms * latency_ms) AS latency_sum_sq,
              sum(cost_nanos) AS cost_nanos_sum, sum(cost_nanos::numeric * cost_nanos) AS cost_nanos_sum_sq,
              sum(prompt_tokens) AS prompt_tokens_sum, sum(completion_tokens) AS completion_tokens_sum
       FROM model_router.metric_events`,
    );
    return toMetricTotals(rows[0]);
  }

  /** Totals over every route rollup of one granularity. */
  async routeRollupTotals(granularity: Granularity): Promise<RouteTotals> {
    const { rows } = await this.pool.query(
      `SELECT sum(decision_count) AS decision_count, sum(estimated_cost_nanos_sum) AS estimated_cost_nanos_sum,
              sum(prompt_tokens_sum) AS prompt_tokens_sum, sum(max_tokens_sum) AS max_tokens_sum
       FROM model_router.route_rollups WHERE granularity = $1`,
      [granularity],
    );
    return toRouteTotals(rows[0]);
  }

  /** The same totals computed from the raw route rows. */
  async routeEventTotals(): Promise<RouteTotals> {
    const { rows } = await this.pool.query(
      `SELECT count(*) AS decision_count, sum(estimated_cost_nanos) AS estimated_cost_nanos_sum,
              sum(prompt_tokens) AS prompt_tokens_sum, sum(max_tokens) AS max_tokens_sum
       FROM model_router.route_events`,
    );
    return toRouteTotals(rows[0]);
  }

  /** Model rollups of one granularity in [from, to), optionally of one model, oldest first. */
  async listModelRollups(query: { granularity: Granularity; from: Date; to: Date; modelId?: string }): Promise<ModelRollupRow[]> {
    const { rows } = await this.pool.query(
      `SELECT granularity, bucket_start, model_id, provider, request_count, success_count, latency_sum,
              latency_sum_sq, latency_min, latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum,
              completion_tokens_sum, latency_buckets
       FROM model_router.model_rollups
       WHERE granularity = $1 AND bucket_start >= $2 AND bucket_start < $3 AND ($4::text IS NULL OR model_id = $4)
       ORDER BY bucket_start, model_id, provider`,
      [query.granularity, query.from, query.to, query.modelId ?? null],
    );
    return rows.map((row) => ({
      ...toMetricTotals(row),
      granularity: row.granularity,
      bucket_start: (row.bucket_start as Date).toISOString(),
      model_id: row.model_id,
      provider: row.provider,
      latency_min: Number(row.latency_min),
      latency_max: Number(row.latency_max),
      latency_buckets: (row.latency_buckets as unknown[]).map(Number),
    }));
  }

  /** Request-level aggregates of each variant of an A/B test. */
  /**
   * What routing observed of each model over the last `windowMinutes` (minute rollups): calls,
   * successes and the median latency from the merged histograms.
   */
  async recentModelStats(windowMinutes: number): Promise<Map<string, { sample_count: number; success_count: number; p50_latency_ms: number | null }>> {
    const { rows } = await this.pool.query(
      `SELECT model_id, sum(request_count) AS n, sum(success_count) AS s, min(latency_min) AS lo, max(latency_max) AS hi,
              model_router.sum_buckets(latency_buckets) AS buckets
       FROM model_router.model_rollups
       WHERE granularity = 'minute' AND bucket_start >= now() - make_interval(mins => $1)
       GROUP BY model_id`,
      [windowMinutes],
    );
    return new Map(
      rows.map((row) => {
        const buckets = (row.buckets as unknown[]).map(Number);
        return [
          row.model_id as string,
          {
            sample_count: Number(row.n),
            success_count: Number(row.s),
            p50_latency_ms: estimateLatencyQuantile(buckets, 0.5, { min: Number(row.lo), max: Number(row.hi) }),
          },
        ];
      }),
    );
  }

  async abTestVariantRollups(abTestId: string): Promise<AbTestVariantRollup[]> {
    const { rows } = await this.pool.query(
      `SELECT ab_test_id, variant_id, request_count, success_count, latency_sum, latency_sum_sq, latency_min,
              latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum, completion_tokens_sum, latency_buckets
       FROM model_router.abtest_variant_rollups WHERE ab_test_id = $1 ORDER BY variant_id`,
      [abTestId],
    );
    return rows.map((row) => ({
      ...toMetricTotals(row),
      ab_test_id: row.ab_test_id,
      variant_id: row.variant_id,
      latency_min: Number(row.latency_min),
      latency_max: Number(row.latency_max),
      latency_buckets: (row.latency_buckets as unknown[]).map(Number),
    }));
  }

  /** Sums over users of per-user totals, per variant (user-level analysis of an A/B test). */
  async abTestUserLevelSums(abTestId: string): Promise<AbTestUserLevelSums[]> {
    const { rows } = await this.pool.query(
      `SELECT variant_id, count(*) AS users, sum(n) AS n_sum, sum(n::numeric * n) AS n_sum_sq,
              sum(latency_sum) AS lat_sum, sum(latency_sum * latency_sum) AS lat_sum_sq, sum(n * latency_sum) AS lat_cross,
              sum(cost_nanos_sum) AS cost_sum, sum(cost_nanos_sum::numeric * cost_nanos_sum) AS cost_sum_sq,
              sum(n::numeric * cost_nanos_sum) AS cost_cross,
              sum(success_count) AS succ_sum, sum(success_count::numeric * success_count) AS succ_sum_sq,
              sum(n::numeric * success_count) AS succ_cross
       FROM model_router.abtest_user_totals WHERE ab_test_id = $1 GROUP BY variant_id ORDER BY variant_id`,
      [abTestId],
    );
    return rows.map((row) => ({
      variant_id: row.variant_id,
      users: Number(row.users),
      n_sum: Number(row.n_sum),
      n_sum_sq: Number(row.n_sum_sq),
      latency: { sum: Number(row.lat_sum), sum_sq: Number(row.lat_sum_sq), cross: Number(row.lat_cross) },
      cost_nanos: { sum: Number(row.cost_sum), sum_sq: Number(row.cost_sum_sq), cross: Number(row.cost_cross) },
      success: { sum: Number(row.succ_sum), sum_sq: Number(row.succ_sum_sq), cross: Number(row.succ_cross) },
    }));
  }

  /** Distinct exposed users per variant of an A/B test (the SRM check's counts). */
  async abTestExposureCounts(abTestId: string): Promise<Record<string, number>> {
    const { rows } = await this.pool.query(
      `SELECT variant_id, count(*) AS users FROM model_router.abtest_exposures WHERE ab_test_id = $1 GROUP BY variant_id`,
      [abTestId],
    );
    return Object.fromEntries(rows.map((row) => [row.variant_id as string, Number(row.users)]));
  }
}

function toRouteTotals(row: Record<string, unknown>): RouteTotals {
  return {
    decision_count: numberOrZero(row.decision_count),
    estimated_cost_nanos_sum: numberOrZero(row.estimated_cost_nanos_sum),
    prompt_tokens_sum: numberOrZero(row.prompt_tokens_sum),
    max_tokens_sum: numberOrZero(row.max_tokens_sum),
  };
}

interface WrittenIds {
  inserted: number;
  /** The ids written; null when every event of the batch was new. */
  ids: string[] | null;
}

/** The events the raw insert wrote, in batch order. */
function keepWritten<E extends { key_id: string; event_id: string }>(events: readonly E[], written: WrittenIds): E[] {
  if (written.inserted === events.length) return [...events];
  if (written.inserted === 0) return [];
  const fresh = new Set(written.ids);
  return events.filter((e) => fresh.has(identity(e)));
}
