import { setTimeout as sleep } from 'node:timers/promises';
import {
  acquireTrial,
  applyOutcomes,
  type CircuitBreakerState,
  type CircuitPolicy,
  currentState,
  describeCircuit,
  type HealthPolicy,
  normalizeOutcomes,
  type OutcomeSummary,
} from '@model-router/domain';
import type { RedisClient as Redis } from '@model-router/redis';
import { circuitKey, decodeCircuit, encodeCircuit, runtimeChannel, sameEncoding } from './circuit.codec.js';
import { loadRuntime, type ModelCircuitRuntime, resolvePolicies, type RuntimeChange } from './runtime.js';

export interface CircuitStoreOptions {
  /** Deployment key prefix (config `redis.key_prefix`). */
  keyPrefix: string;
  /** The config's `circuit_breaker` section; the domain defaults otherwise. */
  policy?: Partial<CircuitPolicy>;
  health?: Partial<HealthPolicy>;
  /** Dedicated connections for WATCH transactions (a WATCH belongs to a connection). Default 4. */
  connections?: number;
  /** Tries of a transaction that keeps losing to concurrent writers before it fails. Default 100. */
  maxAttempts?: number;
  /** An entry untouched this long expires (bounded memory for models that went away). Default 24 h. */
  ttlMs?: number;
}

export class CircuitContentionError extends Error {
  override name = 'CircuitContentionError';
}

interface Decision<T> {
  result: T;
  /** The state after the decision, as of `now`. */
  next: CircuitBreakerState;
  /** Whether `next` must be written even if the announcement did not change. */
  write: boolean;
}

/** A few connections, each used by one transaction at a time. */
class ConnectionPool {
  private readonly idle: Redis[] = [];
  private readonly all: Redis[] = [];
  private readonly waiting: Array<(conn: Redis) => void> = [];

  constructor(
    private readonly base: Redis,
    private readonly size: number,
  ) {}

