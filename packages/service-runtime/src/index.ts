import type { AddressInfo } from 'node:net';
import { assertStartableConfig, type Config, isProductionMode, loadStartableConfigOrExit, workerOpsHost } from '@model-router/config';
import { createPool, type Pool } from '@model-router/database';
import {
  closeServer,
  countHttpRequests,
  createHttpMetrics,
  createMetricsRegistry,
  errorHandler,
  notFoundHandler,
  onShutdownSignal,
  opsRouter,
  postgresAndRedisChecks,
  requestId,
} from '@model-router/http';
import { createLogger, type Logger } from '@model-router/logger';
import { checkRedisDurability, createRedis, type RedisClient as Redis } from '@model-router/redis';
import express from 'express';
import type { Registry } from 'prom-client';

export interface ServiceContext {
  name: string;
  config: Config;
  logger: Logger;
  pool: Pool;
  /** For commands; BullMQ workers may share it (it retries forever, as blocking clients must). */
  redis: Redis;
  registry: Registry;
}

/** What a service's setup returns: how to stop what it started (called before pools close). */
export interface StartedService {
  stop(deadlineMs: number): Promise<void>;
}

export interface RunningService {
  name: string;
  /** The ops server: /healthz, /readyz, /metrics. */
  url: string;
  /** Where the ops server is bound (127.0.0.1 in production mode unless workers.ops_host says otherwise). */
  opsAddress: AddressInfo;
  context: ServiceContext;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  name: string;
  config: Config;
  logger?: Logger;
  /** Port of the ops server (0: any free port). */
  opsPort: number;
  setup(context: ServiceContext): Promise<StartedService>;
}

/**
 * Starts a worker service: the start checks (production mode's refusals, then whether Redis keeps
 * queued events across a restart), clients, the service's own setup, then the ops server. `stop`
 * reverses it: the service stops taking work (with the shutdown deadline), then the ops server,
 * then pools.
 */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { name, config } = options;
  assertStartableConfig(config);
  const logger = options.logger ?? createLogger(name, config.log.level);
  const pool = createPool(config.database.url, config.database.pool_size, `model-router-${name}`);
  const redis = createRedis(config.redis, { connectionName: name });
  const registry = createMetricsRegistry(name);
  const context: ServiceContext = { name, config, logger, pool, redis, registry };

  let started: StartedService | null = null;
  try {
    await checkRedisDurability(redis, {
      production: isProductionMode(config),
      allowVolatile: config.redis.allow_volatile,
      log: logger,
    });
    started = await options.setup(context);
    const app = express();
    app.disable('x-powered-by');
    app.use(requestId);
    app.use(countHttpRequests(createHttpMetrics(registry)));
    app.use(
      opsRouter(registry, postgresAndRedisChecks(pool, redis)),
    );
    app.use(notFoundHandler);
    app.use(errorHandler(logger));
    const opsHost = workerOpsHost(config);
    const server = app.listen(options.opsPort, opsHost);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const opsAddress = server.address() as AddressInfo;
    const { port } = opsAddress;
    const host = opsHost === '0.0.0.0' || opsHost === '::' ? '127.0.0.1' : opsHost.includes(':') ? `[${opsHost}]` : opsHost;
    const service = started;
    return {
      name,
      url: `http://${host}:${port}`,
      opsAddress,
      context,
      async stop() {
        await service.stop(config.server.shutdown_timeout);
        await closeServer(server, 2000);
        redis.disconnect();
        await pool.end();
      },
    };
  } catch (error) {
    await started?.stop(1000).catch(() => undefined);
    redis.disconnect();
    await pool.end().catch(() => undefined);
    throw error;
  }
}

/**
 * The `main` of a worker service: loads config (exit 78 with the bad key named, or with every
 * setting production mode refuses), starts, logs the
 * ops URL, and stops gracefully on SIGTERM/SIGINT.
 */
export async function runServiceMain(
  name: string,
  opsPortOf: (config: Config) => number,
  setup: ServiceOptions['setup'],
  /** The process's tracing (`initTelemetry`), flushed after the service stops. */
  telemetry?: { shutdown(): Promise<void> },
): Promise<void> {
  const config = loadStartableConfigOrExit();
  const logger = createLogger(name, config.log.level);
  try {
    const service = await startService({ name, config, logger, opsPort: opsPortOf(config), setup });
    logger.info(`${name} started`, { url: service.url });
    onShutdownSignal(logger, async () => {
      await service.stop();
      await telemetry?.shutdown();
    });
  } catch (error) {
    logger.error(`${name} failed to start`, { err: error });
    process.exit(1);
  }
}
