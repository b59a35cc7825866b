import { randomBytes } from 'node:crypto';
import type { BudgetReservations } from '@model-router/budgets';
import { allowPrivateEndpoints, type Config } from '@model-router/config';
import {
  AbTestRepository,
  AbTestResultsReader,
  AbTestRollupsReader,
  BudgetRepository,
  DeadLetterRepository,
  KeyRepository,
  ModelRepository,
  type Pool,
  UsageRepository,
} from '@model-router/database';
import { type RoutingOptions, seededRandom } from '@model-router/domain';
import {
  accessLog,
  ApiError,
  chain,
  countHttpRequests,
  errorHandler,
  notFoundHandler,
  opsRouter,
  postgresAndRedisChecks,
  requestId,
  requestIdWrittenByRoute,
  type ClientKey,
  requireApiKey,
  requireApiKeyOfRole,
} from '@model-router/http';
import type { CircuitStore } from '@model-router/health';
import type { Logger } from '@model-router/logger';
import { type EventPublisher, registerQueueDepthGauge } from '@model-router/queue';
import type { RedisClient as Redis } from '@model-router/redis';
import { traceHttpRequests, tracingEnabled } from '@model-router/telemetry';
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { budgetOverview } from './admin/budget-overview.js';
import { deadLetterOverview } from './admin/dead-letter-overview.js';
import { keyOverview } from './admin/key-overview.js';
import { operatorPage } from './admin/operator-page.js';
import { QUEUE_DASHBOARD_PATH, queueDashboardByRole } from './admin/queue-dashboard.js';
import { BanditAllocations } from './abtests/bandit-allocations.js';
import { AbAssigner } from './abtests/ab-assigner.js';
import { abTestRoutes } from './abtests/abtests.routes.js';
import type { BudgetTracker } from './state/budget-tracker.js';
import { budgetRoutes } from './budgets/budgets.routes.js';
import { costRoutes } from './cost/cost.routes.js';
import { AttemptLoop } from './gateway/attempt-loop.js';
import { AttemptRecorder } from './gateway/attempt-recorder.js';
import { GatewayRouter } from './gateway/gateway-router.js';
import { gatewayRoutes } from './gateway/gateway.routes.js';
import type { RateLimitTracker } from './state/rate-limit-tracker.js';
import type { UpstreamClient } from './gateway/upstream-client.js';
import type { ConfigChanges } from './events/config-changes.js';
import type { OutcomeReporter } from './events/outcome-reporter.js';
import { clientAuth } from './keys/key-auth.js';
import { KeyLimits } from './keys/key-limits.js';
import { KeyRateLimiter } from './keys/key-rate-limiter.js';
import type { KeyUsageRecorder } from './keys/key-usage.js';
import { keyRoutes } from './keys/keys.routes.js';
import { type ApiMetrics, createApiMetrics } from './prometheus-metrics.js';
import { MetricIngestion } from './ingestion/metric-ingestion.js';
import { metricsRoutes } from './ingestion/metrics.routes.js';
import { modelRoutes } from './models/models.routes.js';
import { routeHandler } from './routing/route.routes.js';
import type { SnapshotStore } from './state/snapshot-store.js';
import { usageRoutes } from './usage/usage.routes.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  pool: Pool;
  redis: Redis;
  snapshots: SnapshotStore;
  registry: Registry;
  publisher: EventPublisher;
  outcomes: OutcomeReporter;
  changes: ConfigChanges;
  /** Shared circuit breakers: trial permits for half-open models and the health endpoint. */
  circuits: CircuitStore;
  /** This replica's budget state; routing applies it without I/O. */
  budgets: BudgetTracker;
  /** Wall clock of budget periods and usage defaults (injected by tests). */
  clock: () => number;
  /** The gateway's I/O: upstream HTTP, shared rate limits, budget reservations. */
  gateway: GatewayIo;
  /** Notes API key uses for their last_used_at (written in batches). */
  keyUsage: KeyUsageRecorder;
}

export interface GatewayIo {
  client: UpstreamClient;
  rateLimits: RateLimitTracker;
  reservations: BudgetReservations;
  /** Where models' `api_key_env` variables are read (process.env). */
  env: NodeJS.ProcessEnv;
}

export interface App {
  app: Express;
  metrics: ApiMetrics;
}

export function routingOptions(config: Config): RoutingOptions {
  return {
    min_samples: config.routing.min_samples,
    max_fallbacks: config.routing.max_fallbacks,
    balanced_weights: config.routing.balanced_weights,
  };
}

/** The client namespace of requests made with the admin key on client endpoints. */
export const ADMIN_CLIENT_KEY_ID = 'admin';

