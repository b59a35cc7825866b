export * from './events.js';
export * from './catalog.js';
export { EventPublisher, type PublisherOptions } from './publisher.js';
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
