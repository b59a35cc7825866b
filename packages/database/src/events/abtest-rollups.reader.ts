import type pg from 'pg';
import { type MetricTotals, numberOrZero, toMetricTotals } from './metric-totals.js';

/** Reads an A/B test's rollups: per-variant aggregates, per-user sums and exposures. */

export interface AbTestVariantRollup extends MetricTotals {
  ab_test_id: string;
  variant_id: string;
  latency_min: number;
  latency_max: number;
  latency_buckets: number[];
}

/**
 * Per variant, sums over users of the per-user totals: what user-level (delta-method) tests need.
 * For a per-user metric sum Y_u over n_u requests: users, Σn, Σn², ΣY, ΣY², ΣnY.
 */
export interface AbTestUserLevelSums {
  variant_id: string;
  users: number;
  n_sum: number;
  n_sum_sq: number;
  latency: { sum: number; sum_sq: number; cross: number };
  cost_nanos: { sum: number; sum_sq: number; cross: number };
  success: { sum: number; sum_sq: number; cross: number };
}

export class AbTestRollupsReader {
  constructor(private readonly pool: pg.Pool) {}

  /** Request-level aggregates of each variant of an A/B test. */
  async abTestVariantRollups(abTestId: string): Promise<AbTestVariantRollup[]> {
    const { rows } = await this.pool.query(
      `SELECT ab_test_id, variant_id, request_count, success_count, latency_sum, latency_sum_sq, latency_min,
              latency_max, cost_nanos_sum, cost_nanos_sum_sq, prompt_tokens_sum, completion_tokens_sum, latency_buckets
       FROM model_router.abtest_variant_rollups WHERE ab_test_id = $1 ORDER BY variant_id`,
      [abTestId],
    );
    return rows.map((row) => ({
      ...toMetricTotals(row),
      ab_test_id: row.ab_test_id,
      variant_id: row.variant_id,
      latency_min: Number(row.latency_min),
      latency_max: Number(row.latency_max),
      latency_buckets: (row.latency_buckets as unknown[]).map(Number),
    }));
  }

  /** Sums over users of per-user totals, per variant (user-level analysis of an A/B test). */
  async abTestUserLevelSums(abTestId: string): Promise<AbTestUserLevelSums[]> {
    const { rows } = await this.pool.query(
      `SELECT variant_id, count(*) AS users, sum(n) AS n_sum, sum(n::numeric * n) AS n_sum_sq,
              sum(latency_sum) AS lat_sum, sum(latency_sum * latency_sum) AS lat_sum_sq, sum(n * latency_sum) AS lat_cross,
              sum(cost_nanos_sum) AS cost_sum, sum(cost_nanos_sum::numeric * cost_nanos_sum) AS cost_sum_sq,
              sum(n::numeric * cost_nanos_sum) AS cost_cross,
              sum(success_count) AS succ_sum, sum(success_count::numeric * success_count) AS succ_sum_sq,
              sum(n::numeric * success_count) AS succ_cross
       FROM model_router.abtest_user_totals WHERE ab_test_id = $1 GROUP BY variant_id ORDER BY variant_id`,
      [abTestId],
    );
    return rows.map((row) => ({
      variant_id: row.variant_id,
      users: Number(row.users),
      n_sum: Number(row.n_sum),
      n_sum_sq: Number(row.n_sum_sq),
      latency: { sum: Number(row.lat_sum), sum_sq: Number(row.lat_sum_sq), cross: Number(row.lat_cross) },
      cost_nanos: { sum: Number(row.cost_sum), sum_sq: Number(row.cost_sum_sq), cross: Number(row.cost_cross) },
      success: { sum: Number(row.succ_sum), sum_sq: Number(row.succ_sum_sq), cross: Number(row.succ_cross) },
    }));
  }

  /** Distinct exposed users per variant of an A/B test (the SRM check's counts). */
  async abTestExposureCounts(abTestId: string): Promise<Record<string, number>> {
    const { rows } = await this.pool.query(
      `SELECT variant_id, count(*) AS users FROM model_router.abtest_exposures WHERE ab_test_id = $1 GROUP BY variant_id`,
      [abTestId],
    );
    return Object.fromEntries(rows.map((row) => [row.variant_id as string, Number(row.users)]));
  }
}
