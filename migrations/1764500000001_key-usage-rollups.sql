-- Up Migration

-- Usage per API key (the tenant, metric_events.key_id) per minute and per hour, written by the
-- metric aggregator in the same transaction as model_rollups (packages/database/src/event.repository.ts),
-- so GET /api/v1/usage?group_by=key and the operator page's "today" read rollups plus the partial
-- minutes at the ends from the raw events, exactly as usage by model does, instead of scanning a
-- day of raw events. Minute rows are compacted after retention.minute_rollups_days; hour rows
-- keep the history. Only what usage reports is summed (no latency or squares).
CREATE TABLE model_router.key_rollups (
  granularity           text NOT NULL CHECK (granularity IN ('minute', 'hour')),
  bucket_start          timestamptz NOT NULL,
  key_id                text NOT NULL,
  request_count         bigint NOT NULL,
  success_count         bigint NOT NULL,
  prompt_tokens_sum     bigint NOT NULL,
  completion_tokens_sum bigint NOT NULL,
  cost_nanos_sum        bigint NOT NULL,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  -- Time first: reads and compaction select a time range of one granularity.
  PRIMARY KEY (granularity, bucket_start, key_id)
);

-- The raw events still held (retention.raw_events_days) fill the rollups of their minutes and
-- hours, so usage by key over the past stays what it was when it was read from them.
INSERT INTO model_router.key_rollups (granularity, bucket_start, key_id, request_count, success_count,
  prompt_tokens_sum, completion_tokens_sum, cost_nanos_sum)
SELECT g.granularity, date_trunc(g.granularity, e.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', e.key_id,
       count(*), count(*) FILTER (WHERE e.success), sum(e.prompt_tokens), sum(e.completion_tokens), sum(e.cost_nanos)
FROM model_router.metric_events e CROSS JOIN (VALUES ('minute'), ('hour')) AS g(granularity)
GROUP BY 1, 2, 3;

-- Down Migration
DROP TABLE model_router.key_rollups;
