import { PgBoss } from 'pg-boss';
import type pg from 'pg';

/** Every service's pg-boss shares this schema, so schedules and the outbox have one home. */
export const BOSS_SCHEMA = 'model_router_boss';

/** pg-boss queues of the system. */
export const BOSS_QUEUES = {
  /** Config changes committed with the change itself (transactional outbox), relayed to Redis. */
  configOutbox: 'config-changed-outbox',
  /**
   * Alerts POSTed to `budgets.webhook_url` (delivered by the budget-enforcer): budget thresholds
   * and tripped A/B guardrails. Any service may enqueue; each creates it with `createAlertQueue`.
   */
  alertWebhook: 'budget-enforcer.threshold-webhook',
} as const;

/** Creates the alert queue: `attempts` tries with exponential backoff (1 s, 2 s, 4 s … ≤ 5 min). */
export async function createAlertQueue(boss: PgBoss, options: { attempts: number; timeoutMs: number }): Promise<void> {
  await boss.createQueue(BOSS_QUEUES.alertWebhook, {
    retryLimit: options.attempts - 1,
    retryDelay: 1,
    retryBackoff: true,
    retryDelayMax: 300,
    expireInSeconds: Math.max(30, Math.ceil((options.timeoutMs * 2) / 1000)),
  });
}

export interface BossOptions {
  /** Run maintenance and cron scheduling in this instance (workers); the API only sends. */
  background?: boolean;
  /** pg-boss reports connection and maintenance errors here (from before start() resolves). */
  onError?: (error: Error) => void;
}

/** Tries of `boss.start()` before a start-up failure is final. */
const START_ATTEMPTS = 8;

/** A started pg-boss on `url` with the queues of BOSS_QUEUES created. */
export async function startBoss(url: string, options: BossOptions = {}): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: url,
    schema: BOSS_SCHEMA,
    max: 4,
    application_name: 'model-router-boss',
    useListenNotify: true,
    supervise: options.background ?? false,
    schedule: options.background ?? false,
  });
  boss.on('error', options.onError ?? (() => undefined));
  // On a first deployment every replica starts at once and those that do not migrate (the
  // cache-invalidator, the health-checker) may connect before a migrating one has created the
  // database (3D000): pg-boss retries such failures (1 s, 2 s, 4 s … ≤ 30 s, ~2 min in all) instead
  // of exiting. A configuration it refuses still fails at once.
  await boss.start({ attempts: START_ATTEMPTS });
  // NOTIFY wakes the relay at once instead of at its next poll: a change is announced in milliseconds.
  await boss.createQueue(BOSS_QUEUES.configOutbox, { notify: true, retryLimit: 100, retryDelay: 1, retryBackoff: true });
  return boss;
}

/** Lets pg-boss write through our transaction's client, so its job commits or rolls back with our rows. */
export function inTransaction(client: pg.PoolClient): { db: { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> } } {
  return { db: { executeSql: (text, values) => client.query(text, values as unknown[]) } };
}
