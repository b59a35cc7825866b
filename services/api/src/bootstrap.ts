import type { Config } from '@model-router/config';
import { defaultCatalog, ensureDatabase, migrate, ModelRepository, type Pool, withTransaction } from '@model-router/database';
import type { Logger } from '@model-router/logger';

/** Creates the database if needed, applies pending migrations and seeds the catalog on first start. */
export async function prepareDatabase(config: Config, pool: Pool, logger: Logger): Promise<void> {
  if (config.database.migrate_on_start) {
    await ensureDatabase(config.database.url);
    const applied = await migrate({ databaseUrl: config.database.url });
    if (applied.length) logger.info('migrations applied', { migrations: applied });
  }
  if (config.catalog.seed_on_first_start) {
    const seeded = await withTransaction(pool, (client) =>
      new ModelRepository(client).seedOnce(defaultCatalog(config.catalog.endpoint_base_url)),
    );
    if (seeded) logger.info('default model catalog seeded', { models: seeded });
  }
}
