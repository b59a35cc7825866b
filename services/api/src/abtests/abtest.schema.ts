import {
  AB_TEST_STATUSES,
  AB_TEST_STRATEGIES,
  ANALYSIS_METHODS,
  BANDIT_METRICS,
  DEFAULT_PLANNED_USERS,
  DEFAULT_TOP_TWO_BETA,
  entityIdSchema,
  GUARDRAIL_METRICS,
  nanosToUsd,
  storableId,
} from '@model-router/domain';
import { MAX_COST_NANOS, MAX_LATENCY_MS, MAX_TOKENS, storableTimestamp } from '@model-router/queue';
import ms from 'ms';
import { z } from 'zod';

const text = z.string().regex(/^[^\u0000]*$/, 'must not contain NUL characters');
export const abTestIdSchema = entityIdSchema;

const variantSchema = z.strictObject({
  id: entityIdSchema,
  name: text.max(200).optional(),
  model_id: z.string().min(1).max(128),
  weight: z.number().finite(),
  description: text.max(2000).optional(),
});

/** `analysis` of a new test (SPEC "A/B test additions"); every field has a default. */
export const analysisSettingsSchema = z.strictObject({
  method: z.enum(ANALYSIS_METHODS as ['sequential', 'fixed_horizon']).default('sequential'),
  planned_users: z.number().int().min(10).max(1_000_000_000).default(DEFAULT_PLANNED_USERS),
  /** Absent: the config's `abtest.alpha`. */
  alpha: z.number().gt(0).lte(0.5).optional(),
  cuped: z
    .strictObject({
      enabled: z.boolean().default(true),
      // Pre-period usage comes from the raw events, kept `retention.raw_events_days` (14 by default).
      pre_period_days: z.number().int().min(1).max(30).default(7),
    })
    .prefault({}),
});

const guardrailSchema = z.strictObject({
  metric: z.enum(GUARDRAIL_METRICS as ['error_rate', 'p95_latency_ms', 'cost_per_request']),
  /** Relative worsening allowed (0.1: up to 10 % worse than the control). */
  tolerance: z.number().min(0).max(10),
});

/** A duration as "1m", "30s" or milliseconds, between 1 s and 1 day. */
const updateEvery = z.union([z.number().int(), z.string().max(20)]).refine(
  (v) => {
    const msValue = typeof v === 'number' ? v : ms(v as ms.StringValue);
    return typeof msValue === 'number' && Number.isFinite(msValue) && msValue >= 1000 && msValue <= 86_400_000;
  },
  { message: 'must be a duration between 1s and 24h, e.g. "1m"' },
);

/** `bandit` of a thompson_sampling test. */
export const banditSettingsSchema = z.strictObject({
  metric: z.enum(BANDIT_METRICS as ['success_rate', 'cost_per_success']).default('success_rate'),
  min_share: z.number().min(0).max(0.5).default(0.1),
  update_every: updateEvery.default('1m'),
  top_two_beta: z.number().gt(0).lt(1).default(DEFAULT_TOP_TWO_BETA),
});

/** Milliseconds of a bandit's `update_every` (validated by the schema). */
export function updateEveryMs(v: string | number): number {
  return typeof v === 'number' ? v : (ms(v as ms.StringValue) as number);
}

/** POST /api/v1/abtests — the seed's body; `id` and `strategy` are optional. */
export const createAbTestSchema = z.strictObject({
  id: abTestIdSchema.optional(),
  name: text.min(1).max(200),
  description: text.max(5000).default(''),
  start_time: z.iso.datetime({ offset: true }).optional(),
  end_time: z.iso.datetime({ offset: true }).optional(),
  strategy: z.enum(AB_TEST_STRATEGIES as ['consistent_hash', 'weighted_random', 'thompson_sampling']).optional(),
  variants: z.array(variantSchema).min(2, 'at least 2 variants').max(10, 'at most 10 variants'),
  created_by: text.max(200).default(''),
  analysis: analysisSettingsSchema.prefault({}),
  guardrails: z.array(guardrailSchema).max(10).default([]),
  bandit: banditSettingsSchema.optional(),
});

/** GET /api/v1/abtests query. */
export const listAbTestsQuerySchema = z.strictObject({
  status: z.enum(AB_TEST_STATUSES as ['draft', 'running', 'paused', 'completed']).optional(),
  created_by: text.max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

// The same rules as POST /api/v1/metrics (see metric.schema.ts): what the edge accepts, Postgres stores.
const id = storableId;
const tokens = z.number().int().min(0).max(MAX_TOKENS);
const timestamp = storableTimestamp;

/** One metric of an A/B test (POST /api/v1/abtests/:id/metrics), as in the seed. */
export const abMetricSchema = z
  .strictObject({
    variant_id: id,
    user_id: id.optional(),
    success: z.boolean(),
    latency_ms: z.number().finite().min(0).max(MAX_LATENCY_MS),
    tokens: tokens.optional(),
    prompt_tokens: tokens.optional(),
    completion_tokens: tokens.optional(),
    /** USD; computed from the variant model's prices when absent. */
    cost: z.number().finite().min(0).max(nanosToUsd(MAX_COST_NANOS)).optional(),
    /** The model actually called (a fallback, when the variant's model was unavailable). */
    model_id: id.optional(),
    request_id: id.optional(),
    event_id: id.optional(),
    timestamp: timestamp.optional(),
  })
  .refine((m) => !(m.tokens !== undefined && (m.prompt_tokens !== undefined || m.completion_tokens !== undefined)), {
    message: 'give either tokens or prompt_tokens/completion_tokens, not both',
    path: ['tokens'],
  });
export type AbMetric = z.infer<typeof abMetricSchema>;

export const abMetricsBatchSchema = z.strictObject({ metrics: z.array(abMetricSchema).min(1).max(1000) });
