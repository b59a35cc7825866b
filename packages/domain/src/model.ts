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

/** The wire format a model's provider speaks (the gateway translates OpenAI requests to it). */
export const MODEL_APIS = ['openai', 'anthropic', 'gemini'] as const;
export type ModelApi = (typeof MODEL_APIS)[number];

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
  /** Base URL of the provider's API (e.g. https://api.openai.com/v1), probed by the health checker. */
  endpoint: string | null;
  // How the gateway calls the model. Optional here so a model built in code (tests, benches) may
  // leave them out; the registry always fills them in. Absent means the default named.
  /** The provider's wire format; default `openai`. */
  api?: ModelApi;
  /** Name of the environment variable holding the provider's API key (never the key itself). */
  api_key_env?: string | null;
  /** The provider's name for the model; default the registry `id`. */
  upstream_model?: string | null;
  /** Total time one upstream call may take; default `gateway.timeout` from config. */
  timeout_ms?: number | null;
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
