import type { AbTestRepository, KeyCredential, KeyRepository, ModelRepository, StoredAbTest } from '@model-router/database';
import type { CircuitState, HealthState, Model, ModelRuntime, ModelStats, RoutingSnapshot } from '@model-router/domain';
import type { Logger } from '@model-router/logger';

/**
 * Budgets as the snapshot needs them: reloaded with it, for its models (budget-tracker.ts, which
 * also writes the snapshot's `budget_blocked` through `setBudgetBlocked`).
 */
export interface BudgetSource {
  reload(models: readonly Model[]): Promise<void>;
}

/** The routing snapshot plus the lookups the API needs next to it. */
export interface ApiSnapshot extends RoutingSnapshot {
  modelsById: ReadonlyMap<string, Model>;
  /** Running A/B tests by id, and in the order routing looks for one that applies (oldest first). */
  runningTests: ReadonlyMap<string, StoredAbTest>;
  runningTestList: readonly StoredAbTest[];
  /** What opens each API key, by the base64 SHA-256 of the secret (services/api/src/keys/key-auth.ts). */
  credentials: ReadonlyMap<string, KeyCredential>;
}

/**
 * Holds the routing snapshot the hot path reads. `current` is a plain field read: no I/O ever
 * happens on a routing decision. `refresh()` rebuilds the snapshot from Postgres; calls that
 * arrive while a refresh runs coalesce into one more refresh after it, so a burst of change
 * notices costs at most two reloads and the last change is always seen.
 */
export class SnapshotStore {
  private snapshot: ApiSnapshot = {
    models: [],
    modelsById: new Map(),
    runningTests: new Map(),
    runningTestList: [],
    credentials: new Map(),
    runtime: new Map<string, ModelRuntime>(),
    budget_blocked: new Map<string, string>(),
    rate_limited: new Map<string, number>(),
    version: 0,
  };
  /** Live state kept apart from the models so either can change without reloading the other. */
  private circuits = new Map<string, { health: HealthState; circuit: CircuitState }>();
  private stats = new Map<string, ModelStats>();
  /** Budgets, reloaded with every refresh; null until the API wires them (services/api/src/budgets). */
  private budgets: BudgetSource | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly models: ModelRepository,
    private readonly abtests: AbTestRepository,
    private readonly keys: KeyRepository,
    private readonly logger: Logger,
  ) {}

  get current(): ApiSnapshot {
    return this.snapshot;
  }

  /** Applies circuit/health updates (from Redis) to the snapshot the hot path reads. */
  setCircuits(updates: Iterable<[string, { health: HealthState; circuit: CircuitState }]>): void {
    for (const [id, state] of updates) this.circuits.set(id, state);
    this.publishRuntime();
  }

  /** Replaces the observed stats (from the rollups). */
  setStats(stats: Map<string, ModelStats>): void {
    this.stats = stats;
    this.publishRuntime();
  }

  /** Reloads `source` with every refresh, after the models and before the new snapshot is published. */
  useBudgets(source: BudgetSource): void {
    this.budgets = source;
  }

  /** Replaces the models every request loses to a budget (written by the budget tracker alone). */
  setBudgetBlocked(blocked: ReadonlyMap<string, string>): void {
    if (blocked === this.snapshot.budget_blocked) return;
    this.snapshot = { ...this.snapshot, budget_blocked: blocked, version: this.snapshot.version + 1 };
  }

  /** Replaces the models a provider's rate limit keeps out (see rate-limit-tracker.ts). */
  setRateLimited(limited: ReadonlyMap<string, number>): void {
    this.snapshot = { ...this.snapshot, rate_limited: limited, version: this.snapshot.version + 1 };
  }

  /** A new snapshot object with the combined runtime: readers keep a consistent view of the old one. */
  private publishRuntime(): void {
    const runtime = new Map<string, ModelRuntime>();
    for (const id of new Set([...this.circuits.keys(), ...this.stats.keys()])) {
      const c = this.circuits.get(id);
      runtime.set(id, { health: c?.health ?? 'unknown', circuit: c?.circuit ?? 'closed', stats: this.stats.get(id) ?? null });
    }
    this.snapshot = { ...this.snapshot, runtime, version: this.snapshot.version + 1 };
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
    const [stored, runningTestList, credentials] = await Promise.all([this.models.list(), this.abtests.listRunning(), this.keys.listForAuth()]);
    const models = stored.map(({ created_at: _c, updated_at: _u, ...model }): Model => model);
    // The tracker writes `budget_blocked` for these models while it reloads: read it after.
    if (this.budgets) await this.budgets.reload(models);
    this.snapshot = {
      models,
      modelsById: new Map(models.map((m) => [m.id, m])),
      runningTests: new Map(runningTestList.map((t) => [t.id, t])),
      runningTestList,
      credentials: new Map(credentials.map((c) => [c.sha256.toString('base64'), c])),
      runtime: this.snapshot.runtime,
      budget_blocked: this.snapshot.budget_blocked,
      rate_limited: this.snapshot.rate_limited,
      version: this.snapshot.version + 1,
    };
  }
}
