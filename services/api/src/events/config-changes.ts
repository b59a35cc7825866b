import { type Pool, type PoolClient, withTransaction } from '@model-router/database';
import type { Logger } from '@model-router/logger';
import { type ConfigChange, type JobBoss, sendConfigChange } from '@model-router/queue';
import { publishConfigChange, type RedisClient as Redis } from '@model-router/redis';
import type { SnapshotStore } from '../routing/snapshot-store.js';

/**
 * Commits a change of a model, A/B test or budget together with the job that announces it (a
 * pg-boss job in the same transaction: the outbox), so no committed change is ever left
 * unannounced, even if Redis is down at that moment. The cache-invalidator relays the job to the
 * `config.changed` queue. As a fast path this replica also refreshes its own snapshot and tells the
 * others over pub/sub right after the commit.
 */
export class ConfigChanges {
  constructor(
    private readonly pool: Pool,
    private readonly boss: JobBoss,
    private readonly redis: Redis,
    private readonly snapshots: SnapshotStore,
    private readonly keyPrefix: string,
    private readonly logger: Logger,
  ) {}

  async commit<T>(change: ConfigChange, write: (client: PoolClient) => Promise<T>): Promise<T> {
    const result = await withTransaction(this.pool, async (client) => {
      const value = await write(client);
      await sendConfigChange(this.boss, client, change);
      return value;
    });
    await this.announce(change);
    return result;
  }

  private async announce(change: ConfigChange): Promise<void> {
    // This replica sees its own write before answering; the others hear it on the channel.
    await this.snapshots.refresh().catch((error: unknown) => this.logger.warn('snapshot refresh failed', { err: error }));
    try {
      await publishConfigChange(this.redis, this.keyPrefix, {
        entity: change.entity,
        id: change.entity_id,
        action: change.action,
      });
    } catch (error) {
      // Committed and in the outbox: the cache-invalidator announces it once Redis is back.
      this.logger.warn('fast config-change notice failed; the outbox will deliver it', { err: error, ...change });
    }
  }
}
