import { z } from 'zod';

const id = z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters');
const tokens = z.number().int().min(0).max(100_000_000);

/** One call outcome as a client reports it (POST /api/v1/metrics). */
export const metricInputSchema = z
  .strictObject({
    model_id: id,
    success: z.boolean(),
    latency_ms: z.number().finite().min(0).max(3_600_000),
    prompt_tokens: tokens.optional(),
    completion_tokens: tokens.optional(),
    /** Total tokens when the split is unknown; counted as completion tokens for cost. */
    tokens: tokens.optional(),
    /** USD; computed from the model's prices when absent. */
    cost: z.number().finite().min(0).max(1_000_000).optional(),
    user_id: id.optional(),
    request_id: id.optional(),
    ab_test_id: id.optional(),
    variant_id: id.optional(),
    /** Makes a retry count once: the same event_id is stored once. */
    event_id: id.optional(),
    /** When the call happened (ISO 8601); the time of acceptance when absent. */
    timestamp: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((m) => !(m.tokens !== undefined && (m.prompt_tokens !== undefined || m.completion_tokens !== undefined)), {
    message: 'give either tokens or prompt_tokens/completion_tokens, not both',
    path: ['tokens'],
  });
export type MetricInput = z.infer<typeof metricInputSchema>;

export const MAX_METRICS_PER_REQUEST = 1000;

/** `{"metrics": [...]}` with 1 to 1,000 metrics (a single metric is accepted on its own too). */
export const metricsBatchSchema = z.strictObject({
  metrics: z.array(metricInputSchema).min(1).max(MAX_METRICS_PER_REQUEST),
});
