import express, { type Router } from 'express';
import { collectDefaultMetrics, Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<void>;

/** A Prometheus registry with process and event-loop metrics, labelled with the service name. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'model_router_' });
  return registry;
}

function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
    check().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The readiness of a process that needs Postgres and Redis: a trivial query and a PING. */
export function postgresAndRedisChecks(
  pool: { query(sql: string): Promise<unknown> },
  redis: { ping(): Promise<unknown> },
): Record<string, ReadinessCheck> {
  return {
    postgres: async () => {
      await pool.query('SELECT 1');
    },
    redis: async () => {
      await redis.ping();
    },
  };
}

/**
 * `/healthz` (the process answers), `/readyz` (every dependency answers within 2 s) and
 * `/metrics` (Prometheus text). Mounted by every service.
 */
export function opsRouter(registry: Registry, checks: Record<string, ReadinessCheck>): Router {
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const results: Record<string, string> = {};
    let ready = true;
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        try {
          await withTimeout(check, 2000);
          results[name] = 'ok';
        } catch (error) {
          ready = false;
          results[name] = `unavailable: ${(error as Error).message}`;
        }
      }),
    );
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: results });
  });
  router.get('/metrics', async (_req, res) => {
    res.setHeader('content-type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
