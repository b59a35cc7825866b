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

/** Top-level fields the fast parse checks itself; a request with any other goes to zod. */
const FAST_KEYS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'stream',
  'stream_options',
  'n',
  'user',
]);
const FAST_ROLES: ReadonlySet<unknown> = new Set(['system', 'developer', 'user', 'assistant']);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNullish = (v: unknown) => v === undefined || v === null;
const inRange = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isTokenLimit = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/** A plain text message (`role`, string `content`, optional string `name`): the common case. */
function isPlainTextMessage(m: unknown): boolean {
  if (!isRecord(m)) return false;
  for (const key in m) {
    if (key !== 'role' && key !== 'content' && key !== 'name') return false;
  }
  return FAST_ROLES.has(m.role) && typeof m.content === 'string' && (!('name' in m) || typeof m.name === 'string');
}

/**
 * The gateway's hot path's parse of a request body: the same rules as `gatewayRequestSchema` for
 * the common case (plain text messages, the usual sampling fields), checked by hand because zod
 * costs tens of µs a request here. Returns null for anything else — tools, content parts,
 * `router` options, an invalid value — and the caller then asks zod, which is the reference and
 * words the error. A property test checks the two agree on every input.
 */
export function parseGatewayRequestFast(body: unknown): GatewayRequest | null {
  if (!isRecord(body)) return null;
  for (const key in body) {
    if (!FAST_KEYS.has(key) || body[key] === undefined) return null;
  }
  const { model, messages } = body;
  if (typeof model !== 'string' || model.length < 1 || model.length > 256) return null;
  if (!Array.isArray(messages) || messages.length === 0) return null;
  for (const message of messages) if (!isPlainTextMessage(message)) return null;
  if (!isNullish(body.max_tokens) && !isTokenLimit(body.max_tokens)) return null;
  if (!isNullish(body.max_completion_tokens) && !isTokenLimit(body.max_completion_tokens)) return null;
  if (!isNullish(body.temperature) && !inRange(body.temperature, 0, 2)) return null;
  if (!isNullish(body.top_p) && !inRange(body.top_p, 0, 1)) return null;
  if (!isNullish(body.presence_penalty) && !inRange(body.presence_penalty, -2, 2)) return null;
  if (!isNullish(body.frequency_penalty) && !inRange(body.frequency_penalty, -2, 2)) return null;
  if (!isNullish(body.seed) && !(typeof body.seed === 'number' && Number.isSafeInteger(body.seed))) return null;
  if (!isNullish(body.stream) && typeof body.stream !== 'boolean') return null;
  if (!isNullish(body.n) && body.n !== 1) return null;
  const streamOptions = body.stream_options;
  if (!isNullish(streamOptions)) {
    if (!isRecord(streamOptions)) return null;
    for (const key in streamOptions) if (key !== 'include_usage') return null;
    if ('include_usage' in streamOptions && typeof streamOptions.include_usage !== 'boolean') return null;
  }
  const user = body.user;
  if (user !== undefined && (typeof user !== 'string' || user.length < 1 || user.length > 256 || user.includes('\u0000'))) return null;
  // Every field is one the schema keeps as it is: its output would equal the input.
  return body as GatewayRequest;
}
