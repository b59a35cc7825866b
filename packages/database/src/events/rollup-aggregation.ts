import type pg from 'pg';
import { LATENCY_BUCKET_COUNT, latencyBucketIndex } from '@model-router/domain';
import type { MetricRecordedEvent, RouteDecidedEvent } from '@model-router/queue';
import { booleanArray, numberArray, textArray, timestampArray } from './pg-arrays.js';

/**
 * Rollups of a batch of new events, upserted inside the batch's ingestion transaction: per model
 * and minute/hour, per route decision, per A/B variant and per A/B user, and the A/B exposures.
 */

export type Granularity = 'minute' | 'hour';
const GRANULARITIES: readonly { name: Granularity; ms: number }[] = [
  { name: 'minute', ms: 60_000 },
  { name: 'hour', ms: 3_600_000 },
];


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

  add(e: MetricRecordedEvent): void {
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

  add(e: MetricRecordedEvent): void {
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


// Upserts insert in the order of their sorted input (ORDER BY ord), so two batches lock shared
// rollup rows in the same order.

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

export async function upsertRouteRollups(client: pg.PoolClient, events: readonly RouteDecidedEvent[]): Promise<void> {
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

export async function upsertMetricRollups(client: pg.PoolClient, events: readonly MetricRecordedEvent[]): Promise<void> {
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

