import { type Pool, type PoolClient, withTransaction } from '@model-router/database';
import type { Logger } from '@model-router/logger';
import { type ConfigChange, type JobBoss, sendConfigChange } from '@model-router/queue';
import type { SnapshotStore } from '../routing/snapshot-store.js';

/**
 * Commits a change of a model, A/B test or budget together with the `config.changed` fact that
 * announces it (the outbox: a pg-boss job in the same transaction), so no committed change is ever
 * left unannounced, even if Redis is down at that moment. The cache-invalidator relays the fact to
 * every replica (packages/queue/src/config-changes.ts); this replica refreshes its own snapshot
 * right after the commit, so it answers with its own write.
 */
export class ConfigChanges {
  constructor(
    private readonly pool: Pool,
    private readonly boss: JobBoss,
    private readonly snapshots: SnapshotStore,
    private readonly logger: Logger,
  ) {}

  async commit<T>(change: ConfigChange, write: (client: PoolClient) => Promise<T>): Promise<T> {
    const result = await withTransaction(this.pool, async (client) => {
      const value = await write(client);
      await sendConfigChange(this.boss, client, change);
      return value;
    });
    await this.snapshots.refresh().catch((error: unknown) => this.logger.warn('snapshot refresh failed', { err: error }));
    return result;
  }
}