  async use<T>(task: (conn: Redis) => Promise<T>): Promise<T> {
    const conn = await this.acquire();
    try {
      return await task(conn);
    } finally {
      this.release(conn);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private acquire(): Promise<Redis> {
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn);
    if (this.all.length < this.size) {
      const created = this.base.duplicate();
      this.all.push(created);
      return Promise.resolve(created);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(conn: Redis): void {
    const next = this.waiting.shift();
    if (next) next(conn);
    else this.idle.push(conn);
  }
}

/**
 * The circuit breakers of every model, in Redis, shared by every replica and every worker. Each
 * change is one optimistic transaction: WATCH the model's hash, read it, let the domain's state
 * machine decide, then MULTI/EXEC the new state (and the change notice); EXEC fails when another
 * process wrote in between, and the whole step runs again on fresh state. All decision logic is
 * the domain's; this class only makes it atomic across processes.
 */
export class CircuitStore {
  private readonly policy: CircuitPolicy;
  private readonly health: HealthPolicy;
  private readonly pool: ConnectionPool;
  private readonly maxAttempts: number;
  private readonly ttlMs: number;
  /** Updates of one model from this process run one after another, so they never conflict with each other. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly redis: Redis,
    private readonly options: CircuitStoreOptions,
  ) {
    ({ policy: this.policy, health: this.health } = resolvePolicies(options));
    this.pool = new ConnectionPool(redis, options.connections ?? 4);
    this.maxAttempts = options.maxAttempts ?? 100;
    this.ttlMs = options.ttlMs ?? 86_400_000;
  }

  /** Applies a summary of call outcomes (probes or reported metrics) to a model's circuit. */
  async recordOutcomes(modelId: string, summary: OutcomeSummary, now = Date.now()): Promise<ModelCircuitRuntime> {
    normalizeOutcomes(summary); // a bad summary fails here, before any Redis work
    const { view } = await this.transact(modelId, now, (state) => ({
      result: undefined,
      next: applyOutcomes(state, summary, now, this.policy),
      write: summary.successes + summary.failures > 0,
    }));
    return view;
  }

  /**
   * Asks to send one request to the model: true when closed, false when open, and in half-open
   * true for at most `half_open_max_trials` callers across every replica per round.
   */
  async tryAcquireTrial(modelId: string, now = Date.now()): Promise<boolean> {
    const { result } = await this.transact(modelId, now, (state) => {
      const decision = acquireTrial(state, now, this.policy);
      return { result: decision.granted, next: decision.state, write: decision.granted && decision.trial };
    });
    return result;
  }

  /**
   * Makes the lazy transitions of these models real (an open circuit past its cooldown becomes
   * half-open; a health that time changed) and announces them; changes nothing else.
   */
  async refresh(modelIds: readonly string[], now = Date.now()): Promise<Map<string, ModelCircuitRuntime>> {
    const views = await Promise.all(
      modelIds.map(async (id) => {
        const { view } = await this.transact(id, now, (state) => ({
          result: undefined,
          next: currentState(state, now, this.policy),
          write: false,
        }));
        return [id, view] as const;
      }),
    );
    return new Map(views);
  }

  /** Closes a model's circuit and forgets its window (an operator's override). */
  async reset(modelId: string, now = Date.now()): Promise<void> {
    const key = circuitKey(this.options.keyPrefix, modelId);
    const notice: RuntimeChange = { model_id: modelId, circuit: 'closed', health: 'unknown', retry_at: null, at: now };
    await this.serialize(key, () =>
      this.redis.multi().del(key).publish(runtimeChannel(this.options.keyPrefix), JSON.stringify(notice)).exec(),
    );
  }

  /** The circuits of `modelIds` as of `now` (one round trip). */
  getRuntime(modelIds: readonly string[], now = Date.now()): Promise<Map<string, ModelCircuitRuntime>> {
    return loadRuntime(this.redis, this.options.keyPrefix, modelIds, { policy: this.policy, health: this.health, now });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.chains.values()]);
    await this.pool.close();
  }

  private serialize<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  private transact<T>(
    modelId: string,
    now: number,
    decide: (state: CircuitBreakerState) => Decision<T>,
  ): Promise<{ result: T; view: ModelCircuitRuntime }> {
    const key = circuitKey(this.options.keyPrefix, modelId);
    return this.serialize(key, () =>
      this.pool.use(async (conn) => {
        try {
          return await this.watchDecideWrite(conn, key, modelId, now, decide);
        } catch (error) {
          // Never leave a WATCH behind on a pooled connection: it would abort someone else's EXEC.
          await conn.unwatch().catch(() => undefined);
          throw error;
        }
      }),
    );
  }

  /** WATCH, read, decide, MULTI/EXEC; again on fresh state while another process wins the race. */
  private async watchDecideWrite<T>(
    conn: Redis,
    key: string,
    modelId: string,
    now: number,
    decide: (state: CircuitBreakerState) => Decision<T>,
  ): Promise<{ result: T; view: ModelCircuitRuntime }> {
    const prefix = this.options.keyPrefix;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      await conn.watch(key);
      const raw = await conn.hgetall(key);
      const stored = decodeCircuit(raw);
      const { result, next, write } = decide(stored.state);
      const view: ModelCircuitRuntime = { model_id: modelId, ...describeCircuit(next, now, this.policy, this.health) };
      const announce =
        view.circuit !== stored.announced.circuit ||
        view.health !== stored.announced.health ||
        view.retry_at !== stored.announced.retry_at;
      const encoded = encodeCircuit(next, view.health);
      if (!announce && (!write || sameEncoding(encoded, raw))) {
        await conn.unwatch();
        return { result, view };
      }
      const tx = conn
        .multi()
        .hset(key, { ...encoded, updated_at: String(now) })
        .pexpire(key, this.ttlMs);
      if (announce) {
        const notice: RuntimeChange = {
          model_id: modelId,
          circuit: view.circuit,
          health: view.health,
          retry_at: view.retry_at,
          at: now,
        };
        tx.publish(runtimeChannel(prefix), JSON.stringify(notice));
      }
      const replies = await tx.exec();
      if (replies !== null) {
        const failed = replies.find(([error]) => error);
        if (failed) throw failed[0];
        return { result, view };
      }
      // Another process wrote first: back off a little (more after each loss) and decide again.
      await sleep(Math.random() * Math.min(2 ** attempt, 50));
    }
    throw new CircuitContentionError(`circuit of "${modelId}": gave up after ${this.maxAttempts} conflicting writes`);
  }
}
