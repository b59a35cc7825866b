/** Records use the API's snake_case field names so one shape travels from Postgres to the wire. */

export const HEALTH_STATES = ['healthy', 'degraded', 'unhealthy', 'unknown'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export const CIRCUIT_STATES = ['closed', 'open', 'half_open'] as const;
export type CircuitState = (typeof CIRCUIT_STATES)[number];

export const KNOWN_CAPABILITIES = [
  'chat',
  'vision',
  'tools',
  'json_mode',
  'streaming',
  'reasoning',
  'audio',
  'long_context',
] as const;

/** A model as the registry stores it. Prices are list prices in USD per 1,000 tokens. */
export interface Model {
  id: string;
  name: string;
  provider: string;
  input_price_per_1k: number;
  output_price_per_1k: number;
  context_window: number;
  max_output_tokens: number;
  capabilities: string[];
  enabled: boolean;
  /** Nominal latency, used until enough observed latency exists. */
  latency_ms: number;
  /** Base URL of an OpenAI-compatible endpoint, probed by the health checker. */
  endpoint: string | null;
}

/** What the router has observed about a model recently (from metrics). */
export interface ModelStats {
  sample_count: number;
  success_count: number;
  p50_latency_ms: number | null;
}

/** Live operational state of a model, shared by every API replica. */
export interface ModelRuntime {
  health: HealthState;
  circuit: CircuitState;
  stats: ModelStats | null;
}

export const UNKNOWN_RUNTIME: ModelRuntime = Object.freeze({
  health: 'unknown',
  circuit: 'closed',
  stats: null,
});
