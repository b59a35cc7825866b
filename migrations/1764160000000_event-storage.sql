-- Up Migration

-- Event storage written by the metric-aggregator: an idempotency ledger, raw events partitioned by
-- day, and rollups that keep exact, mergeable aggregates (counts, sums, sums of squares, latency
-- histograms), all written in one transaction per batch (packages/database/src/event.repository.ts).

-- The idempotency ledger. A batch first inserts its event ids here (ON CONFLICT DO NOTHING
-- RETURNING) and writes only the ids that came back, in the same transaction: a redelivered job or
-- a client's repeated event_id changes nothing. The key includes the kind because a client may
-- well reuse a route's request id as its metric's event_id; those are two different events.
-- Pruned with the raw events (retention.raw_events_days, by processed_at).
CREATE TABLE model_router.processed_events (
  -- "C" collation: byte-wise comparisons keep the ledger's index inserts cheap.
  event_id     text COLLATE "C" NOT NULL,
  kind         text COLLATE "C" NOT NULL CHECK (kind IN ('route.decided', 'metric.recorded')),
  processed_at timestamptz NOT NULL DEFAULT now(),
  -- The id first: it decides nearly every comparison, so lookups stay as fast as on the id alone.
  PRIMARY KEY (event_id, kind)
);
-- Rows arrive in processed_at order, so a BRIN index serves retention at almost no insert cost.
CREATE INDEX processed_events_processed_at_brin ON model_router.processed_events USING brin (processed_at);

