/** One route.decided event as stored (the shape of RouteDecidedEvent in @model-router/queue). */
export interface RouteEventRecord {
  event_id: string;
  /** The client namespace of event_id (see migrations/1764200100000_idempotency-namespaces.sql). */
  key_id: string;
  occurred_at: string;
  model_id: string;
  provider: string;
  strategy: string;
  user_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
  /** Bandit tests: the assignment probability of the user's variant (stored with the exposure). */
  assignment_probability?: number | null | undefined;
  prompt_tokens: number;
  max_tokens: number;
  estimated_cost_nanos: number;
  estimated_latency_ms: number;
}

/** One metric.recorded event as stored (the shape of MetricRecordedEvent in @model-router/queue). */
export interface MetricEventRecord {
  event_id: string;
  /** The client namespace of event_id (see migrations/1764200100000_idempotency-namespaces.sql). */
  key_id: string;
  occurred_at: string;
  accepted_at: string;
  model_id: string;
  provider: string;
  success: boolean;
  latency_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_nanos: number;
  user_id: string | null;
  request_id: string | null;
  ab_test_id: string | null;
  variant_id: string | null;
  /** Set by the gateway; absent on a client's report. */
  source?: 'client' | 'gateway';
  ttft_ms?: number | null;
  tokens_estimated?: boolean;
}

export interface PersistResult<E> {
  received: number;
  /** Events written for the first time. */
  inserted: number;
  /** Events already in the ledger (a redelivery, a repeated event_id, or twice in this batch). */
  duplicates: number;
  /** The events that were written, for lag measurement. */
  insertedEvents: E[];
}
