import { bossHandler, type ConfigChangedEvent, publishConfigChange, startBoss, startBossWorkers } from '@model-router/queue';
import { deleteByPattern, keys } from '@model-router/redis';
import type { ServiceContext, StartedService } from '@model-router/service-runtime';
import { Counter } from 'prom-client';

/**
 * Wires the cache-invalidator, the one relay of config changes: a pg-boss worker takes the
 * `config.changed` facts committed with each change (the outbox), drops the caches each concerns
 * and publishes the fact on the config channel, which every API replica refreshes its snapshot on.
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
    help: 'Outbox jobs relayed from Postgres (pg-boss) to the API replicas (Redis pub/sub).',
    registers: [registry],
  });

  const apply = async (event: ConfigChangedEvent): Promise<void> => {
    if (event.entity === 'abtest' && (event.action === 'completed' || event.action === 'deleted')) {
      // A finished test's sticky assignments must not outlive it.
      const dropped = await deleteByPattern(redis, k.abtestPattern(event.entity_id));
      logger.info('dropped A/B test caches', { ab_test_id: event.entity_id, keys: dropped });
    }
    await publishConfigChange(redis, prefix, event);
    handled.inc({ entity: event.entity, action: event.action });
  };

  const boss = await startBoss(config.database.url, { config, onError: (error) => logger.error('pg-boss error', { err: error }) });
  try {
    await startBossWorkers(
      boss,
      'cache-invalidator',
      [
        bossHandler({
          name: 'config.changed',
          // If Redis is away this throws and pg-boss retries with backoff: the change waits in Postgres.
          handle: async (events) => {
            for (const event of events) await apply(event);
            relayed.inc(events.length);
          },
        }),
      ],
      { config, registry },
    );
  } catch (error) {
    await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    throw error;
  }

  return {
    async stop(deadlineMs) {
      await boss.stop({ graceful: true, timeout: deadlineMs });
    },
  };
}
