import type { ModelRepository } from '@model-router/database';
import type { ModelRuntime, RoutingSnapshot } from '@model-router/domain';
import type { Logger } from '@model-router/logger';

/**
 * Holds the routing snapshot the hot path reads. `current` is a plain field read: no I/O ever
 * happens on a routing decision. `refresh()` rebuilds the snapshot from Postgres; calls that
 * arrive while a refresh runs coalesce into one more refresh after it, so a burst of change
 * notices costs at most two reloads and the last change is always seen.
 */
export class SnapshotStore {
  private snapshot: RoutingSnapshot = {
    models: [],
    runtime: new Map<string, ModelRuntime>(),
    budget_blocked: new Map<string, string>(),
    version: 0,
  };
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly models: ModelRepository,
    private readonly logger: Logger,
  ) {}

  get current(): RoutingSnapshot {
    return this.snapshot;
  }

  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.load();
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Also refreshes every `intervalMs`, the safety net for a missed change notice. */
  startTimer(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.logger.warn('snapshot refresh failed', { err: error }));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async load(): Promise<void> {
    const models = await this.models.list();
    this.snapshot = {
      models: models.map(({ created_at: _c, updated_at: _u, ...model }) => model),
      runtime: this.snapshot.runtime,
      budget_blocked: this.snapshot.budget_blocked,
      version: this.snapshot.version + 1,
    };
  }
}
