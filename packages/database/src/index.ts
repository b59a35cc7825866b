export { createPool, ensureDatabase, type Pool, type PoolClient, withTransaction } from './pool.js';
export { MIGRATIONS_DIR, migrate, type MigrateOptions } from './migrate.js';
export { DuplicateModelError, ModelRepository, type Queryable, type StoredModel } from './model.repository.js';
export { defaultCatalog } from './default-catalog.js';
export { BOSS_QUEUES, BOSS_SCHEMA, type BossOptions, inTransaction, startBoss } from './boss.js';
