import { estimateLatencyQuantile } from '@model-router/domain';
import type pg from 'pg';

export interface RecentModelStats {
  sample_count: number;
  success_count: number;
  p50_latency_ms: number | null;
}

/** Reads what routing observed of each model (the minute rollups). */
export class ModelStatsReader {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * What routing observed of each model over the last `windowMinutes` (minute rollups): calls,
   * successes and the median latency from the merged histograms.
   */
  async recentModelStats(windowMinutes: number): Promise<Map<string, RecentModelStats>> {
    const { rows } = await this.pool.query(
      `SELECT model_id, sum(request_count) AS n, sum(success_count) AS s, min(latency_min) AS lo, max(latency_max) AS hi,
              model_router.sum_buckets(latency_buckets) AS buckets
       FROM model_router.model_rollups
       WHERE granularity = 'minute' AND bucket_start >= now() - make_interval(mins => $1)
       GROUP BY model_id`,
      [windowMinutes],
    );
    return new Map(
      rows.map((row) => {
        const buckets = (row.buckets as unknown[]).map(Number);
        return [
          row.model_id as string,
          {
            sample_count: Number(row.n),
            success_count: Number(row.s),
            p50_latency_ms: estimateLatencyQuantile(buckets, 0.5, { min: Number(row.lo), max: Number(row.hi) }),
          },
        ];
      }),
    );
  }
}
