import type { AddressInfo } from 'node:net';
import type { Config } from '@model-router/config';
import { createPool, ModelRepository } from '@model-router/database';
import { closeServer, createMetricsRegistry } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import { createRedis, type Redis, subscribeConfigChanges } from '@model-router/redis';
import type { Express } from 'express';
import { createApp } from './app.js';
import { prepareDatabase } from './bootstrap.js';
import { SnapshotStore } from './routing/snapshot-store.js';

export interface RunningApi {
  url: string;
  app: Express;
  snapshots: SnapshotStore;
  redis: Redis;
  stop: () => Promise<void>;
}

/**
 * Starts one API replica: database ready, snapshot loaded, change notices subscribed, then
 * listening. `stop` closes in reverse order: stop accepting, finish in-flight requests, close pools.
 */
export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const pool = createPool(config.database.url, config.database.pool_size, 'model-router-api');
  const redis = createRedis(config.redis.url, { connectionName: 'api', failFast: true });
  const subscriber = createRedis(config.redis.url, { connectionName: 'api-subscriber' });
  const closeClients = async (): Promise<void> => {
    subscriber.disconnect();
    redis.disconnect();
    await pool.end();
  };
  try {
    await prepareDatabase(config, pool, logger);
    const snapshots = new SnapshotStore(new ModelRepository(pool), logger);
    await snapshots.refresh();
    const refreshOnChange = () =>
      snapshots.refresh().catch((error: unknown) => logger.warn('snapshot refresh failed', { err: error }));
    await subscribeConfigChanges(subscriber, config.redis.key_prefix, refreshOnChange);
    // A notice sent while we were disconnected is lost: refresh on every reconnect.
    subscriber.on('ready', refreshOnChange);
    snapshots.startTimer(config.routing.snapshot_refresh_interval);

    const { app } = createApp({ config, logger, pool, redis, snapshots, registry: createMetricsRegistry('api') });
    const server = app.listen(config.server.port, config.server.host);
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    // Keep-alive longer than typical load balancers' idle timeout, so they close first.
    server.keepAliveTimeout = 65_000;
    const { port } = server.address() as AddressInfo;
    const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
    return {
      url: `http://${host}:${port}`,
      app,
      snapshots,
      redis,
      stop: async () => {
        snapshots.stop();
        await closeServer(server, config.server.shutdown_timeout);
        await closeClients();
      },
    };
  } catch (error) {
    await closeClients().catch(() => undefined);
    throw error;
  }
}