-- Raw events, one row per event, partitioned by UTC day of occurred_at so retention drops whole
-- partitions. No unique key here: the ledger above guarantees one row per event. Events outside
-- every daily partition (very late or far-future clocks) land in the DEFAULT partition;
-- ensure_event_partitions moves them out when their day's partition is created.
CREATE TABLE model_router.route_events (
  event_id             text NOT NULL,
  occurred_at          timestamptz NOT NULL,
  model_id             text NOT NULL,
  provider             text NOT NULL,
  strategy             text NOT NULL,
  user_id              text,
  ab_test_id           text,
  variant_id           text,
  prompt_tokens        bigint NOT NULL,
  max_tokens           bigint NOT NULL,
  -- Money in nano-dollars (USD × 1e9): integer sums stay exact.
  estimated_cost_nanos bigint NOT NULL,
  estimated_latency_ms double precision NOT NULL,
  persisted_at         timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE model_router.route_events_default PARTITION OF model_router.route_events DEFAULT;
-- BRIN: nearly free to maintain on append-mostly data, and narrows "the last N minutes" scans.
CREATE INDEX route_events_occurred_at_brin ON model_router.route_events USING brin (occurred_at);

CREATE TABLE model_router.metric_events (
  event_id          text NOT NULL,
  occurred_at       timestamptz NOT NULL,
  accepted_at       timestamptz NOT NULL,
  model_id          text NOT NULL,
  provider          text NOT NULL,
  success           boolean NOT NULL,
  latency_ms        double precision NOT NULL,
  prompt_tokens     bigint NOT NULL,
  completion_tokens bigint NOT NULL,
  cost_nanos        bigint NOT NULL,
  user_id           text,
  request_id        text,
  ab_test_id        text,
  variant_id        text,
  persisted_at      timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (occurred_at);
CREATE TABLE model_router.metric_events_default PARTITION OF model_router.metric_events DEFAULT;
CREATE INDEX metric_events_occurred_at_brin ON model_router.metric_events USING brin (occurred_at);

-- Creates the daily partitions [from_day, from_day + days_ahead] (UTC days) of both raw tables that
-- do not exist yet, and returns how many it created. Idempotent and safe to run concurrently.
-- A new partition is filled from the DEFAULT partition's rows of its day and then attached, so late
-- or early events that were parked in DEFAULT never block its creation. ATTACH needs only a SHARE
-- UPDATE EXCLUSIVE lock on the parent, so inserts keep flowing while partitions are added.
CREATE FUNCTION model_router.ensure_event_partitions(
  days_ahead int,
  from_day date DEFAULT (now() AT TIME ZONE 'UTC')::date
) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  parent  text;
  d       date;
  part    text;
  lo      timestamptz;
  hi      timestamptz;
  created int := 0;
BEGIN
  IF days_ahead IS NULL OR days_ahead < 0 OR days_ahead > 366 THEN
    RAISE EXCEPTION 'days_ahead must be between 0 and 366, got %', days_ahead;
  END IF;
  -- Two services starting at once must not race to create the same partition.
  PERFORM pg_advisory_xact_lock(hashtext('model_router.ensure_event_partitions'));
  FOREACH parent IN ARRAY ARRAY['route_events', 'metric_events'] LOOP
    FOR i IN 0..days_ahead LOOP
      d := from_day + i;
      part := format('%s_p%s', parent, to_char(d, 'YYYYMMDD'));
      CONTINUE WHEN to_regclass(format('model_router.%I', part)) IS NOT NULL;
      lo := d::timestamp AT TIME ZONE 'UTC';
      hi := (d + 1)::timestamp AT TIME ZONE 'UTC';
      EXECUTE format('CREATE TABLE model_router.%I (LIKE model_router.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
      EXECUTE format(
        'WITH moved AS (DELETE FROM model_router.%I WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
         INSERT INTO model_router.%I SELECT * FROM moved',
        parent || '_default', part) USING lo, hi;
      EXECUTE format('ALTER TABLE model_router.%I ATTACH PARTITION model_router.%I FOR VALUES FROM (%L) TO (%L)',
        parent, part, lo, hi);
      created := created + 1;
    END LOOP;
  END LOOP;
  RETURN created;
END
$$;

SELECT model_router.ensure_event_partitions(7);

-- Latency histograms. Every latency_buckets array has 42 counts over fixed, log-spaced bounds
-- (LATENCY_BUCKET_BOUNDS_MS in event.repository.ts): bound[k] = 120000^(k/40) ms for k = 0..40,
-- i.e. 1 ms … 120 s in steps of ×1.3396.
--   bucket 0       latency < 1 ms
--   bucket k, 1–40 bound[k-1] <= latency < bound[k]
--   bucket 41      latency >= 120 s
-- Histograms of any rows merge by element-wise addition, so p50/p95 over any span (minutes of a
-- model, a whole A/B variant) are estimated from the merged counts to within one bucket's width.
CREATE FUNCTION model_router.add_buckets(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  sum bigint[] := a;
BEGIN
  -- A loop over subscripts: measured ~3× cheaper per upserted row than unnest/array_agg.
  IF b IS NULL THEN
    RETURN a;
  END IF;
  FOR i IN 1..cardinality(b) LOOP
    sum[i] := coalesce(sum[i], 0) + coalesce(b[i], 0);
  END LOOP;
  RETURN sum;
END
$$;

-- SELECT model_router.sum_buckets(latency_buckets) FROM … merges histograms across rows.
CREATE AGGREGATE model_router.sum_buckets(bigint[]) (
  SFUNC = model_router.add_buckets,
  STYPE = bigint[]
);

-- Per model per minute and per hour (UTC buckets of occurred_at), from metric.recorded events.
-- Sums of squares make variances exact (var = (sum_sq - sum²/n) / (n-1)); minute rows are
-- compacted away after retention.minute_rollups_days, hour rows keep the history.
CREATE TABLE model_router.model_rollups (
  granularity           text NOT NULL CHECK (granularity IN ('minute', 'hour')),
  bucket_start          timestamptz NOT NULL,
  model_id              text NOT NULL,
  provider              text NOT NULL,
  request_count         bigint NOT NULL,
  success_count         bigint NOT NULL,
  latency_sum           double precision NOT NULL,
  latency_sum_sq        double precision NOT NULL,
  latency_min           double precision NOT NULL,
  latency_max           double precision NOT NULL,
  cost_nanos_sum        bigint NOT NULL,
  -- Squares of nano-dollar costs pass 2^63 quickly: numeric keeps them exact.
  cost_nanos_sum_sq     numeric NOT NULL,
  prompt_tokens_sum     bigint NOT NULL,
  completion_tokens_sum bigint NOT NULL,
  latency_buckets       bigint[] NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  -- Time first: reads and compaction select a time range of one granularity.
  PRIMARY KEY (granularity, bucket_start, model_id, provider)
);
CREATE INDEX model_rollups_model_idx ON model_router.model_rollups (model_id, granularity, bucket_start);

-- Per model, provider and strategy per minute and per hour, from route.decided events.
CREATE TABLE model_router.route_rollups (
  granularity              text NOT NULL CHECK (granularity IN ('minute', 'hour')),
  bucket_start             timestamptz NOT NULL,
  model_id                 text NOT NULL,
  provider                 text NOT NULL,
  strategy                 text NOT NULL,
  decision_count           bigint NOT NULL,
  estimated_cost_nanos_sum bigint NOT NULL,
  prompt_tokens_sum        bigint NOT NULL,
  max_tokens_sum           bigint NOT NULL,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (granularity, bucket_start, model_id, provider, strategy)
);

-- Per A/B test variant, from metric.recorded events carrying both ab_test_id and variant_id: the
-- request-level figures of the results (Welch's t on latency and cost, two-proportion test on
-- success, p50/p95 from the histogram).
CREATE TABLE model_router.abtest_variant_rollups (
  ab_test_id            text NOT NULL,
  variant_id            text NOT NULL,
  request_count         bigint NOT NULL,
  success_count         bigint NOT NULL,
  latency_sum           double precision NOT NULL,
  latency_sum_sq        double precision NOT NULL,
  latency_min           double precision NOT NULL,
  latency_max           double precision NOT NULL,
  cost_nanos_sum        bigint NOT NULL,
  cost_nanos_sum_sq     numeric NOT NULL,
  prompt_tokens_sum     bigint NOT NULL,
  completion_tokens_sum bigint NOT NULL,
  latency_buckets       bigint[] NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ab_test_id, variant_id)
);

-- Per user per variant sums for user-level analysis (ratios of per-user sums, delta-method
-- variances). Metrics without a user_id are left out here (they still count in
-- abtest_variant_rollups): lumping them into one pseudo-user would make a single giant "user"
-- that dominates the between-user variance.
CREATE TABLE model_router.abtest_user_totals (
  ab_test_id        text NOT NULL,
  variant_id        text NOT NULL,
  user_id           text NOT NULL,
  n                 bigint NOT NULL,
  success_count     bigint NOT NULL,
  latency_sum       double precision NOT NULL,
  latency_sum_sq    double precision NOT NULL,
  cost_nanos_sum    bigint NOT NULL,
  cost_nanos_sum_sq numeric NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (ab_test_id, variant_id, user_id)
);

-- Distinct users per test from route.decided events with ab_test_id, variant_id and user_id: the
-- exposures of the SRM check. A user counts once per test, in the variant of their earliest
-- decision (by occurred_at, whatever order batches arrive in).
CREATE TABLE model_router.abtest_exposures (
  ab_test_id    text NOT NULL,
  user_id       text NOT NULL,
  variant_id    text NOT NULL,
  first_seen_at timestamptz NOT NULL,
  PRIMARY KEY (ab_test_id, user_id)
);
CREATE INDEX abtest_exposures_variant_idx ON model_router.abtest_exposures (ab_test_id, variant_id);

-- Down Migration
DROP TABLE model_router.abtest_exposures;
DROP TABLE model_router.abtest_user_totals;
DROP TABLE model_router.abtest_variant_rollups;
DROP TABLE model_router.route_rollups;
DROP TABLE model_router.model_rollups;
DROP AGGREGATE model_router.sum_buckets(bigint[]);
DROP FUNCTION model_router.add_buckets(bigint[], bigint[]);
DROP FUNCTION model_router.ensure_event_partitions(int, date);
-- Dropping a partitioned table drops its partitions, however many the function created.
DROP TABLE model_router.metric_events;
DROP TABLE model_router.route_events;
DROP TABLE model_router.processed_events;
