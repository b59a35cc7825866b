import { ROUTING_STRATEGIES } from '@model-router/domain';
import { z } from 'zod';

const MAX_TOKENS_LIMIT = 2_000_000;
const id = z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters');

/** Body of POST /api/v1/route. Unknown fields are rejected so a typo never silently does nothing. */
export const routeRequestSchema = z.strictObject({
  prompt: z.string().min(1, 'must not be empty'),
  max_tokens: z.number().int().min(1).max(MAX_TOKENS_LIMIT).default(1024),
  strategy: z.enum(ROUTING_STRATEGIES).optional(),
  user_id: id.optional(),
  enable_ab_test: z.boolean().default(false),
  ab_test_id: id.optional(),
  required_capabilities: z.array(z.string().min(1).max(64)).max(32).optional(),
  providers: z.array(z.string().min(1).max(64)).max(64).optional(),
  max_cost_usd: z.number().positive().finite().optional(),
  max_latency_ms: z.number().positive().finite().optional(),
});

export type RouteRequest = z.infer<typeof routeRequestSchema>;