/**
 * Every client key with its id (the namespace of the ids the client chooses): `auth.client_api_key`
 * is the client "default", `auth.client_api_keys` lists the others.
 */
export function clientKeysOf(config: Config): ClientKey[] {
  const single = config.auth.client_api_key ? [{ id: 'default', key: config.auth.client_api_key }] : [];
  return [...single, ...config.auth.client_api_keys];
}

/**
 * Write requests must say they send JSON: express.json() parses only bodies declared as JSON, so a
 * body that is present but was left unparsed was declared as something else. Checked after the
 * parser, which saves parsing the content type twice on every request.
 */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (req.body === undefined) {
    const length = req.headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) {
      next(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON with "Content-Type: application/json"'));
      return;
    }
  }
  next();
};

/** True at most once a minute: a Redis outage must not flood the log with a line per request. */
function everyMinute(): () => boolean {
  let last = 0;
  return () => {
    const now = Date.now();
    if (now - last <= 60_000) return false;
    last = now;
    return true;
  };
}

export function createApp(deps: AppDeps): App {
  const { config, logger, pool, redis, snapshots, registry, publisher } = deps;
  const metrics = createApiMetrics(registry);
  registerQueueDepthGauge(registry, publisher.allQueues);
  const models = new ModelRepository(pool);
  const rollups = new AbTestRollupsReader(pool);

  const adminKeys = [config.auth.admin_api_key];
  const requireAdmin = requireApiKey(adminKeys, 'admin');
  const clients = clientKeysOf(config);
  // Configured client keys, the admin key (in a namespace of its own) and the API keys of the
  // snapshot; open while there is none of the first and the last.
  const requireClient = clientAuth({
    configured: [...clients, { id: ADMIN_CLIENT_KEY_ID, key: config.auth.admin_api_key }],
    configuredClients: clients.length > 0,
    snapshots,
    clock: deps.clock,
    usage: deps.keyUsage,
  });

  // Events nobody waits for that Redis refused: each is counted, a line is logged once a minute.
  const routeLossLog = everyMinute();
  const recordLossLog = everyMinute();
  const onEventLost = (error: unknown): void => {
    metrics.eventsLost.inc({ event: 'route.decided' });
    if (routeLossLog()) logger.warn('route events are being lost: Redis is unavailable', { err: error });
  };

  // Requests and tokens per minute of API keys, shared by every replica through Redis; a key
  // without limits costs nothing. Fail-open: while Redis is away requests go through uncounted.
  const limitLog = everyMinute();
  const keyLimits = new KeyLimits(
    new KeyRateLimiter(redis, config.redis.key_prefix, {
      onUnavailable: (error) => {
        metrics.keyRateLimitUnavailable.inc();
        if (limitLog()) logger.warn('API key rate limits are not applied: Redis is unavailable (requests go through uncounted)', { err: error });
      },
    }),
    { onRefused: (limit) => metrics.keyRateLimited.inc({ limit }) },
  );

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  // Tracing and the access log cost nothing unless enabled (OTEL_* variables; log level debug).
  const common: RequestHandler[] = [requestId];
  if (tracingEnabled()) common.push(traceHttpRequests());
  const requestLog = accessLog(logger);
  if (requestLog) common.push(requestLog);
  common.push(countHttpRequests({ requests: metrics.httpRequests, duration: metrics.httpRequestSeconds }));
  const json = express.json({ limit: config.server.body_limit, strict: true });

  // One assigner for /api/v1/route and the gateway: the same draws, bandit allocations and caches.
  const assigner = config.abtest.enabled
    ? new AbAssigner(
        redis,
        config.redis.key_prefix,
        config.abtest.user_variant_cache_ttl,
        // Assignment draws come from the domain's seeded PRNG, seeded once per process.
        seededRandom(randomBytes(4).readUInt32BE(0)),
        new BanditAllocations(rollups),
      )
    : null;

  // The hot path first, as one route with only the layers it needs, run as one layer (chain): no
  // router is walked and no path is matched twice.
  app.post(
    '/api/v1/route',
    chain(
      ...common,
      json,
      requireJsonBody,
      requireClient,
      routeHandler({
        snapshots,
        options: routingOptions(config),
        defaultStrategy: config.routing.default_strategy,
        metrics,
        publisher,
        assigner,
        acquireTrial: (modelId) => deps.circuits.tryAcquireTrial(modelId),
        onEventLost,
        budgets: deps.budgets,
        keyLimits,
      }),
    ),
  );

  // The OpenAI-compatible gateway: route, call the model, fall back, record the outcome.
  const gw = deps.gateway;
  const gateway = gatewayRoutes({
    snapshots,
    router: new GatewayRouter({
      snapshots,
      budgets: deps.budgets,
      assigner,
      options: routingOptions(config),
      maxAttempts: config.gateway.max_attempts,
      defaultMaxTokens: config.gateway.default_max_tokens,
    }),
    attempts: new AttemptLoop({
      client: gw.client,
      recorder: new AttemptRecorder(
        publisher,
        deps.outcomes,
        gw.reservations,
        config.gateway.reservation_ttl,
        logger,
        (error, event) => {
          metrics.eventsLost.inc({ event });
          if (recordLossLog()) logger.warn('gateway attempts are not being recorded: Redis is unavailable', { err: error, event });
        },
        (model, outcome) => metrics.gatewayAttempts.inc({ model: model.id, provider: model.provider, outcome }),
      ),
      reservations: gw.reservations,
      budgets: deps.budgets,
      rateLimits: gw.rateLimits,
      snapshots,
      acquireTrial: (modelId) => deps.circuits.tryAcquireTrial(modelId),
      env: gw.env,
      options: {
        maxAttempts: config.gateway.max_attempts,
        timeoutMs: config.gateway.timeout,
        firstByteTimeoutMs: config.gateway.first_byte_timeout,
        reservationTtlMs: config.gateway.reservation_ttl,
      },
      logger,
    }),
    requireClient,
    keyLimits,
    bodyLimit: config.server.body_limit,
    defaultTimeoutMs: config.gateway.timeout,
    logger,
    startedAt: deps.clock(),
  });
  // The gateway's hot path, like /api/v1/route: one route ahead of every app.use layer, its
  // middleware run as one layer.
  // Its answers carry x-request-id in their one writeHead (requestIdWrittenByRoute).
  const gatewayCommon = common.map((layer) => (layer === requestId ? requestIdWrittenByRoute : layer));
  app.post('/v1/chat/completions', chain(...gatewayCommon, ...gateway.chatCompletions.middleware), gateway.chatCompletions.errors);
  app.use(common);
  app.use('/v1', gateway.router);

  const api = express.Router();
  const window = { maxAgeMs: config.ingestion.max_event_age, maxSkewMs: config.ingestion.max_clock_skew };
  // One ingestion for both metric endpoints: the same window, events, key limits and publishing.
  const ingestion = new MetricIngestion({ snapshots, publisher, outcomes: deps.outcomes, window, clock: deps.clock, keyLimits });
  api.use(metricsRoutes({ ingestion, requireClient }));
  api.use(
    abTestRoutes({
      abtests: new AbTestRepository(pool),
      results: new AbTestResultsReader(pool, rollups),
      snapshots,
      changes: deps.changes,
      ingestion,
      defaultStrategy: config.abtest.default_strategy,
      alpha: config.abtest.alpha,
      requireAdmin,
      requireReader: requireClient,
      requireClient,
    }),
  );
  api.use(
    modelRoutes({
      models,
      snapshots,
      changes: deps.changes,
      circuits: deps.circuits,
      requireAdmin,
      requireReader: requireClient,
      endpointPolicy: { allowPrivateEndpoints: allowPrivateEndpoints(config) },
    }),
  );
  api.use(costRoutes({ snapshots, requireClient }));
  api.use(
    budgetRoutes({ budgets: new BudgetRepository(pool), snapshots, changes: deps.changes, clock: deps.clock, requireAdmin, requireReader: requireClient }),
  );
  api.use(usageRoutes({ usage: new UsageRepository(pool), clock: deps.clock, requireReader: requireClient }));
  api.use(keyRoutes({ keys: new KeyRepository(pool), changes: deps.changes, clock: deps.clock, rotationGraceMs: config.auth.key_rotation_grace, requireAdmin }));
  app.use('/api/v1', json, requireJsonBody, api);
  app.use(
    opsRouter(registry, postgresAndRedisChecks(pool, redis)),
  );
  // Dashboards: the admin key, or the read-only key (which sees everything and changes nothing).
  const requireViewer = requireApiKeyOfRole(
    { admin: adminKeys, readonly: config.auth.readonly_api_key ? [config.auth.readonly_api_key] : [] },
    'admin',
    { browserPrompt: true },
  );
  app.use(QUEUE_DASHBOARD_PATH, requireViewer, queueDashboardByRole(publisher.allQueues));
  app.use(
    operatorPage(
      {
        snapshots,
        events: rollups,
        queues: publisher.allQueues,
        alpha: config.abtest.alpha,
        budgets: budgetOverview(new BudgetRepository(pool), deps.clock),
        deadLetters: deadLetterOverview(new DeadLetterRepository(pool)),
        keys: keyOverview(new KeyRepository(pool), new UsageRepository(pool), deps.clock),
      },
      requireViewer,
    ),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return { app, metrics };
}
