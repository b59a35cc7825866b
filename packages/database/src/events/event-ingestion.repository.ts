import type { MetricRecordedEvent, RouteDecidedEvent } from '@model-router/queue';
import type pg from 'pg';
import { withTransaction } from '../pool.js';
import { booleanArray, numberArray, textArray } from './pg-arrays.js';
import { upsertMetricRollups, upsertRouteRollups } from './rollup-aggregation.js';

/**
 * Ingestion of route and metric events: the idempotency ledger, the raw time-partitioned tables and
 * the rollups (migrations/1764160000000_event-storage.sql). Each batch is written in ONE
 * transaction: ledger insert → raw rows of the new events → rollup upserts. A redelivered batch
 * finds its ids in the ledger and changes nothing; a batch interrupted anywhere leaves nothing.
 */

export interface PersistResult<E> {
  received: number;
  /** Events written for the first time. */
  inserted: number;
  /** Events already in the ledger (a redelivery, a repeated event_id, or twice in this batch). */
  duplicates: number;
  /** The events that were written, for lag measurement. */
  insertedEvents: E[];
}

/**
 * An event's identity in the ledger: its client namespace and its id. Key ids never hold "/"
 * (see keyIdSchema in @model-router/domain), so the first "/" ends the namespace.
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

/** Writes batches of route.decided and metric.recorded events exactly once. */
export class EventIngestionRepository {
  constructor(private readonly pool: pg.Pool) {}


  /** Writes a batch of route.decided events exactly once (see the file comment). */
  async persistRouteBatch<E extends RouteDecidedEvent>(events: readonly E[]): Promise<PersistResult<E>> {
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
      if (freshEvents.length > 0) await upsertRouteRollups(client, freshEvents);
      return freshEvents;
    });
    return { received: events.length, inserted: fresh.length, duplicates: events.length - fresh.length, insertedEvents: fresh };
  }

  /** Writes a batch of metric.recorded events exactly once (see the file comment). */
  async persistMetricBatch<E extends MetricRecordedEvent>(events: readonly E[]): Promise<PersistResult<E>> {
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
      if (freshEvents.length > 0) await upsertMetricRollups(client, freshEvents);
      return freshEvents;
    });
    return { received: events.length, inserted: fresh.length, duplicates: events.length - fresh.length, insertedEvents: fresh };
  }
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
