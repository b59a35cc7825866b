import type { AddressInfo } from 'node:net';
import { allowPrivateEndpoints, assertStartableConfig, type Config, isProductionMode } from '@model-router/config';
import { AbTestRepository, BudgetRepository, createPool, KeyRepository, ModelRepository, ModelStatsReader } from '@model-router/database';
import { closeServer, createMetricsRegistry } from '@model-router/http';
import type { Logger } from '@model-router/logger';
import { loadTokenizer } from '@model-router/domain';
import { EventPublisher, type JobBoss, startBoss, subscribeConfigChanges } from '@model-router/queue';
import { BudgetReservations, subscribeBudgetSpend } from '@model-router/budgets';
import { checkRedisDurability, createRedis, type RedisClient as Redis } from '@model-router/redis';
import type { Express } from 'express';
import { createApp } from './app.js';
import { prepareDatabase } from './bootstrap.js';
import { BudgetTracker } from './state/budget-tracker.js';
import { ConfigChanges } from './events/config-changes.js';
import { OutcomeReporter } from './events/outcome-reporter.js';
import { KeyUsageRecorder } from './keys/key-usage.js';
import { RateLimitTracker } from './state/rate-limit-tracker.js';
import { UpstreamClient } from './gateway/upstream-client.js';
import { RuntimeTracker } from './state/runtime-tracker.js';
import { SnapshotStore } from './state/snapshot-store.js';

/** How often an API replica writes which keys were used (their last_used_at is at most this late). */
const KEY_USAGE_FLUSH_MS = 5_000;

export interface RunningApi {
  url: string;
  app: Express;
  snapshots: SnapshotStore;
  redis: Redis;
  publisher: EventPublisher;
  stop: () => Promise<void>;
}

/**
 * Starts one API replica: database ready, snapshot loaded, change notices subscribed, then
 * listening. `stop` closes in reverse order: stop accepting, finish in-flight requests, flush what
 * was accepted to Redis, close pools.
 */
export interface StartApiOptions {
  /** The wall clock of budget periods (tests inject one to cross a time zone's midnight). */
  clock?: () => number;
}

export async function startApi(config: Config, logger: Logger, options: StartApiOptions = {}): Promise<RunningApi> {
  const clock = options.clock ?? Date.now;
  // Production mode's refusals come before anything is connected or listening.
  assertStartableConfig(config);
  const pool = createPool(config.database.url, config.database.pool_size, 'model-router-api', (error) =>
    logger.warn('idle Postgres connection lost', { err: error.message }),
  );
  // Fail fast: a request that needs Redis answers 503 at once rather than hanging while it is away.
  const redis = createRedis(config.redis, { connectionName: 'api', failFast: true });
  const subscriber = createRedis(config.redis, { connectionName: 'api-subscriber' });
  let boss: JobBoss | null = null;
  let publisher: EventPublisher | null = null;
  let outcomes: OutcomeReporter | null = null;
  let snapshots: SnapshotStore | null = null;
  let tracker: RuntimeTracker | null = null;
  let keyUsage: KeyUsageRecorder | null = null;
  let rateLimits: RateLimitTracker | null = null;
  const upstream = new UpstreamClient({
    policy: { allowPrivateEndpoints: allowPrivateEndpoints(config) },
    connectTimeoutMs: config.gateway.connect_timeout,
    firstByteTimeoutMs: config.gateway.first_byte_timeout,
    connectionsPerOrigin: config.gateway.connections_per_origin,
  });
  const closeClients = async (): Promise<void> => {
    snapshots?.stop();
    await keyUsage?.stop();
    await tracker?.stop();
    await rateLimits?.stop();
    await upstream.close().catch(() => undefined);
    await outcomes?.stop();
    await publisher?.close();
    await boss?.stop({ graceful: true, timeout: 5000 }).catch(() => undefined);
    subscriber.disconnect();
    redis.disconnect();
    await pool.end();
  };
  try {
    // A 202 promises the events are in Redis: say at start whether Redis keeps them across a restart.
    // Asked on the subscriber (before it subscribes): it waits for Redis, the fail-fast client does not.
    await checkRedisDurability(subscriber, { production: isProductionMode(config), allowVolatile: config.redis.allow_volatile, log: logger });
    await prepareDatabase(config, pool, logger);
    boss = await startBoss(config.database.url, { config, onError: (error) => logger.warn('pg-boss error', { err: error }) });
    snapshots = new SnapshotStore(new ModelRepository(pool), new AbTestRepository(pool), new KeyRepository(pool), logger);
    const budgets = new BudgetTracker(new BudgetRepository(pool), clock, logger);
    const budgetSnapshots = snapshots;
    budgets.onBlockedChange((blocked) => budgetSnapshots.setBudgetBlocked(blocked));
    snapshots.useBudgets(budgets);
    await snapshots.refresh();
    const store = snapshots;
    const refreshOnChange = () =>
      store.refresh().catch((error: unknown) => logger.warn('snapshot refresh failed', { err: error }));
    await subscribeConfigChanges(subscriber, config.redis.key_prefix, refreshOnChange);
    // Spend the budget enforcer committed: every replica applies a crossed limit within milliseconds.
    await subscribeBudgetSpend(subscriber, config.redis.key_prefix, (spend) => budgets.applySpend(spend));
    // A notice sent while we were disconnected is lost: refresh on every reconnect.
    subscriber.on('ready', refreshOnChange);
    snapshots.startTimer(config.routing.snapshot_refresh_interval);
    tracker = new RuntimeTracker(redis, subscriber, snapshots, new ModelStatsReader(pool), {
      keyPrefix: config.redis.key_prefix,
      policy: config.circuit_breaker,
      statsWindowMs: config.routing.stats_window,
      statsRefreshMs: config.routing.stats_refresh_interval,
    }, logger);
    await tracker.start();
    rateLimits = new RateLimitTracker(redis, subscriber, snapshots, config.redis.key_prefix, logger);
    await rateLimits.start();

    publisher = new EventPublisher(redis, { keyPrefix: config.redis.key_prefix });
    outcomes = new OutcomeReporter(publisher, logger);
    const changes = new ConfigChanges(pool, boss, redis, config.redis.key_prefix, snapshots, logger);
    const registry = createMetricsRegistry('api');
    const gateway = { client: upstream, rateLimits, reservations: new BudgetReservations(redis, config.redis.key_prefix), env: process.env };
    keyUsage = new KeyUsageRecorder(new KeyRepository(pool), clock, logger);
    keyUsage.start(KEY_USAGE_FLUSH_MS);
    const { app } = createApp({ config, logger, pool, redis, snapshots, registry, publisher, outcomes, changes, circuits: tracker.store, budgets, clock, gateway, keyUsage });

    // The tokenizer's vocabulary is built before the first request could need it (see loadTokenizer).
    loadTokenizer();
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
      publisher,
      stop: async () => {
        await closeServer(server, config.server.shutdown_timeout);
        await closeClients();
      },
    };
  } catch (error) {
    await closeClients().catch(() => undefined);
    throw error;
  }
}
