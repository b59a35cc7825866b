import type pg from 'pg';
import { withTransaction } from '../pool.js';

/**
 * Partition and retention maintenance of the event tables, run on schedules by the
 * metric-aggregator: daily raw-event partitions ahead of time, retention of raw events and of the
 * ledger, compaction of minute rollups.
 */

export interface PruneResult {
  droppedPartitions: string[];
  /** Rows deleted from the DEFAULT partitions (events outside every daily partition). */
  deletedDefaultRows: number;
  deletedLedgerRows: number;
}

export interface CompactResult {
  deletedModelRollups: number;
  deletedRouteRollups: number;
  deletedKeyRollups: number;
}

// Raw rows above this age (days) of DEFAULT partitions and of the ledger are deleted in chunks of
// this many rows, so retention never holds long locks or one huge transaction.
const DELETE_CHUNK = 50_000;
// Safety default: a maintenance statement waiting behind ingestion gives up (and is retried by
// its schedule) rather than queue every insert behind its lock.
const MAINTENANCE_LOCK_TIMEOUT = '3s';

const PARTITION_NAME = /^(route_events|metric_events)_p(\d{8})$/;

export class EventMaintenanceRepository {
  constructor(private readonly pool: pg.Pool) {}

  // Maintenance (run on schedules by the metric-aggregator).

  /** Creates the daily raw-event partitions for today … today + daysAhead (UTC); returns how many were new. */
  async ensurePartitions(daysAhead: number, fromDay?: string): Promise<number> {
    const { rows } = await withTransaction(this.pool, async (client) => {
      await client.query(`SET LOCAL lock_timeout = '${MAINTENANCE_LOCK_TIMEOUT}'`);
      return fromDay === undefined
        ? client.query<{ created: number }>('SELECT model_router.ensure_event_partitions($1) AS created', [daysAhead])
        : client.query<{ created: number }>('SELECT model_router.ensure_event_partitions($1, $2::date) AS created', [daysAhead, fromDay]);
    });
    return rows[0]?.created ?? 0;
  }

  /**
   * Retention of raw events: drops every daily partition whose whole day is older than
   * `olderThanDays` (UTC days before today), deletes older rows parked in the DEFAULT partitions,
   * and forgets ledger entries processed before the same cutoff. Rollups are untouched.
   */
  async pruneRawEvents(olderThanDays: number): Promise<PruneResult> {
    if (!Number.isInteger(olderThanDays) || olderThanDays < 1) throw new RangeError(`olderThanDays must be a positive integer, got ${olderThanDays}`);
    const { rows: cut } = await this.pool.query<{ cutoff_day: string; cutoff: Date }>(
      `SELECT to_char((now() AT TIME ZONE 'UTC')::date - $1::int, 'YYYYMMDD') AS cutoff_day,
              ((now() AT TIME ZONE 'UTC')::date - $1::int)::timestamp AT TIME ZONE 'UTC' AS cutoff`,
      [olderThanDays],
    );
    const { cutoff_day: cutoffDay, cutoff } = cut[0]!;

    const { rows: partitions } = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent IN ('model_router.route_events'::regclass, 'model_router.metric_events'::regclass)`,
    );
    const droppedPartitions: string[] = [];
    for (const { name } of partitions.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const match = PARTITION_NAME.exec(name);
      // A partition holds one day; it may go when that whole day is before the cutoff day.
      if (!match || match[2]! >= cutoffDay) continue;
      await withTransaction(this.pool, async (client) => {
        await client.query(`SET LOCAL lock_timeout = '${MAINTENANCE_LOCK_TIMEOUT}'`);
        await client.query(`DROP TABLE IF EXISTS model_router.${name}`);
      });
      droppedPartitions.push(name);
    }

    let deletedDefaultRows = 0;
    for (const table of ['route_events_default', 'metric_events_default']) {
      deletedDefaultRows += await this.deleteInChunks(
        `DELETE FROM model_router.${table} WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM model_router.${table} WHERE occurred_at < $1 LIMIT ${DELETE_CHUNK}))`,
        [cutoff],
      );
    }
    const deletedLedgerRows = await this.deleteInChunks(
      `DELETE FROM model_router.processed_events WHERE ctid = ANY (ARRAY(
         SELECT ctid FROM model_router.processed_events WHERE processed_at < $1 LIMIT ${DELETE_CHUNK}))`,
      [cutoff],
    );
    return { droppedPartitions, deletedDefaultRows, deletedLedgerRows };
  }

  /** Deletes minute rollups older than `olderThanDays` days; hour rollups keep the history. */
  async compactMinuteRollups(olderThanDays: number): Promise<CompactResult> {
    if (!Number.isInteger(olderThanDays) || olderThanDays < 1) throw new RangeError(`olderThanDays must be a positive integer, got ${olderThanDays}`);
    const cutoff = `now() - make_interval(days => $1::int)`;
    const models = await this.pool.query(`DELETE FROM model_router.model_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    const routes = await this.pool.query(`DELETE FROM model_router.route_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    const keys = await this.pool.query(`DELETE FROM model_router.key_rollups WHERE granularity = 'minute' AND bucket_start < ${cutoff}`, [olderThanDays]);
    return { deletedModelRollups: models.rowCount ?? 0, deletedRouteRollups: routes.rowCount ?? 0, deletedKeyRollups: keys.rowCount ?? 0 };
  }

  private async deleteInChunks(sql: string, values: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(sql, values);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < DELETE_CHUNK) return total;
    }
  }

}
