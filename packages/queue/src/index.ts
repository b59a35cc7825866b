export * from './events.js';
export * from './catalog.js';
export { EventPublisher, type PublishOptions, type PublisherOptions } from './publisher.js';
export {
  checkHandlers,
  type EventHandler,
  handler,
  PermanentEventError,
  type JobContext,
  type RunningWorkers,
  startWorkers,
  type WorkerRunnerOptions,
} from './worker.js';
export { JOB_STATES, JobMetrics, type JobOutcome, registerQueueDepthGauge } from './queue-metrics.js';
export { traceparentSchema } from './tracing.js';
export { type DeadLetter, deadLetterCounter, type DeadLetterSink, type RefusedEvent } from './dead-letters.js';
export { commitSplittingRefused, type SplitOutcome } from './batch-splitter.js';
export { HandlerRegistrationError } from './handler-check.js';
export { upsertEventSchedules } from './schedules.js';
export * from './boss-catalog.js';
export { BOSS_SCHEMA, type BossOptions, type JobBoss, sendJob, startBoss, type TransactionClient } from './boss.js';
export { type BossJobHandler, bossHandler, checkBossHandlers, startBossWorkers } from './boss-workers.js';
export { type ConfigChange, publishConfigChange, sendConfigChange, subscribeConfigChanges } from './config-changes.js';
