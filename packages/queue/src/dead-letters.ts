import { Counter, type Registry } from 'prom-client';
import type { ConsumerService, EventName } from './catalog.js';

/**
 * One event a consumer could not use and will never be able to: it failed the catalog's schema
 * (a producer bypassed the edge, or is older or newer than this consumer), or Postgres refused it
 * on its own (a data error, found by splitting its batch). It is set aside so that the other
 * events of its batch commit.
 */
export interface DeadLetter {
  consumer: ConsumerService;
  queue: string;
  event_name: EventName;
  /** The BullMQ job that carried it. */
  job_id: string;
  /** The event as it was in the job (any JSON value). */
  event: unknown;
  /** Why it was refused: the schema issues, or Postgres's message and SQLSTATE. */
  error: string;
}

/**
 * Stores dead letters durably (Postgres: packages/database's DeadLetterRepository) and answers
 * how many were new: the same event set aside again (a retried job) is stored and counted once.
 */
export type DeadLetterSink = (letters: readonly DeadLetter[]) => Promise<number>;

/** An event of a batch refused on its own, with the reason (as a handler reports it). */
export interface RefusedEvent {
  event: unknown;
  error: string;
}

/** `model_router_dead_letter_events_total{consumer,event}`, shared by the workers of a registry. */
export function deadLetterCounter(registry: Registry): Counter<'consumer' | 'event'> {
  const name = 'model_router_dead_letter_events_total';
  return (
    (registry.getSingleMetric(name) as Counter<'consumer' | 'event'> | undefined) ??
    new Counter({
      name,
      help: 'Events set aside in the dead-letter table (model_router.dead_letter_events) because they can never be stored: by consumer and event name. Counted once per event, however often its job is retried.',
      labelNames: ['consumer', 'event'],
      registers: [registry],
    })
  );
}
