import { ROUTING_STRATEGIES, type RoutingStrategy } from '@model-router/domain';
import { chatCompletionRequestShape } from '@model-router/providers';
import { z } from 'zod';

const id = z.string().min(1).max(256).regex(/^[^\u0000]*$/, 'must not contain NUL characters');

/**
 * The gateway's own options, sent by OpenAI clients as extra body (`extra_body={"router": …}` in
 * Python, a plain field in Node). The same choices as POST /api/v1/route.
 */
export const routerOptionsSchema = z.strictObject({
  strategy: z.enum(ROUTING_STRATEGIES).optional(),
  required_capabilities: z.array(z.string().min(1).max(64)).max(32).optional(),
  providers: z.array(z.string().min(1).max(64)).max(64).optional(),
  max_cost_usd: z.number().positive().finite().optional(),
  max_latency_ms: z.number().positive().finite().optional(),
  ab_test_id: id.optional(),
  /** Default: true when `user` is set (a running test applies as in /route). */
  enable_ab_test: z.boolean().optional(),
  /** The most this request may take over all its attempts; default `gateway.timeout`. */
  timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
});
export type RouterOptions = z.infer<typeof routerOptionsSchema>;

/**
 * POST /v1/chat/completions: OpenAI's request (strict at the top level: an unknown field is a 400,
 * as at OpenAI) plus `router`. `n` > 1 is refused: one answer per call is what the gateway routes,
 * records and bills.
 */
export const gatewayRequestSchema = z.strictObject({
  ...chatCompletionRequestShape,
  n: z.literal(1, 'only n = 1 is supported by the gateway').nullish(),
  user: id.optional(),
  router: routerOptionsSchema.optional(),
});
export type GatewayRequest = z.infer<typeof gatewayRequestSchema>;

export const ROUTER_MODEL_PREFIX = 'router/';
export const ROUTER_MODELS: readonly string[] = ROUTING_STRATEGIES.map((s) => `${ROUTER_MODEL_PREFIX}${s}`);

/** The strategy a `router/<strategy>` model name asks for; null for a registry model id. */
export function routerStrategyOf(model: string): RoutingStrategy | null {
  if (!model.startsWith(ROUTER_MODEL_PREFIX)) return null;
  const strategy = model.slice(ROUTER_MODEL_PREFIX.length);
  return (ROUTING_STRATEGIES as readonly string[]).includes(strategy) ? (strategy as RoutingStrategy) : null;
}
