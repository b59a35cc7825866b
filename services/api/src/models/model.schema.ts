import { ENV_OVERRIDES } from '@model-router/config';
import { type EndpointPolicy, endpointRefusal, MODEL_APIS } from '@model-router/domain';
import { z } from 'zod';

const price = z.number().finite().min(0, 'must not be negative').max(10_000);

/**
 * A model's endpoint: http(s), no query or fragment, and not an address the policy refuses (see
 * endpointRefusal). The health checker checks it again, with what its name resolves to, before
 * each probe.
 */
export function endpointSchema(policy: EndpointPolicy) {
  return z
    .string()
    .max(2048)
    .superRefine((endpoint, ctx) => {
      // zod runs refinements even when .max failed: never parse an over-long endpoint.
      if (endpoint.length > 2048) return;
      const refusal = endpointRefusal(endpoint, policy);
      if (refusal) ctx.addIssue({ code: 'custom', message: refusal });
    });
}

const writable = {
  name: z.string().min(1).max(200),
  provider: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, "_" or "-", at most 64 characters'),
  input_price_per_1k: price,
  output_price_per_1k: price,
  context_window: z.number().int().min(1).max(100_000_000),
  max_output_tokens: z.number().int().min(1).max(100_000_000),
  capabilities: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/, 'lowercase identifier')).max(32),
  enabled: z.boolean(),
  latency_ms: z.number().int().min(1).max(600_000),
  api: z.enum(MODEL_APIS),
  // The NAME of the variable holding the key: a secret never enters the registry.
  api_key_env: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'the name of an environment variable (letters, digits, "_"), not the key itself')
    // The router's own settings (admin key, database URL…) must never be sent to a model's endpoint.
    .refine((name) => !(name in ENV_OVERRIDES) && !name.startsWith('OTEL_'), "must not name one of the router's own settings")
    .nullable(),
  upstream_model: z.string().min(1).max(256).nullable(),
  timeout_ms: z.number().int().min(1).max(3_600_000).nullable(),
};

/** Defaults of the gateway fields when a model is created or replaced without them. */
const gatewayDefaults = {
  api: writable.api.default('openai'),
  api_key_env: writable.api_key_env.default(null),
  upstream_model: writable.upstream_model.default(null),
  timeout_ms: writable.timeout_ms.default(null),
};

export const modelIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'letters, digits, ".", "_", ":", "/" or "-", at most 128 characters');

const outputFitsContext = (m: { max_output_tokens?: number; context_window?: number }) =>
  m.max_output_tokens === undefined || m.context_window === undefined || m.max_output_tokens <= m.context_window;
const fitsMessage = { message: 'must not exceed context_window', path: ['max_output_tokens'] };

/** The bodies of the model endpoints, validating `endpoint` under `policy`. */
export function modelSchemas(policy: EndpointPolicy) {
  const endpoint = endpointSchema(policy);
  /** Every writable field, with the defaults a whole model (create or replace) takes. */
  const whole = {
    ...writable,
    capabilities: writable.capabilities.default([]),
    enabled: writable.enabled.default(true),
    latency_ms: writable.latency_ms.default(1000),
    endpoint: endpoint.nullable().default(null),
    ...gatewayDefaults,
  };
  /** POST /api/v1/models */
  const create = z
    .strictObject({
      id: modelIdSchema,
      ...whole,
    })
    .refine(outputFitsContext, fitsMessage);

  /** PUT /api/v1/models/:id — the whole model; `id`, when given, must match the path. */
  const replace = z
    .strictObject({
      id: modelIdSchema.optional(),
      ...whole,
    })
    .refine(outputFitsContext, fitsMessage);

  /** PATCH /api/v1/models/:id — any subset of the writable fields, at least one. */
  const patch = z
    .strictObject({
      name: writable.name.optional(),
      provider: writable.provider.optional(),
      input_price_per_1k: writable.input_price_per_1k.optional(),
      output_price_per_1k: writable.output_price_per_1k.optional(),
      context_window: writable.context_window.optional(),
      max_output_tokens: writable.max_output_tokens.optional(),
      capabilities: writable.capabilities.optional(),
      enabled: writable.enabled.optional(),
      latency_ms: writable.latency_ms.optional(),
      endpoint: endpoint.nullable().optional(),
      api: writable.api.optional(),
      api_key_env: writable.api_key_env.optional(),
      upstream_model: writable.upstream_model.optional(),
      timeout_ms: writable.timeout_ms.optional(),
    })
    .refine((patch) => Object.keys(patch).length > 0, 'at least one field to change is required');
  return { create, replace, patch };
}

/** Under the development policy (private endpoints allowed), for tests and tools; the API uses modelSchemas. */
export const {
  create: createModelSchema,
  replace: replaceModelSchema,
  patch: patchModelSchema,
} = modelSchemas({ allowPrivateEndpoints: true });
