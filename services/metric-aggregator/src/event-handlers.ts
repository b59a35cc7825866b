import { describeDataError, type EventIngestionRepository, isPermanentDataError, type PersistResult } from '@model-router/database';
import {
  commitSplittingRefused,
  type EventHandler,
  handler,
  type JobContext,
  type MetricRecordedEvent,
  type RouteDecidedEvent,
} from '@model-router/queue';
import type { AggregatorMetrics } from './aggregator-metrics.js';

/**
 * Writes one job's batch. When Postgres refuses it for a reason no retry can fix (a data error),
 * the batch is split (commitSplittingRefused) so every other event commits and only the events
 * Postgres refuses on their own go to the dead-letter table. Any other error (Postgres or the
 * network away) is thrown: the job is retried whole, and the event-id ledger makes the halves
 * that had already committed duplicates, so each event is still written exactly once.
 */
async function persist<E extends { event_id: string }>(
  name: 'route.decided' | 'metric.recorded',
  events: readonly E[],
  context: JobContext,
  metrics: AggregatorMetrics,
  write: (events: readonly E[]) => Promise<PersistResult<E>>,
  acceptedAt: (event: E) => string,
): Promise<void> {
  metrics.batchSize.observe({ event: name }, events.length);
  const timedWrite = async (batch: readonly E[]): Promise<PersistResult<E>> => {
    const stopTimer = metrics.batchSeconds.startTimer({ event: name });
    const result = await write(batch);
    stopTimer();
    return result;
  };
  const { results, refused } = await commitSplittingRefused(events, timedWrite, isPermanentDataError);
  const persistedAt = Date.now();
  const lag = metrics.lagSeconds.labels({ event: name });
  for (const result of results) {
    metrics.events.inc({ event: name, outcome: 'inserted' }, result.inserted);
    metrics.events.inc({ event: name, outcome: 'duplicate' }, result.duplicates);
    for (const event of result.insertedEvents) lag.observe(Math.max(0, persistedAt - Date.parse(acceptedAt(event))) / 1000);
  }
  if (refused.length > 0) {
    metrics.events.inc({ event: name, outcome: 'dead_lettered' }, refused.length);
    await context.deadLetter(refused.map((r) => ({ event: r.event, error: describeDataError(r.error) })));
  }
}

/** The metric aggregator's handlers: every route and metric event, persisted exactly once. */
export function eventHandlers(repository: EventIngestionRepository, metrics: AggregatorMetrics): EventHandler[] {
  return [
    handler({
      name: 'route.decided',
      handle: (events: RouteDecidedEvent[], context) =>
        persist('route.decided', events, context, metrics, (batch) => repository.persistRouteBatch(batch), (e) => e.occurred_at),
    }),
    handler({
      name: 'metric.recorded',
      handle: (events: MetricRecordedEvent[], context) =>
        persist('metric.recorded', events, context, metrics, (batch) => repository.persistMetricBatch(batch), (e) => e.accepted_at),
    }),
  ];
}
