import type { AbTestStatus, AbTestStrategy, AbVariant, AnalysisMethod, BanditMetric, Guardrail } from '@model-router/domain';
import type { Queryable } from './model.repository.js';
import { DuplicateEntityError, UNIQUE_VIOLATION } from './duplicate-entity.error.js';

export interface StoredAbTest {
  id: string;
  name: string;
  description: string;
  strategy: AbTestStrategy;
  status: AbTestStatus;
  variants: AbVariant[];
  start_time: string | null;
  end_time: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  /** How results are analysed (SPEC "A/B test additions"). */
  analysis: AbTestAnalysisSettings;
  guardrails: Guardrail[];
  /** thompson_sampling tests only. */
  bandit: AbTestBanditSettings | null;
  /** Why the test paused itself (a tripped guardrail); null otherwise. */
  paused_reason: string | null;
}

export interface AbTestAnalysisSettings {
  method: AnalysisMethod;
  planned_users: number;
  /** Null: the config's `abtest.alpha`. */
  alpha: number | null;
  cuped: { enabled: boolean; pre_period_days: number };
}

export interface AbTestBanditSettings {
  metric: BanditMetric;
  min_share: number;
  /** As given ("1m", "30s") or milliseconds. */
  update_every: string | number;
  top_two_beta: number;
}

export type NewAbTest = Pick<
  StoredAbTest,
  'id' | 'name' | 'description' | 'strategy' | 'variants' | 'start_time' | 'end_time' | 'created_by' | 'analysis' | 'guardrails' | 'bandit'
>;

/** Settings of a test stored before the additions (empty analysis object): the SPEC's defaults. */
export const DEFAULT_ANALYSIS_SETTINGS: AbTestAnalysisSettings = Object.freeze({
  method: 'sequential',
  planned_users: 1000,
  alpha: null,
  cuped: Object.freeze({ enabled: true, pre_period_days: 7 }),
}) as AbTestAnalysisSettings;

export interface AbTestFilter {
  status?: AbTestStatus | undefined;
  created_by?: string | undefined;
  limit: number;
  offset: number;
}

const COLUMNS = `id, name, description, strategy, status, variants, start_time, end_time, created_by,
  created_at, updated_at, started_at, completed_at, analysis, guardrails, bandit, paused_reason`;

const iso = (value: unknown): string | null => (value instanceof Date ? value.toISOString() : null);

function toAbTest(row: Record<string, unknown>): StoredAbTest {
  return {
    id: row.id as string,
    name: row.name as string,
    description: row.description as string,
    strategy: row.strategy as AbTestStrategy,
    status: row.status as AbTestStatus,
    variants: row.variants as AbVariant[],
    start_time: iso(row.start_time),
    end_time: iso(row.end_time),
    created_by: row.created_by as string,
    created_at: iso(row.created_at)!,
    updated_at: iso(row.updated_at)!,
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    analysis: analysisOf(row.analysis as Partial<AbTestAnalysisSettings> | null),
    guardrails: (row.guardrails as Guardrail[] | null) ?? [],
    bandit: (row.bandit as AbTestBanditSettings | null) ?? null,
    paused_reason: (row.paused_reason as string | null) ?? null,
  };
}

function analysisOf(stored: Partial<AbTestAnalysisSettings> | null): AbTestAnalysisSettings {
  const d = DEFAULT_ANALYSIS_SETTINGS;
  return { ...d, ...(stored ?? {}), cuped: { ...d.cuped, ...(stored?.cuped ?? {}) } };
}

/** Storage of A/B tests (their definitions and lifecycle; results come from the event rollups). */
export class AbTestRepository {
  constructor(private readonly db: Queryable) {}

  async insert(test: NewAbTest): Promise<StoredAbTest> {
    try {
      const { rows } = await this.db.query(
        `INSERT INTO model_router.ab_tests (id, name, description, strategy, variants, start_time, end_time, created_by,
           analysis, guardrails, bandit)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
        [
          test.id, test.name, test.description, test.strategy, JSON.stringify(test.variants), test.start_time, test.end_time, test.created_by,
          JSON.stringify(test.analysis), JSON.stringify(test.guardrails), test.bandit === null ? null : JSON.stringify(test.bandit),
        ],
      );
      return toAbTest(rows[0]);
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw new DuplicateEntityError('A/B test', test.id);
      throw error;
    }
  }

  async get(id: string, options: { forUpdate?: boolean } = {}): Promise<StoredAbTest | null> {
    const lock = options.forUpdate ? ' FOR UPDATE' : '';
    const { rows } = await this.db.query(`SELECT ${COLUMNS} FROM model_router.ab_tests WHERE id = $1${lock}`, [id]);
    return rows[0] ? toAbTest(rows[0]) : null;
  }

  async list(filter: AbTestFilter): Promise<{ tests: StoredAbTest[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      params.push(filter.status);
      where.push(`status = $${params.length}`);
    }
    if (filter.created_by) {
      params.push(filter.created_by);
      where.push(`created_by = $${params.length}`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const total = await this.db.query(`SELECT count(*)::int AS n FROM model_router.ab_tests ${clause}`, params);
    const { rows } = await this.db.query(
      `SELECT ${COLUMNS} FROM model_router.ab_tests ${clause} ORDER BY created_at DESC, id
       LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, filter.limit, filter.offset],
    );
    return { tests: rows.map(toAbTest), total: total.rows[0].n as number };
  }

  /** Running tests, oldest start first: the order in which routing looks for a test that applies. */
  async listRunning(): Promise<StoredAbTest[]> {
    const { rows } = await this.db.query(
      `SELECT ${COLUMNS} FROM model_router.ab_tests WHERE status = 'running' ORDER BY started_at, id`,
    );
    return rows.map(toAbTest);
  }

  /**
   * Sets the status of a test the caller has locked; stamps the start and completion times. A
   * restart clears `paused_reason`; a pause by hand records none.
   */
  async setStatus(id: string, status: AbTestStatus): Promise<StoredAbTest> {
    const { rows } = await this.db.query(
      `UPDATE model_router.ab_tests SET status = $2, updated_at = now(),
         paused_reason = CASE WHEN $2 = 'completed' THEN paused_reason ELSE NULL END,
         started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, now()) ELSE started_at END,
         completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, status],
    );
    return toAbTest(rows[0]);
  }

  /**
   * Pauses a running test for `reason` (a tripped guardrail). Conditional, so a test that was paused,
   * completed or deleted meanwhile is left alone: null then.
   */
  async pauseWithReason(id: string, reason: string): Promise<StoredAbTest | null> {
    const { rows } = await this.db.query(
      `UPDATE model_router.ab_tests SET status = 'paused', paused_reason = $2, updated_at = now()
       WHERE id = $1 AND status = 'running' RETURNING ${COLUMNS}`,
      [id, reason],
    );
    return rows[0] ? toAbTest(rows[0]) : null;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM model_router.ab_tests WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  /** Completes every running or paused test whose end_time has passed; returns their ids. */
  async completeExpired(now: Date): Promise<string[]> {
    const { rows } = await this.db.query(
      `UPDATE model_router.ab_tests SET status = 'completed', completed_at = $1, updated_at = $1
       WHERE status IN ('running', 'paused') AND end_time IS NOT NULL AND end_time <= $1
       RETURNING id`,
      [now],
    );
    return rows.map((r) => r.id as string);
  }
}
