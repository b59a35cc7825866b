import { ApiError, clientKeyIdOf } from '@model-router/http';
import type { EventPublisher, MetricRecordedEvent } from '@model-router/queue';
import type { Response } from 'express';
import type { OutcomeReporter } from '../events/outcome-reporter.js';
import type { KeyLimits } from '../keys/key-limits.js';
import type { SnapshotStore } from '../state/snapshot-store.js';
import { costEventsOf, reportedTokens, toEvents } from './metric-events.js';
import type { EventTimeWindow, MetricInput } from './metric.schema.js';

/**
 * Publishes events from `toEvents`, and the cost of each costing one for the budget enforcer
 * (cost.recorded, same event_id), and answers 202 only once Redis holds both; 503 with Retry-After
 * if it cannot. A retry with the same event_ids is safe: each consumer counts an id once.
 */
export async function acceptEvents(publisher: EventPublisher, events: MetricRecordedEvent[], options: { reserved?: boolean } = {}): Promise<void> {
  try {
    // Built by toEvents from validated input: valid by construction (see the property test), so
    // the producer-side schema check, two zod passes over every event, is skipped.
    await Promise.all([
      publisher.publishMany('metric.recorded', events, { trusted: true }),
      publisher.publishMany('cost.recorded', costEventsOf(events, options.reserved), { trusted: true }),
    ]);
  } catch {
    throw new ApiError('SERVICE_UNAVAILABLE', 'the event queue is unavailable; nothing was accepted, retry later', undefined, {
      'Retry-After': '1',
    });
  }
}

export interface MetricIngestionDeps {
  snapshots: SnapshotStore;
  publisher: EventPublisher;
  outcomes: OutcomeReporter;
  /** How far from now a metric's timestamp may be (config `ingestion`). */
  window: EventTimeWindow;
  /** The API's wall clock: "now" of the window (tests inject one, as for budget periods). */
  clock: () => number;
  /** The rate limits of the request's API key; absent: none are applied. */
  keyLimits?: KeyLimits | null;
}

/** What a metrics request answers with its 202. */
export interface IngestedMetrics {
  accepted: number;
  event_ids: string[];
}

/**
 * Metric reports as POST /api/v1/metrics and POST /api/v1/abtests/:id/metrics take them: events
 * built and checked against the window (all or nothing), the key's rate limits admitted (one
 * request, the tokens reported), both events in Redis before the 202, then each call's outcome
 * for passive health and circuit breakers.
 */
export class MetricIngestion {
  constructor(private readonly deps: MetricIngestionDeps) {}

  async ingest(res: Response, metrics: MetricInput[]): Promise<IngestedMetrics> {
    const { deps } = this;
    const events = toEvents(metrics, deps.snapshots.current.modelsById, new Date(deps.clock()), { keyId: clientKeyIdOf(res.locals), window: deps.window });
    await deps.keyLimits?.admit(res, reportedTokens(events));
    await acceptEvents(deps.publisher, events);
    for (const e of events) deps.outcomes.record(e.model_id, e.success, e.latency_ms);
    return { accepted: events.length, event_ids: events.map((e) => e.event_id) };
  }
}
