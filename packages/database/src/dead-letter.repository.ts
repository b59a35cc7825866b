import { createHash } from 'node:crypto';
import type { Queryable } from './model.repository.js';

/**
 * The dead-letter table (migrations/1764200000000_dead-letters.sql): events a consumer can never
 * store, with why, which consumer and queue refused them, and when.
 */

export interface DeadLetterInput {
  consumer: string;
  queue: string;
  event_name: string;
  job_id: string;
  event: unknown;
  error: string;
}

export interface StoredDeadLetter {
  id: number;
  consumer: string;
  queue: string;
  event_name: string;
  job_id: string;
  event_id: string | null;
  key_id: string | null;
  /** The event as JSON text (exactly as it was in the job). */
  event_json: string;
  error: string;
  dead_lettered_at: string;
}

export interface DeadLetterSummary {
  total: number;
  byConsumer: { consumer: string; event_name: string; count: number; latest_at: string }[];
}

// Longest error text kept: a schema failure lists a few issues, Postgres one message.
const MAX_ERROR_LENGTH = 2000;

/**
 * Text that Postgres can always store: NUL and lone surrogates (the very things that may have
 * sent the event here) are replaced. JSON.stringify already escapes both in the event itself.
 */
function storable(text: string): string {
  return text.replace(/\u0000/g, '\\u0000').replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

function stringField(event: unknown, field: string): string | null {
  if (typeof event !== 'object' || event === null) return null;
  const value = (event as Record<string, unknown>)[field];
  // Cut first, then clean: a cut may split a surrogate pair.
  return typeof value === 'string' ? storable(value.slice(0, 1024)) : null;
}

const INSERT = `
INSERT INTO model_router.dead_letter_events (consumer, queue, event_name, job_id, event_id, key_id, event_json, error, fingerprint)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
ON CONFLICT (consumer, event_name, fingerprint) DO NOTHING
RETURNING id`;

export class DeadLetterRepository {
  constructor(private readonly db: Queryable) {}

  /** Stores dead letters; the same event from the same consumer is stored once. Returns how many were new. */
  async record(letters: readonly DeadLetterInput[]): Promise<number> {
    if (letters.length === 0) return 0;
    const rows = letters.map((l) => {
      // `undefined` (an event that is not JSON) still needs a text.
      const eventJson = JSON.stringify(l.event) ?? 'null';
      return {
        ...l,
        event_id: stringField(l.event, 'event_id'),
        key_id: stringField(l.event, 'key_id'),
        event_json: eventJson,
        error: storable(l.error.slice(0, MAX_ERROR_LENGTH)),
        fingerprint: createHash('sha256').update(eventJson).digest('hex'),
      };
    });
    const { rows: inserted } = await this.db.query(INSERT, [
      rows.map((r) => r.consumer),
      rows.map((r) => r.queue),
      rows.map((r) => r.event_name),
      rows.map((r) => r.job_id),
      rows.map((r) => r.event_id),
      rows.map((r) => r.key_id),
      rows.map((r) => r.event_json),
      rows.map((r) => r.error),
      rows.map((r) => r.fingerprint),
    ]);
    return inserted.length;
  }

  /** The most recent dead letters, newest first. */
  async latest(limit: number): Promise<StoredDeadLetter[]> {
    const { rows } = await this.db.query(
      `SELECT id, consumer, queue, event_name, job_id, event_id, key_id, event_json, error, dead_lettered_at
       FROM model_router.dead_letter_events ORDER BY dead_lettered_at DESC, id DESC LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({
      id: Number(row.id),
      consumer: row.consumer,
      queue: row.queue,
      event_name: row.event_name,
      job_id: row.job_id,
      event_id: row.event_id,
      key_id: row.key_id,
      event_json: row.event_json,
      error: row.error,
      dead_lettered_at: (row.dead_lettered_at as Date).toISOString(),
    }));
  }

  /** How many dead letters there are, per consumer and event. */
  async summary(): Promise<DeadLetterSummary> {
    const { rows } = await this.db.query(
      `SELECT consumer, event_name, count(*) AS count, max(dead_lettered_at) AS latest_at
       FROM model_router.dead_letter_events GROUP BY consumer, event_name ORDER BY consumer, event_name`,
    );
    const byConsumer = rows.map((row) => ({
      consumer: row.consumer as string,
      event_name: row.event_name as string,
      count: Number(row.count),
      latest_at: (row.latest_at as Date).toISOString(),
    }));
    return { total: byConsumer.reduce((n, r) => n + r.count, 0), byConsumer };
  }
}
