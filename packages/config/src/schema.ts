import { keyIdSchema } from '@model-router/domain';
import ms from 'ms';
import { z } from 'zod';

/** A duration written as in the seed ("1h", "24h", "500ms") or as milliseconds; parsed to ms. */
const duration = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const parsed = ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed) || parsed < 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: "${value}" (use e.g. "500ms", "30s", "1h")` });
    return z.NEVER;
  }
  return parsed;
});

/** A switch written as a YAML boolean or, from an environment variable, as "true"/"false". */
const flag = z.union([z.boolean(), z.stringbool()], { error: 'must be true or false' });

const strategy = z.enum(['cheapest', 'fastest', 'most_available', 'balanced']);

export const configSchema = z
  .object({
    service: z
      .object({
        name: z.string().min(1).default('model-router'),
        environment: z.enum(['development', 'test', 'production']).default('development'),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.coerce.number().int().min(0).max(65535).default(9004),
        body_limit: z.string().min(1).default('1mb'),
        // Safety default: in-flight requests get this long to finish on SIGTERM before we exit.
        shutdown_timeout: duration.default(10_000),
        // "production" (or NODE_ENV=production) turns on the start-up refusals of production mode:
        // see packages/config/src/mode.ts.
        mode: z.enum(['development', 'production']).optional(),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: z.string().url().default('postgres://postgres@127.0.0.1:5432/model_router'),
        pool_size: z.coerce.number().int().min(1).max(200).default(10),
        migrate_on_start: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().url().default('redis://127.0.0.1:6379'),
        // Every key and channel starts with this, so several deployments (or test runs) share one Redis.
        key_prefix: z
          .string()
          .regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, "_", ".", ":" or "-" only')
          .default('mr'),
        // Production mode refuses a Redis without AOF or with eviction unless this is true
        // (env REDIS_ALLOW_VOLATILE=true): accepted events would not survive a Redis restart.
        allow_volatile: flag.default(false),
        // A Redis Cluster instead of the single Redis at url (which then lends only its username,
        // password and TLS): some of its nodes as host:port, the client discovers the rest.
        // Env REDIS_CLUSTER_NODES=host:port,host:port. Empty (the default): a single Redis.
        cluster: z
          .object({
            nodes: z
              .preprocess(
                (value) => (typeof value === 'string' ? value.split(',').map((n) => n.trim()).filter(Boolean) : value),
                z.array(z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port')),
              )
              .default([]),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        admin_api_key: z.string().min(16, 'must be at least 16 characters'),
        // When unset, the route and metrics endpoints are open (as in the seed's examples).
        client_api_key: z.string().min(16, 'must be at least 16 characters').optional(),
        // Several clients, each with its own key and id. The id is the client's namespace for the
        // ids it chooses (event_id, X-Request-Id): two clients never deduplicate each other's events.
        // client_api_key above is the client with id "default".
        client_api_keys: z
          .array(
            z
              .object({
                id: keyIdSchema,
                key: z.string().min(16, 'must be at least 16 characters'),
              })
              .strict(),
          )
          .default([])
          .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, 'each id may appear once')
          .refine((keys) => new Set(keys.map((k) => k.key)).size === keys.length, 'each key may appear once')
          // "admin" is the namespace of the admin key on client endpoints.
          .refine((keys) => keys.every((k) => k.id !== 'admin'), 'the id "admin" is reserved for the admin key'),
        // Optional: may view the operator page (/admin) and a read-only queue dashboard, nothing else.
        readonly_api_key: z.string().min(16, 'must be at least 16 characters').optional(),
        // How long the secret an API key rotation replaces keeps working (POST /api/v1/keys/:id/rotate).
        key_rotation_grace: duration.default(86_400_000),
      })
      .strict(),
    routing: z
      .object({
        default_strategy: strategy.default('balanced'),
        max_fallbacks: z.coerce.number().int().min(0).max(20).default(3),
        min_samples: z.coerce.number().int().min(1).default(20),
        balanced_weights: z
          .object({
            cost: z.number().min(0).default(0.4),
            latency: z.number().min(0).default(0.3),
            availability: z.number().min(0).default(0.3),
          })
          .strict()
          .prefault({})
          .refine((w) => w.cost + w.latency + w.availability > 0, 'at least one weight must be positive'),
        // The snapshot also reloads on every change notice; the timer is the safety net.
        snapshot_refresh_interval: duration.default(30_000),
        // Observed latency (p50) and success rate come from the rollups of this recent window…
        stats_window: duration.default(900_000),
        // … reloaded this often.
        stats_refresh_interval: duration.default(10_000),
      })
      .strict()
      .prefault({}),
    abtest: z
      .object({
        enabled: z.boolean().default(true),
        cache_ttl: duration.default(3_600_000),
        user_variant_cache_ttl: duration.default(86_400_000),
        default_strategy: z.enum(['consistent_hash', 'weighted_random']).default('consistent_hash'),
        // Significance level of the results' tests.
        alpha: z.number().gt(0).lt(1).default(0.05),
      })
      .strict()
      .prefault({}),
    catalog: z
      .object({
        seed_on_first_start: z.boolean().default(true),
        // Seeded models' endpoints point here in development so health checks need no internet.
        endpoint_base_url: z.string().url().default('http://127.0.0.1:9010/v1'),
      })
      .strict()
      .prefault({}),
    mock_provider: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.coerce.number().int().min(0).max(65535).default(9010),
        // Key of the control API (/_control); unset, the admin key (in development the dev key).
        control_api_key: z.string().min(16, 'must be at least 16 characters').optional(),
      })
      .strict()
      .prefault({}),
    workers: z
      .object({
        // Interface of the workers' ops servers (/healthz, /readyz, /metrics). Unset: server.host
        // in development, 127.0.0.1 in production mode (metrics and queue depths stay private).
        ops_host: z.string().min(1).optional(),
        metric_aggregator: z
          .object({
            ops_port: z.coerce.number().int().min(0).max(65535).default(9101),
            // Jobs (each a batch of up to 1,000 events) written to Postgres at once.
            concurrency: z.coerce.number().int().min(1).max(64).default(4),
          })
          .strict()
          .prefault({}),
        health_checker: z
          .object({
            ops_port: z.coerce.number().int().min(0).max(65535).default(9102),
            probe_interval: duration.default(5_000),
            probe_timeout: duration.default(2_000),
          })
          .strict()
          .prefault({}),
        cache_invalidator: z
          .object({ ops_port: z.coerce.number().int().min(0).max(65535).default(9103) })
          .strict()
          .prefault({}),
        budget_enforcer: z
          .object({ ops_port: z.coerce.number().int().min(0).max(65535).default(9104) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    circuit_breaker: z
      .object({
        // Opens after this many consecutive failures …
        consecutive_failures: z.coerce.number().int().min(1).default(3),
        // … or when the failure rate over the window reaches the threshold with enough volume.
        failure_rate_threshold: z.number().gt(0).max(1).default(0.5),
        minimum_volume: z.coerce.number().int().min(1).default(10),
        window: duration.default(10_000),
        // How long an open circuit waits before letting trial requests through (half-open).
        cooldown: duration.default(5_000),
        half_open_max_trials: z.coerce.number().int().min(1).default(3),
        // Successful trials in a row that close a half-open circuit.
        half_open_successes_to_close: z.coerce.number().int().min(1).default(2),
      })
      .strict()
      .prefault({}),
    ingestion: z
      .object({
        // A metric's timestamp must fall in [now - max_event_age, now + max_clock_skew]; outside,
        // the request is answered 400. Older events would land in long-gone rollups and budget periods.
        max_event_age: duration.default(7 * 86_400_000),
        max_clock_skew: duration.default(300_000),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({
        raw_events_days: z.coerce.number().int().min(1).default(14),
        minute_rollups_days: z.coerce.number().int().min(1).default(7),
      })
      .strict()
      .prefault({}),
    budgets: z
      .object({
        // budget.threshold_crossed alerts are POSTed here as JSON; unset, they are logged and counted only.
        webhook_url: z.string().url().nullable().default(null),
        webhook_timeout: duration.default(5_000),
        // Delivery attempts per alert (pg-boss retries with exponential backoff), then it is given up.
        webhook_attempts: z.coerce.number().int().min(1).max(100).default(10),
        // Safety net (pg-boss cron, UTC): Redis counters and every replica's budget state are re-synced
        // from Postgres, and budgets whose period just began are announced clean.
        reconcile_cron: z.string().min(9).default('* * * * *'),
      })
      .strict()
      .prefault({}),
    gateway: z
      .object({
        // Models tried for one request (the first choice and its fallbacks), within the client's deadline.
        max_attempts: z.coerce.number().int().min(1).max(10).default(3),
        // A budget reservation left by a replica that crashed mid-call is released after this.
        reservation_ttl: duration.default(600_000),
        // Upstream timeouts: TCP/TLS connect, then the response's first byte, then the whole call
        // (a model's own `timeout_ms` replaces `timeout`).
        connect_timeout: duration.default(5_000),
        first_byte_timeout: duration.default(60_000),
        timeout: duration.default(600_000),
        // Completion tokens reserved and routed for when a request sets no max_tokens.
        default_max_tokens: z.coerce.number().int().min(1).max(2_000_000).default(4096),
        // Keep-alive connections kept open per upstream origin.
        connections_per_origin: z.coerce.number().int().min(1).max(4096).default(256),
      })
      .strict()
      .prefault({}),
    security: z
      .object({
        // May model endpoints (probed by the health checker and called by the gateway) be loopback or
        // private addresses? Unset: true in development (the mock provider listens on 127.0.0.1), false
        // in production. Link-local and cloud metadata addresses are refused either way.
        allow_private_endpoints: flag.optional(),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
