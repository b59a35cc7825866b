import type { EventRepository, PersistResult } from '@model-router/database';
import {
  type EventHandler,
  handler,
  type MetricRecordedEvent,
  PermanentEventError,
  type RouteDecidedEvent,
} from '@model-router/queue';
import type { AggregatorMetrics } from './aggregator-metrics.js';

/**
 * Postgres error classes that no retry can fix: 22 data exception (a value Postgres rejects),
 * 23 integrity constraint violation. Anything else (connection lost, deadlock, timeout) is retried.
 */
const PERMANENT_SQLSTATE_CLASSES = new Set(['22', '23']);

function isPermanent(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.length === 5 && PERMANENT_SQLSTATE_CLASSES.has(code.slice(0, 2));
}

async function persist<E extends { event_id: string }>(
  name: 'route.decided' | 'metric.recorded',
  events: readonly E[],
  metrics: AggregatorMetrics,
  write: (events: readonly E[]) => Promise<PersistResult<E>>,
  acceptedAt: (event: E) => string,
): Promise<void> {
  metrics.batchSize.observe({ event: name }, events.length);
  const stopTimer = metrics.batchSeconds.startTimer({ event: name });
  let result: PersistResult<E>;
  try {
    result = await write(events);
  } catch (error) {
    if (isPermanent(error)) {
      throw new PermanentEventError(`"${name}" batch rejected by Postgres: ${(error as Error).message}`);
    }
    throw error;
  }
  stopTimer();
  const persistedAt = Date.now();
  metrics.events.inc({ event: name, outcome: 'inserted' }, result.inserted);
  metrics.events.inc({ event: name, outcome: 'duplicate' }, result.duplicates);
  const lag = metrics.lagSeconds.labels({ event: name });
  for (const event of result.insertedEvents) lag.observe(Math.max(0, persistedAt - Date.parse(acceptedAt(event))) / 1000);
}

/** The metric aggregator's handlers: every route and metric event, persisted exactly once. */
export function eventHandlers(repository: EventRepository, metrics: AggregatorMetrics): EventHandler[] {
  return [
    handler({
      name: 'route.decided',
      handle: (events: RouteDecidedEvent[]) =>
        persist('route.decided', events, metrics, (batch) => repository.persistRouteBatch(batch), (e) => e.occurred_at),
    }),
    handler({
      name: 'metric.recorded',
      handle: (events: MetricRecordedEvent[]) =>
        persist('metric.recorded', events, metrics, (batch) => repository.persistMetricBatch(batch), (e) => e.accepted_at),
    }),
  ];
}
