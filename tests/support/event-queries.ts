import { type Granularity, type MetricTotals, numberOrZero, type Pool, toMetricTotals } from '@model-router/database';

/**
 * Counts and totals over the event tables, for tests to check ingestion against: raw rows, ledger
 * entries, and rollups compared with the raw rows they were built from.
 */

export interface RouteTotals {
  decision_count: number;
  estimated_cost_nanos_sum: number;
  prompt_tokens_sum: number;
  max_tokens_sum: number;
}

export class EventQueries {
  constructor(private readonly pool: Pool) {}

  async countRouteEvents(): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.route_events');
    return Number(rows[0].n);
  }

  async countMetricEvents(): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.metric_events');
    return Number(rows[0].n);
  }

  /** Ledger entries of one kind: events ever written (until retention forgets them). */
  async countProcessedEvents(kind: 'route.decided' | 'metric.recorded'): Promise<number> {
    const { rows } = await this.pool.query('SELECT count(*) AS n FROM model_router.processed_events WHERE kind = $1', [kind]);
    return Number(rows[0].n);
  }

  /** Totals over every model rollup of one granularity. */
  async modelRollupTotals(granularity: Granularity): Promise<MetricTotals & { histogram_count: number }> {
    const { rows } = await this.pool.query(
      `SELECT sum(request_count) AS request_count, sum(success_count) AS success_count,
              sum(latency_sum) AS latency_sum, sum(latency_sum_sq) AS latency_sum_sq,
              sum(cost_nanos_sum) AS cost_nanos_sum, sum(cost_nanos_sum_sq) AS cost_nanos_sum_sq,
              sum(prompt_tokens_sum) AS prompt_tokens_sum, sum(completion_tokens_sum) AS completion_tokens_sum,
              (SELECT coalesce(sum(c), 0) FROM model_router.model_rollups r2, unnest(r2.latency_buckets) AS c
                WHERE r2.granularity = $1) AS histogram_count
       FROM model_router.model_rollups WHERE granularity = $1`,
      [granularity],
    );
    return { ...toMetricTotals(rows[0]), histogram_count: numberOrZero(rows[0].histogram_count) };
  }

  /** The same totals computed from the raw metric rows (to check rollups against). */
  async metricEventTotals(): Promise<MetricTotals> {
    const { rows } = await this.pool.query(
      `SELECT count(*) AS request_count, count(*) FILTER (WHERE success) AS success_count,
              sum(latency_ms) AS latency_sum, sum(latency_ms * latency_ms) AS latency_sum_sq,
              sum(cost_nanos) AS cost_nanos_sum, sum(cost_nanos::numeric * cost_nanos) AS cost_nanos_sum_sq,
              sum(prompt_tokens) AS prompt_tokens_sum, sum(completion_tokens) AS completion_tokens_sum
       FROM model_router.metric_events`,
    );
    return toMetricTotals(rows[0]);
  }

  /** Totals over every route rollup of one granularity. */
  async routeRollupTotals(granularity: Granularity): Promise<RouteTotals> {
    const { rows } = await this.pool.query(
      `SELECT sum(decision_count) AS decision_count, sum(estimated_cost_nanos_sum) AS estimated_cost_nanos_sum,
              sum(prompt_tokens_sum) AS prompt_tokens_sum, sum(max_tokens_sum) AS max_tokens_sum
       FROM model_router.route_rollups WHERE granularity = $1`,
      [granularity],
    );
    return toRouteTotals(rows[0]);
  }

  /** The same totals computed from the raw route rows. */
  async routeEventTotals(): Promise<RouteTotals> {
    const { rows } = await this.pool.query(
      `SELECT count(*) AS decision_count, sum(estimated_cost_nanos) AS estimated_cost_nanos_sum,
              sum(prompt_tokens) AS prompt_tokens_sum, sum(max_tokens) AS max_tokens_sum
       FROM model_router.route_events`,
    );
    return toRouteTotals(rows[0]);
  }
}

function toRouteTotals(row: Record<string, unknown>): RouteTotals {
  return {
    decision_count: numberOrZero(row.decision_count),
    estimated_cost_nanos_sum: numberOrZero(row.estimated_cost_nanos_sum),
    prompt_tokens_sum: numberOrZero(row.prompt_tokens_sum),
    max_tokens_sum: numberOrZero(row.max_tokens_sum),
  };
}
