import type { Config } from '@model-router/config';
import { ModelRepository, type Pool } from '@model-router/database';
import type { RoutingOptions } from '@model-router/domain';
import {
  ApiError,
  errorHandler,
  notFoundHandler,
  opsRouter,
  requestId,
  requireApiKey,
} from '@model-router/http';
import type { Logger } from '@model-router/logger';
import { publishConfigChange, type Redis } from '@model-router/redis';
import express, { type Express, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { type ApiMetrics, createApiMetrics } from './metrics.js';
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
  const hasBody = req.headers['content-length'] !== '0' && (req.headers['content-length'] || req.headers['transfer-encoding']);
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
  const { config, logger, pool, redis, snapshots, registry } = deps;
  const metrics = createApiMetrics(registry);
  const models = new ModelRepository(pool);

  const adminKeys = [config.auth.admin_api_key];
  const requireAdmin = requireApiKey(adminKeys, 'admin');
  const clientKeys = config.auth.client_api_key ? [config.auth.client_api_key, ...adminKeys] : null;
  const requireClient: RequestHandler = clientKeys ? requireApiKey(clientKeys, 'client') : (_req, _res, next) => next();

  const announceChange = async (id: string, action: 'created' | 'updated' | 'deleted'): Promise<void> => {
    // This replica sees its own write before answering; the others hear it on the channel.
    await snapshots.refresh();
    try {
      await publishConfigChange(redis, config.redis.key_prefix, { entity: 'model', id, action });
    } catch (error) {
      // The change is committed; other replicas pick it up on their refresh timer.
      logger.warn('could not publish config change', { err: error, entity: 'model', id });
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
    }),
  );
  api.use(modelRoutes({ models, snapshots, announceChange, requireAdmin, requireReader: requireClient }));
  app.use('/api/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return { app, metrics };
}
