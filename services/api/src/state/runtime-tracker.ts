import type { ModelStatsReader } from '@model-router/database';
import type { CircuitPolicy } from '@model-router/domain';
import { CircuitStore, loadRuntime, type RuntimeChange, subscribeRuntimeChanges } from '@model-router/health';
import type { Logger } from '@model-router/logger';
import type { RedisClient as Redis } from '@model-router/redis';
import type { SnapshotStore } from './snapshot-store.js';

export interface RuntimeTrackerOptions {
  keyPrefix: string;
  policy: CircuitPolicy;
  statsWindowMs: number;
  statsRefreshMs: number;
}

/**
 * Keeps the snapshot's live model state current without touching the hot path: circuits and health
 * from Redis (a bulk read at start and on every reconnect, then each change notice), observed
 * latency and success rate from the rollups on a timer. An open circuit turns half-open locally at
 * its retry time, so trial requests flow even before the health checker's next probe announces it.
 */
export class RuntimeTracker {
  readonly store: CircuitStore;
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private statsTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly snapshots: SnapshotStore,
    private readonly events: ModelStatsReader,
    private readonly options: RuntimeTrackerOptions,
    private readonly logger: Logger,
  ) {
    this.store = new CircuitStore(redis, { keyPrefix: options.keyPrefix, policy: options.policy });
  }

  async start(): Promise<void> {
    this.unsubscribe = await subscribeRuntimeChanges(this.subscriber, this.options.keyPrefix, (change) => this.apply(change));
    this.subscriber.on('ready', () => void this.reloadCircuits());
    await this.reloadCircuits();
    await this.reloadStats();
    this.statsTimer = setInterval(() => void this.reloadStats(), this.options.statsRefreshMs);
    this.statsTimer.unref();
  }

  async reloadCircuits(): Promise<void> {
    try {
      const ids = this.snapshots.current.models.map((m) => m.id);
      const runtime = await loadRuntime(this.redis, this.options.keyPrefix, ids, { policy: this.options.policy });
      for (const r of runtime.values()) this.apply({ model_id: r.model_id, circuit: r.circuit, health: r.health, retry_at: r.retry_at, at: Date.now() });
    } catch (error) {
      this.logger.warn('could not load circuit states', { err: error });
    }
  }

  async reloadStats(): Promise<void> {
    try {
      this.snapshots.setStats(await this.events.recentModelStats(Math.max(1, Math.round(this.options.statsWindowMs / 60_000))));
    } catch (error) {
      this.logger.warn('could not load observed model stats', { err: error });
    }
  }

  private apply(change: RuntimeChange): void {
    clearTimeout(this.retryTimers.get(change.model_id));
    this.retryTimers.delete(change.model_id);
    this.snapshots.setCircuits([[change.model_id, { circuit: change.circuit, health: change.health }]]);
    if (change.circuit === 'open' && change.retry_at !== null) {
      const timer = setTimeout(() => {
        this.retryTimers.delete(change.model_id);
        this.snapshots.setCircuits([[change.model_id, { circuit: 'half_open', health: 'degraded' }]]);
      }, Math.max(0, change.retry_at - Date.now()));
      timer.unref();
      this.retryTimers.set(change.model_id, timer);
    }
  }

  async stop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    for (const timer of this.retryTimers.values()) clearTimeout(timer);
    await this.unsubscribe?.().catch(() => undefined);
    await this.store.close();
  }
}
