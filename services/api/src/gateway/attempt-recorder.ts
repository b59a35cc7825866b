import type { BudgetReservations } from '@model-router/budgets';
import { callCost, type Model, usdToNanos } from '@model-router/domain';
import type { Logger } from '@model-router/logger';
import { type EventPublisher, MAX_COST_NANOS, MAX_LATENCY_MS, MAX_TOKENS, type MetricRecordedEvent } from '@model-router/queue';
import type { OutcomeReporter } from '../events/outcome-reporter.js';
import { costEventOf } from '../ingestion/metric-events.js';

/** How an attempt bears on the model's circuit breaker. */
export type CircuitOutcome = 'success' | 'failure' | 'none';

/** One upstream call the gateway made, as it is recorded. */
export interface AttemptRecord {
  /** The metric event's id, also the budget reservation's id. */
  event_id: string;
  /** The client namespace of event_id: the id of the client key that made the call. */
  key_id: string;
  request_id: string;
  model: Model;
  success: boolean;
  latency_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  tokens_estimated: boolean;
  user_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
  /**
   * `failure` for what says the provider is unwell (connection, timeout, 429, 5xx, a cut stream),
   * `success` for any proper answer (a 400 about the request included), `none` when the client left.
   */
  circuit: CircuitOutcome;
  /** A budget reservation was held for this attempt (settled to the actual cost here). */
  reserved: boolean;
}

/**
 * Records every gateway attempt the way a client's report would be: one `metric.recorded` event
 * (plus its `cost.recorded` for the budget enforcer) through the existing pipeline, and one outcome
 * for the model's circuit breaker. So usage, budgets, passive health and A/B results fill in with
 * no report from the client. The budget reservation is first replaced by the actual cost.
 */
export class AttemptRecorder {
  constructor(
    private readonly publisher: EventPublisher,
    private readonly outcomes: OutcomeReporter,
    private readonly reservations: BudgetReservations,
    private readonly reservationTtlMs: number,
    private readonly logger: Logger,
    /** A record's event could not be stored (Redis refused its batch); called once per event lost. */
    private readonly onLost: (error: unknown, event: 'metric.recorded' | 'cost.recorded') => void,
    /** Counts the attempt (the gateway's Prometheus counter). */
    private readonly onAttempt: (model: Model, outcome: 'success' | 'failure' | 'client_error' | 'client_gone') => void = () => undefined,
  ) {}

  private readonly metricLost = (error: Error): void => this.onLost(error, 'metric.recorded');
  private readonly costLost = (error: Error): void => this.onLost(error, 'cost.recorded');

  /**
   * Records `attempt`; never throws (a lost record is counted through `onLost`, the answer still
   * goes out). Without a reservation nothing is awaited: the events join the publisher's next batch
   * with no promise per call, as the route event does.
   */
  record(attempt: AttemptRecord): void {
    if (attempt.circuit !== 'none') this.outcomes.record(attempt.model.id, attempt.circuit === 'success', attempt.latency_ms);
    this.onAttempt(
      attempt.model,
      attempt.success ? 'success' : attempt.circuit === 'none' ? 'client_gone' : attempt.circuit === 'success' ? 'client_error' : 'failure',
    );
    const costNanos = usdToNanos(callCost(attempt.model, attempt.prompt_tokens, attempt.completion_tokens));
    if (attempt.reserved) void this.settleThenPublish(attempt, costNanos);
    else this.publish(attempt, costNanos);
  }

  /** The reservation is replaced by the actual cost first, then the events go out. */
  private async settleThenPublish(attempt: AttemptRecord, costNanos: number): Promise<void> {
    try {
      await this.reservations.settle(attempt.event_id, costNanos, this.reservationTtlMs);
    } catch (error) {
      // The reservation then expires with its TTL; the cost itself is still counted below.
      this.logger.warn('could not settle a budget reservation', { err: error, event_id: attempt.event_id });
    }
    this.publish(attempt, costNanos);
  }

  private publish(attempt: AttemptRecord, costNanos: number): void {
    const now = new Date().toISOString();
    // Published as trusted (no schema pass): kept inside the storable bounds every event obeys.
    const event: MetricRecordedEvent = {
      event_id: attempt.event_id,
      key_id: attempt.key_id,
      occurred_at: now,
      accepted_at: now,
      model_id: attempt.model.id,
      provider: attempt.model.provider,
      success: attempt.success,
      latency_ms: Math.min(attempt.latency_ms, MAX_LATENCY_MS),
      prompt_tokens: Math.min(attempt.prompt_tokens, MAX_TOKENS),
      completion_tokens: Math.min(attempt.completion_tokens, MAX_TOKENS),
      cost_nanos: Math.min(costNanos, MAX_COST_NANOS),
      user_id: attempt.user_id,
      request_id: attempt.request_id,
      ab_test_id: attempt.ab_test_id,
      variant_id: attempt.variant_id,
      source: 'gateway',
      ttft_ms: attempt.ttft_ms === null ? null : Math.min(attempt.ttft_ms, MAX_LATENCY_MS),
      tokens_estimated: attempt.tokens_estimated,
    };
    this.publisher.publishDetached('metric.recorded', event, this.metricLost);
    const cost = costEventOf(event, attempt.reserved);
    if (cost) this.publisher.publishDetached('cost.recorded', cost, this.costLost);
  }
}
