import type { Config } from '@model-router/config';
import { AbTestRepository, EventRepository, ModelRepository, type Pool } from '@model-router/database';
import type { RoutingOptions } from '@model-router/domain';
import {
  ApiError,
  errorHandler,
  notFoundHandler,
  opsRouter,
  requestId,
  requireApiKey,
} from '@model-router/http';
import type { CircuitStore } from '@model-router/health';
import type { Logger } from '@model-router/logger';
import type { EventPublisher } from '@model-router/queue';
import type { Redis } from '@model-router/redis';
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { QUEUE_DASHBOARD_PATH, queueDashboard } from './admin/queue-dashboard.js';
import { AbAssigner } from './abtests/ab-assigner.js';
import { abTestRoutes } from './abtests/abtests.routes.js';
import type { ConfigChanges } from './events/config-changes.js';
import type { OutcomeReporter } from './events/outcome-reporter.js';
import { type ApiMetrics, createApiMetrics } from './metrics.js';
import { metricsRoutes } from './metrics/metrics.routes.js';
import { modelRoutes } from './models/models.routes.js';
import { routeRoutes } from './routing/route.routes.js';
import type { SnapshotStore } from './routing/snapshot-store.js';

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

/** Write requests must say they send JSON; anything else is refused before parsing. */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const length = req.headers['content-length'];
  const hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && !req.is('application/json')) {
    next(new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON with "Content-Type: application/json"'));
    return;
  }
  next();
};

/** Counts every answered request by route pattern (never the raw path: ids would explode cardinality). */
function httpMetrics(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path as string}` : 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.httpRequestSeconds.observe({ method: req.method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

export function createApp(deps: AppDeps): App {
  const { config, logger, pool, redis, snapshots, registry, publisher } = deps;
  const metrics = createApiMetrics(registry);
  const models = new ModelRepository(pool);

  const adminKeys = [config.auth.admin_api_key];
  const requireAdmin = requireApiKey(adminKeys, 'admin');
  const clientKeys = config.auth.client_api_key ? [config.auth.client_api_key, ...adminKeys] : null;
  const requireClient: RequestHandler = clientKeys ? requireApiKey(clientKeys, 'client') : (_req, _res, next) => next();

  let lastLossLog = 0;
  const onEventLost = (error: unknown): void => {
    metrics.eventsLost.inc({ event: 'route.decided' });
    // One line a minute at most: a Redis outage must not flood the log.
    if (Date.now() - lastLossLog > 60_000) {
      lastLossLog = Date.now();
      logger.warn('route events are being lost: Redis is unavailable', { err: error });
    }
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestId);
  app.use(httpMetrics(metrics));
  app.use(
    opsRouter(registry, {
      postgres: async () => {
        await pool.query('SELECT 1');
      },
      redis: async () => {
        await redis.ping();
      },
    }),
  );
  app.use(
    QUEUE_DASHBOARD_PATH,
    requireApiKey(adminKeys, 'admin', { browserPrompt: true }),
    queueDashboard(publisher.allQueues),
  );
  app.use(requireJsonBody);
  app.use(express.json({ limit: config.server.body_limit, strict: true }));

  const api = express.Router();
  api.use(
    routeRoutes({
      snapshots,
      options: routingOptions(config),
      defaultStrategy: config.routing.default_strategy,
      metrics,
      requireClient,
      publisher,
      assigner: config.abtest.enabled
        ? new AbAssigner(redis, config.redis.key_prefix, config.abtest.user_variant_cache_ttl)
        : null,
      acquireTrial: (modelId) => deps.circuits.tryAcquireTrial(modelId),
      onEventLost,
    }),
  );
  api.use(metricsRoutes({ snapshots, publisher, outcomes: deps.outcomes, requireClient }));
  api.use(
    abTestRoutes({
      abtests: new AbTestRepository(pool),
      events: new EventRepository(pool),
      snapshots,
      changes: deps.changes,
      publisher,
      outcomes: deps.outcomes,
      defaultStrategy: config.abtest.default_strategy,
      alpha: config.abtest.alpha,
      requireAdmin,
      requireReader: requireClient,
      requireClient,
    }),
  );
  api.use(modelRoutes({ models, snapshots, changes: deps.changes, circuits: deps.circuits, requireAdmin, requireReader: requireClient }));
  app.use('/api/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return { app, metrics };
}
