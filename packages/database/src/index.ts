export { createPool, ensureDatabase, type Pool, type PoolClient, withTransaction } from './pool.js';
export { MIGRATIONS_DIR, migrate, type MigrateOptions } from './migrate.js';
export { DuplicateModelError, ModelRepository, type Queryable, type StoredModel } from './model.repository.js';
export { defaultCatalog } from './default-catalog.js';
export { BOSS_QUEUES, BOSS_SCHEMA, type BossOptions, createAlertQueue, inTransaction, startBoss } from './boss.js';
export {
  type AbTestUserLevelSums,
  type AbTestVariantRollup,
  type CompactResult,
  estimateLatencyQuantile,
  EventRepository,
  type Granularity,
  LATENCY_BUCKET_BOUNDS_MS,
  LATENCY_BUCKET_COUNT,
  latencyBucketIndex,
  type MetricEventRecord,
  type MetricTotals,
  type ModelRollupRow,
  type PersistResult,
  type PruneResult,
  type RouteEventRecord,
  type RouteTotals,
} from './event.repository.js';
export {
  type AbTestAnalysisSettings,
  type AbTestBanditSettings,
  type AbTestFilter,
  AbTestRepository,
  DEFAULT_ANALYSIS_SETTINGS,
  DuplicateAbTestError,
  type NewAbTest,
  type StoredAbTest,
} from './abtest.repository.js';
export { type AbTestResults, type AbTestResultsOptions, AbTestResultsReader, type VariantResult } from './abtest-results.reader.js';
export { type BudgetAlertRecord, type BudgetInput, BudgetRepository, DuplicateBudgetError, ledgerIdentity, type SpendTotal, spendKey, type StoredBudget } from './budget.repository.js';
export { type KeyCredential, type KeyFields, KeyRepository, type StoredKey } from './key.repository.js';
export { USAGE_GROUPS, type UsageGroup, UsageRepository, type UsageRow, usageSegments } from './usage.repository.js';
export { type DeadLetterInput, DeadLetterRepository, type DeadLetterSummary, type StoredDeadLetter } from './dead-letter.repository.js';
export { describeDataError, isPermanentDataError } from './permanent-error.js';
