export { createPool, ensureDatabase, type Pool, type PoolClient, withTransaction } from './pool.js';
export { MIGRATIONS_DIR, migrate, type MigrateOptions } from './migrate.js';
export { DuplicateEntityError, type EntityKind } from './duplicate-entity.error.js';
export { ModelRepository, type Queryable, type StoredModel } from './model.repository.js';
export { defaultCatalog } from './default-catalog.js';
export { EventIngestionRepository, type PersistResult } from './events/event-ingestion.repository.js';
export { type Granularity } from './events/rollup-aggregation.js';
export { type CompactResult, EventMaintenanceRepository, type PruneResult } from './events/event-maintenance.repository.js';
export { type MetricTotals, numberOrZero, toMetricTotals } from './events/metric-totals.js';
export { type AbTestUserLevelSums, AbTestRollupsReader, type AbTestVariantRollup } from './events/abtest-rollups.reader.js';
export { ModelStatsReader, type RecentModelStats } from './events/model-stats.reader.js';
export {
  type AbTestAnalysisSettings,
  type AbTestBanditSettings,
  type AbTestFilter,
  AbTestRepository,
  DEFAULT_ANALYSIS_SETTINGS,
  type NewAbTest,
  type StoredAbTest,
} from './abtest.repository.js';
export { type AbTestResults, type AbTestResultsOptions, AbTestResultsReader, type VariantResult } from './events/abtest-results.reader.js';
export { type BudgetAlertRecord, type BudgetInput, BudgetRepository, ledgerIdentity, type SpendTotal, spendKey, type StoredBudget } from './budget.repository.js';
export { type KeyCredential, type KeyFields, KeyRepository, type StoredKey } from './key.repository.js';
export { USAGE_GROUPS, type UsageGroup, UsageRepository, type UsageRow, usageSegments } from './usage.repository.js';
export { type DeadLetterInput, DeadLetterRepository, type DeadLetterSummary, type StoredDeadLetter } from './dead-letter.repository.js';
export { describeDataError, isPermanentDataError } from './permanent-error.js';
