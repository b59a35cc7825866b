import { bossHandler, type ConfigChangedEvent, EventPublisher, handler, startBoss, startBossWorkers, startWorkers } from '@model-router/queue';
import { deleteByPattern, keys, publishConfigChange } from '@model-router/redis';
import type { ServiceContext, StartedService } from '@model-router/service-runtime';
import { Counter } from 'prom-client';

/**
 * Wires the cache-invalidator: (1) a pg-boss worker relays outbox jobs (committed with each change)
 * to the `config.changed` queue; (2) a BullMQ worker handles `config.changed`: drops the caches the
 * change concerns and publishes the notice every API replica refreshes its snapshot on.
 */
export async function setupCacheInvalidator(ctx: ServiceContext): Promise<StartedService> {
  const { config, logger, redis, registry } = ctx;
  const prefix = config.redis.key_prefix;
  const k = keys(prefix);
  const handled = new Counter({
    name: 'model_router_config_changes_total',
    help: 'Config changes handled by the cache invalidator, by entity and action.',
    labelNames: ['entity', 'action'],
    registers: [registry],
  });
  const relayed = new Counter({
    name: 'model_router_outbox_relayed_total',
    help: 'Outbox jobs relayed from Postgres (pg-boss) to the config.changed queue.',
    registers: [registry],
  });

  const publisher = new EventPublisher(redis, { keyPrefix: prefix });

  const apply = async (event: ConfigChangedEvent): Promise<void> => {
    if (event.entity === 'abtest' && (event.action === 'completed' || event.action === 'deleted')) {
      // A finished test's config and sticky assignments must not outlive it.
      const dropped = await deleteByPattern(redis, k.abtestPattern(event.entity_id));
      logger.info('dropped A/B test caches', { ab_test_id: event.entity_id, keys: dropped });
    } else if (event.entity === 'abtest') {
      await redis.unlink(k.abtestConfig(event.entity_id));
    }
    await publishConfigChange(redis, prefix, { entity: event.entity, id: event.entity_id, action: event.action });
    handled.inc({ entity: event.entity, action: event.action });
  };

  const workers = startWorkers(
    'cache-invalidator',
    [
      handler({
        name: 'config.changed',
        handle: async (events) => {
          for (const event of events) await apply(event);
        },
      }),
    ],
    redis,
    {
      keyPrefix: prefix,
      concurrency: 1,
      onFailed: (name, jobId, reason) => logger.warn('job failed', { event: name, job_id: jobId, reason }),
      onError: (error) => logger.error('worker error', { err: error }),
      registry,
    },
  );

  const boss = await startBoss(config.database.url, { config, onError: (error) => logger.error('pg-boss error', { err: error }) });
  await startBossWorkers(boss, 'cache-invalidator', [
    bossHandler({
      name: 'config.outbox',
      handle: async (events) => {
        // If Redis is away this throws and pg-boss retries with backoff: the change waits in Postgres.
        await publisher.publishMany('config.changed', events);
        relayed.inc(events.length);
      },
    }),
  ]);

  return {
    async stop(deadlineMs) {
      await boss.stop({ graceful: true, timeout: deadlineMs });
      await workers.close(deadlineMs);
      await publisher.close();
    },
  };
}
