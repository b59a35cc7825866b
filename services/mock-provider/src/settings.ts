import { z } from 'zod';

/** How the mock behaves for one model. */
export interface ModelSettings {
  /** Fixed delay before a completion is answered (success or injected failure). */
  latency_ms: number;
  /** Extra delay drawn uniformly from [0, jitter_ms) on each request. */
  jitter_ms: number;
  /** Probability (0..1) that a completion fails with a 500. */
  error_rate: number;
  /** When true every completion and every probe of the model answers 503 at once. */
  down: boolean;
  /** Pace of a streamed answer after its first piece (one word a piece); 0 sends every piece at once. Non-streamed answers wait as long in total. */
  tokens_per_second: number;
  /** What an injected failure (drawn by `error_rate`) is. */
  error_kind: FailureKind;
  /** Pieces of the answer sent before a `mid_stream_*` failure. */
  fail_after_pieces: number;
  /** `Retry-After` (seconds) of an injected 429. */
  retry_after_s: number;
  /** Requests a model takes per window before it answers 429 (0: no limit); every answer then carries `x-ratelimit-*`. */
  rate_limit_requests: number;
  rate_limit_window_ms: number;
}

/**
 * Failures the mock can inject. Before the first byte: `server_error` (500), `overloaded` (503; 529
 * on the Anthropic surface), `rate_limit` (429 with Retry-After), `reset` (the connection is reset),
 * `stall` (nothing is ever sent). After `fail_after_pieces` pieces of the answer: `mid_stream_error`
 * (the format's error event; a cut body when not streamed), `mid_stream_reset`, `mid_stream_stall`.
 */
export const FAILURE_KINDS = [
  'server_error',
  'overloaded',
  'rate_limit',
  'reset',
  'stall',
  'mid_stream_error',
  'mid_stream_reset',
  'mid_stream_stall',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

export type SettingsPatch = Partial<ModelSettings>;

export const DEFAULT_SETTINGS: Readonly<ModelSettings> = Object.freeze({
  latency_ms: 20,
  jitter_ms: 0,
  error_rate: 0,
  down: false,
  tokens_per_second: 0,
  error_kind: 'server_error',
  fail_after_pieces: 1,
  retry_after_s: 1,
  rate_limit_requests: 0,
  rate_limit_window_ms: 60_000,
});

/** Ten minutes: enough to simulate a provider that never answers within any client timeout. */
export const MAX_DELAY_MS = 600_000;

const delayMs = z.number().int().min(0).max(MAX_DELAY_MS);

/** Body of PUT /_control/models/:id and PUT /_control/defaults: every key optional, no others. */
export const settingsPatchSchema = z.strictObject({
  latency_ms: delayMs.optional(),
  jitter_ms: delayMs.optional(),
  error_rate: z.number().min(0).max(1).optional(),
  down: z.boolean().optional(),
  tokens_per_second: z.number().min(0).max(1_000_000).optional(),
  error_kind: z.enum(FAILURE_KINDS).optional(),
  fail_after_pieces: z.number().int().min(0).max(1_000_000).optional(),
  retry_after_s: z.number().int().min(0).max(86_400).optional(),
  rate_limit_requests: z.number().int().min(0).max(1_000_000_000).optional(),
  rate_limit_window_ms: z.number().int().min(1).max(86_400_000).optional(),
});

export const modelIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(256)
  .refine((id) => id.trim() === id, 'must not start or end with whitespace');

/** The key of MOCK_PROVIDER_MODELS that sets the defaults for every model not named. */
export const DEFAULTS_KEY = '*';

/** MOCK_PROVIDER_MODELS: a JSON object of model id → settings; the key "*" sets the defaults. */
export const initialSettingsSchema = z.record(modelIdSchema, settingsPatchSchema);

export interface InitialSettings {
  defaults?: SettingsPatch;
  models?: Record<string, SettingsPatch>;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

/** Parses the MOCK_PROVIDER_MODELS variable; a bad value throws a SettingsError naming each bad key. */
export function parseInitialSettings(text: string | undefined, variable = 'MOCK_PROVIDER_MODELS'): InitialSettings {
  if (text === undefined || text.trim() === '') return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new SettingsError(`${variable} is not valid JSON: ${(error as Error).message}`);
  }
  const result = initialSettingsSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  - ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new SettingsError(
      `invalid ${variable} (expected {"<model id>": {"latency_ms"?, "jitter_ms"?, "error_rate"?, "down"?, "tokens_per_second"?, "error_kind"?, …}, "*": {...defaults}}):\n${lines.join('\n')}`,
    );
  }
  const { [DEFAULTS_KEY]: defaults, ...models } = result.data;
  return { ...(defaults ? { defaults } : {}), models };
}

/** Keeps only the keys that are set, so a patch never overwrites a value with `undefined`. */
function definedOnly(patch: SettingsPatch): SettingsPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined)) as SettingsPatch;
}

export interface ModelEntry extends ModelSettings {
  id: string;
}

/**
 * The mock's per-model behaviour. Each model stores only the keys set for it; everything else
 * follows the defaults, so changing a default reaches every model that did not set that key.
 * "Reset" means back to the start-up settings (the constructor's `initial`), not to nothing.
 */
export class SettingsStore {
  private readonly initialDefaults: ModelSettings;
  private readonly initialModels: ReadonlyMap<string, SettingsPatch>;
  private defaults: ModelSettings;
  private models: Map<string, SettingsPatch>;

  constructor(initial: InitialSettings = {}) {
    this.initialDefaults = { ...DEFAULT_SETTINGS, ...definedOnly(initial.defaults ?? {}) };
    this.initialModels = new Map(
      Object.entries(initial.models ?? {}).map(([id, patch]) => [id, definedOnly(patch)] as const),
    );
    this.defaults = { ...this.initialDefaults };
    this.models = new Map(this.initialModels);
  }

  /** The effective settings of `id` (configured or not). */
  get(id: string): ModelSettings {
    return { ...this.defaults, ...this.models.get(id) };
  }

  /** Whether `id` has settings of its own (from start-up or the control API). */
  has(id: string): boolean {
    return this.models.has(id);
  }

  getDefaults(): ModelSettings {
    return { ...this.defaults };
  }

  /** Every model with settings of its own, by id, with its effective settings. */
  list(): ModelEntry[] {
    return [...this.models.keys()].sort().map((id) => ({ id, ...this.get(id) }));
  }

  /** Merges `patch` into the model's own settings; answers the effective result. */
  set(id: string, patch: SettingsPatch): ModelSettings {
    this.models.set(id, { ...this.models.get(id), ...definedOnly(patch) });
    return this.get(id);
  }

  setDefaults(patch: SettingsPatch): ModelSettings {
    this.defaults = { ...this.defaults, ...definedOnly(patch) };
    return this.getDefaults();
  }

  /** Puts one model back to its start-up settings (or to the defaults if it had none). */
  reset(id: string): ModelSettings {
    const initial = this.initialModels.get(id);
    if (initial) this.models.set(id, { ...initial });
    else this.models.delete(id);
    return this.get(id);
  }

  /** Puts everything back as it was at start-up. */
  resetAll(): void {
    this.defaults = { ...this.initialDefaults };
    this.models = new Map(this.initialModels);
  }
}
