import { MAX_ID_LENGTH, ROUTING_STRATEGIES, storableId, unstorableIdReason } from '@model-router/domain';
import { z } from 'zod';

const MAX_TOKENS_LIMIT = 2_000_000;
// The same id rule as the events the route publishes: an id Postgres cannot store is refused here.
const id = storableId;

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

const ROUTE_KEYS = new Set([
  'prompt',
  'max_tokens',
  'strategy',
  'user_id',
  'enable_ab_test',
  'ab_test_id',
  'required_capabilities',
  'providers',
  'max_cost_usd',
  'max_latency_ms',
]);
const STRATEGIES: ReadonlySet<unknown> = new Set(ROUTING_STRATEGIES);

const isId = (v: unknown): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= MAX_ID_LENGTH && unstorableIdReason(v) === null;
const isStringList = (v: unknown, maxItems: number): v is string[] =>
  Array.isArray(v) && v.length <= maxItems && v.every((s) => typeof s === 'string' && s.length >= 1 && s.length <= 64);
const isPositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * The hot path's parse of a route body: the same rules as `routeRequestSchema`, checked by hand
 * because zod costs ~20 µs a request on this path. Returns null for anything it does not accept, and
 * the caller then asks zod, which is the reference and words the error. A property test checks the
 * two agree on every input.
 */
export function parseRouteRequestFast(body: unknown): RouteRequest | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  for (const key in body) if (!ROUTE_KEYS.has(key)) return null;
  const b = body as Record<string, unknown>;
  if (typeof b.prompt !== 'string' || b.prompt.length === 0) return null;
  const out: RouteRequest = { prompt: b.prompt, max_tokens: 1024, enable_ab_test: false };
  if (b.max_tokens !== undefined) {
    const v = b.max_tokens;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_TOKENS_LIMIT) return null;
    out.max_tokens = v;
  }
  if (b.strategy !== undefined) {
    if (!STRATEGIES.has(b.strategy)) return null;
    out.strategy = b.strategy as RouteRequest['strategy'];
  }
  if (b.user_id !== undefined) {
    if (!isId(b.user_id)) return null;
    out.user_id = b.user_id;
  }
  if (b.enable_ab_test !== undefined) {
    if (typeof b.enable_ab_test !== 'boolean') return null;
    out.enable_ab_test = b.enable_ab_test;
  }
  if (b.ab_test_id !== undefined) {
    if (!isId(b.ab_test_id)) return null;
    out.ab_test_id = b.ab_test_id;
  }
  if (b.required_capabilities !== undefined) {
    if (!isStringList(b.required_capabilities, 32)) return null;
    out.required_capabilities = b.required_capabilities;
  }
  if (b.providers !== undefined) {
    if (!isStringList(b.providers, 64)) return null;
    out.providers = b.providers;
  }
  if (b.max_cost_usd !== undefined) {
    if (!isPositive(b.max_cost_usd)) return null;
    out.max_cost_usd = b.max_cost_usd;
  }
  if (b.max_latency_ms !== undefined) {
    if (!isPositive(b.max_latency_ms)) return null;
    out.max_latency_ms = b.max_latency_ms;
  }
  return out;
}
