import { type Pool, type PoolClient, withTransaction } from '@model-router/database';
import type { Logger } from '@model-router/logger';
import { type ConfigChange, type JobBoss, publishConfigChange, sendConfigChange } from '@model-router/queue';
import type { RedisClient as Redis } from '@model-router/redis';
import type { SnapshotStore } from '../state/snapshot-store.js';

/**
 * Commits a change of a model, A/B test, budget or API key together with the `config.changed` fact
 * that announces it (the outbox: a pg-boss job in the same transaction), so no committed change is
 * ever left unannounced, even if Redis is down at that moment. The cache-invalidator relays the
 * fact to every replica (packages/queue/src/config-changes.ts): that is the guarantee. This replica
 * refreshes its own snapshot right after the commit, so it answers with its own write, and
 * publishes the same fact once itself, best effort, so the other replicas see a change (a revoked
 * key above all) within milliseconds whether or not the invalidator is up; the relay's copy then
 * costs them one coalesced reload.
 */
export class ConfigChanges {
  constructor(
    private readonly pool: Pool,
    private readonly boss: JobBoss,
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly snapshots: SnapshotStore,
    private readonly logger: Logger,
  ) {}

  async commit<T>(change: ConfigChange, write: (client: PoolClient) => Promise<T>): Promise<T> {
    const { value, event } = await withTransaction(this.pool, async (client) => {
      const written = await write(client);
      return { value: written, event: await sendConfigChange(this.boss, client, change) };
    });
    await this.snapshots.refresh().catch((error: unknown) => this.logger.warn('snapshot refresh failed', { err: error }));
    await publishConfigChange(this.redis, this.keyPrefix, event).catch((error: unknown) =>
      // Committed and in the outbox: the cache-invalidator's relay still announces it.
      this.logger.warn('fast config-change notice failed; the outbox relay will deliver it', { err: error, ...change }),
    );
    return value;
  }
}
