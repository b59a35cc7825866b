import { randomUUID } from 'node:crypto';
import type { Logger } from '@model-router/logger';
import type { EventPublisher, ModelOutcomesEvent } from '@model-router/queue';

interface Window {
  successes: number;
  failures: number;
  trailing_failures: number;
  latency_ms_sum: number;
}

/**
 * Summarises reported call outcomes per model and publishes one `model.outcomes` event per model
 * every `intervalMs`, so passive health and circuit breakers follow the metrics without a Redis
 * write per call.
 */
export class OutcomeReporter {
  private windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
    intervalMs = 250,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  record(modelId: string, success: boolean, latencyMs: number): void {
    let w = this.windows.get(modelId);
    if (!w) {
      w = { successes: 0, failures: 0, trailing_failures: 0, latency_ms_sum: 0 };
      this.windows.set(modelId, w);
    }
    if (success) {
      w.successes++;
      w.trailing_failures = 0;
    } else {
      w.failures++;
      w.trailing_failures++;
    }
    w.latency_ms_sum += latencyMs;
  }

  async flush(): Promise<void> {
    if (this.windows.size === 0) return;
    const windows = this.windows;
    this.windows = new Map();
    const now = new Date().toISOString();
    const events: ModelOutcomesEvent[] = [...windows].map(([model_id, w]) => ({
      event_id: randomUUID(),
      occurred_at: now,
      source: 'metrics',
      model_id,
      ...w,
    }));
    try {
      await this.publisher.publishMany('model.outcomes', events);
    } catch (error) {
      // Health is a live signal: a summary that cannot be sent now is superseded by the next one.
      this.logger.warn('could not publish model outcomes', { err: error, models: events.length });
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
