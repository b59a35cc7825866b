import type { DeadLetterRepository } from '@model-router/database';
import type { DeadLetterView } from './overview.js';

/** Entries the operator page lists (newest first); the count covers them all. */
export const LATEST_DEAD_LETTERS = 10;
// An event's JSON is shown cut to this length: enough to recognise it, never a wall of text.
const EVENT_PREVIEW_CHARS = 300;

/** The dead-letter table for the operator page: counts per consumer and event, and the latest entries. */
export function deadLetterOverview(deadLetters: DeadLetterRepository): () => Promise<DeadLetterView> {
  return async () => {
    const [summary, latest] = await Promise.all([deadLetters.summary(), deadLetters.latest(LATEST_DEAD_LETTERS)]);
    return {
      total: summary.total,
      by_consumer: summary.byConsumer,
      latest: latest.map((l) => ({
        consumer: l.consumer,
        queue: l.queue,
        event_name: l.event_name,
        job_id: l.job_id,
        event_id: l.event_id,
        key_id: l.key_id,
        error: l.error,
        event_preview: l.event_json.length > EVENT_PREVIEW_CHARS ? `${l.event_json.slice(0, EVENT_PREVIEW_CHARS)}…` : l.event_json,
        dead_lettered_at: l.dead_lettered_at,
      })),
    };
  };
}
