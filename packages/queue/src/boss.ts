import type { Config } from '@model-router/config';
import { PgBoss } from 'pg-boss';
import { BOSS_JOB_CATALOG, BOSS_JOB_NAMES, type BossJobDefinition, type BossJobName, type BossPayloadOf, bossJobSettings } from './boss-catalog.js';

/** A started pg-boss: made by `startBoss`, used through the functions of this package. */
export type JobBoss = PgBoss;

/** Every service's pg-boss shares this schema, so schedules and the outbox have one home. */
export const BOSS_SCHEMA = 'model_router_boss';

export interface BossOptions {
  /** Run maintenance and cron scheduling in this instance (workers); the API only sends. */
  background?: boolean;
  /** pg-boss reports connection and maintenance errors here (from before start() resolves). */
  onError?: (error: Error) => void;
  /** The settings the config decides (alert attempts, the reconcile cron); without it, the catalog's. */
  config?: Config;
}

/** Tries of `boss.start()` before a start-up failure is final. */
const START_ATTEMPTS = 8;

/** A started pg-boss on `url` with every queue of the catalog created (any service may send to any). */
export async function startBoss(url: string, options: BossOptions = {}): Promise<JobBoss> {
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
  try {
    for (const name of BOSS_JOB_NAMES) await createCatalogQueue(boss, name, options.config);
  } catch (error) {
    await boss.stop({ graceful: false, close: true }).catch(() => undefined);
    throw error;
  }
  return boss;
}

/** Creates one catalogued queue with its retries and retention (a queue that exists is left as it is). */
async function createCatalogQueue(boss: PgBoss, name: BossJobName, config: Config | undefined): Promise<void> {
  const def: BossJobDefinition = BOSS_JOB_CATALOG[name];
  const settings = bossJobSettings(name, config);
  await boss.createQueue(def.queue, {
    ...(def.policy ? { policy: def.policy } : {}),
    ...(def.notify ? { notify: true } : {}),
    retryLimit: settings.attempts - 1,
    retryDelay: def.retry.delay,
    retryBackoff: def.retry.backoff,
    ...(def.retry.maxDelay === undefined ? {} : { retryDelayMax: def.retry.maxDelay }),
    ...(settings.expireInSeconds === undefined ? {} : { expireInSeconds: settings.expireInSeconds }),
    deleteAfterSeconds: def.retention.completed,
    retentionSeconds: def.retention.pending,
  });
}

/** A Postgres client inside a transaction (pg's PoolClient). */
export interface TransactionClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * Sends a catalogued job with a valid payload. With `transaction`, the job is written through that
 * client: it commits or rolls back with the caller's rows (the outbox).
 */
export async function sendJob<N extends BossJobName>(
  boss: JobBoss,
  name: N,
  payload: BossPayloadOf<N>,
  transaction?: TransactionClient,
): Promise<void> {
  const def: BossJobDefinition = BOSS_JOB_CATALOG[name];
  const data = def.payload.parse(payload) as object | null;
  await boss.send(def.queue, data, transaction ? { db: { executeSql: (text, values) => transaction.query(text, values) } } : undefined);
}
