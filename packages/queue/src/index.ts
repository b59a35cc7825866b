export * from './events.js';
export * from './catalog.js';
export { EventPublisher, type PublishOptions, type PublisherOptions } from './publisher.js';
export {
  checkHandlers,
  type EventHandler,
  handler,
  PermanentEventError,
  HandlerRegistrationError,
  type JobContext,
  type RunningWorkers,
  startWorkers,
  type WorkerRunnerOptions,
} from './worker.js';
export { JOB_STATES, JobMetrics, type JobOutcome, registerQueueDepthGauge } from './queue-metrics.js';
export { traceparentSchema } from './tracing.js';
export { type DeadLetter, deadLetterCounter, type DeadLetterSink, type RefusedEvent } from './dead-letters.js';
export { commitSplittingRefused, type SplitOutcome } from './batch-splitter.js';
