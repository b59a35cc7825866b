import {
  type AbAnalysis,
  type AbVariantStats,
  analyze,
  type CupedSums,
  emptyCupedSums,
  emptyWeightedRatioSums,
  estimateLatencyQuantile,
  LATENCY_BUCKET_BOUNDS_MS,
  nanosToUsd,
  type WeightedRatioSums,
} from '@model-router/domain';
import type { StoredAbTest } from '../abtest.repository.js';
import type { AbTestRollupsReader } from './abtest-rollups.reader.js';
import type { Queryable } from '../model.repository.js';

/**
 * The read model of an A/B test's results (GET /api/v1/abtests/:id/results, and the guardrail
 * check of the metric-aggregator): the rollups, user-level sums and exposures, plus what the
 * additions need — each user's pre-period usage for CUPED (raw metric events of the
 * `pre_period_days` before the test started, all models), the 1/π-weighted user sums of a bandit
 * test (π stored with the exposure), and the crossover counts — turned into the results map and
 * the domain's `analyze`.
 */

export interface AbTestResults {
  test_id: string;
  status: StoredAbTest['status'];
  paused_reason: string | null;
  results: Record<string, VariantResult>;
  analysis: AbAnalysis;
}

export interface VariantResult {
  variant_id: string;
  model_id: string;
  request_count: number;
  success_count: number;
  failure_count: number;
  avg_latency_ms: number;
  p50_latency_ms: number | null;
  p95_latency_ms: number | null;
  total_tokens: number;
  total_cost: number;
  exposures: number;
  users: number;
}

const DAY_MS = 86_400_000;

// Per variant, every user's in-test totals next to their pre-period totals (zeros without history).
const CUPED_SUMS = `
WITH pre AS (
  SELECT e.user_id, count(*)::float8 AS m, sum(e.latency_ms) AS lx, sum(e.cost_nanos)::float8 / 1e9 AS cx
  FROM model_router.metric_events e
  WHERE e.occurred_at >= $2 AND e.occurred_at < $3 AND e.user_id IS NOT NULL
    AND e.user_id IN (SELECT user_id FROM model_router.abtest_user_totals WHERE ab_test_id = $1)
  GROUP BY e.user_id
), joined AS (
  SELECT t.variant_id, t.n::float8 AS n, t.latency_sum AS ly, t.cost_nanos_sum::float8 / 1e9 AS cy,
         coalesce(p.m, 0) AS m, coalesce(p.lx, 0) AS lx, coalesce(p.cx, 0) AS cx, p.user_id IS NOT NULL AS has_history
  FROM model_router.abtest_user_totals t LEFT JOIN pre p ON p.user_id = t.user_id
  WHERE t.ab_test_id = $1
)
SELECT variant_id, count(*) FILTER (WHERE has_history) AS with_history,
  sum(m) AS m, sum(m * m) AS m2, sum(n * m) AS nm,
  sum(lx) AS lx, sum(lx * lx) AS lx2, sum(lx * m) AS lxm, sum(ly * lx) AS lyx, sum(ly * m) AS lym, sum(n * lx) AS lnx,
  sum(cx) AS cx, sum(cx * cx) AS cx2, sum(cx * m) AS cxm, sum(cy * cx) AS cyx, sum(cy * m) AS cym, sum(n * cx) AS cnx
FROM joined GROUP BY variant_id`;

// Per variant, users weighted by 1/π of their exposure (users without a stored π are left out).
const IPW_SUMS = `
SELECT t.variant_id, count(*) AS users, sum(w) AS w,
  sum(w * n) AS wn, sum(w * w * n * n) AS w2n2,
  sum(w * ly) AS wly, sum(w * w * ly * n) AS w2lyn, sum(w * w * ly * ly) AS w2ly2,
  sum(w * cy) AS wcy, sum(w * w * cy * n) AS w2cyn, sum(w * w * cy * cy) AS w2cy2,
  sum(w * sy) AS wsy, sum(w * w * sy * n) AS w2syn, sum(w * w * sy * sy) AS w2sy2
FROM (
  SELECT t.variant_id, 1 / x.assignment_probability AS w, t.n::float8 AS n, t.latency_sum AS ly,
         t.cost_nanos_sum::float8 / 1e9 AS cy, t.success_count::float8 AS sy
  FROM model_router.abtest_user_totals t
  JOIN model_router.abtest_exposures x ON x.ab_test_id = t.ab_test_id AND x.user_id = t.user_id AND x.variant_id = t.variant_id
  WHERE t.ab_test_id = $1 AND x.assignment_probability IS NOT NULL
) t GROUP BY t.variant_id`;

// Distinct users of the test (routed or with metrics) and those seen in more than one variant.
const CROSSOVER = `
WITH seen AS (
  SELECT user_id, variant_id, false AS crossed FROM model_router.abtest_user_totals WHERE ab_test_id = $1
  UNION ALL
  SELECT user_id, variant_id, crossed FROM model_router.abtest_exposures WHERE ab_test_id = $1
), per_user AS (
  SELECT user_id, count(DISTINCT variant_id) AS variants, bool_or(crossed) AS crossed FROM seen GROUP BY user_id
)
SELECT count(*) AS total_users, count(*) FILTER (WHERE variants > 1 OR crossed) AS crossed_users FROM per_user`;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export interface AbTestResultsOptions {
  /** Significance level when the test stores none (the config's `abtest.alpha`). */
  alpha?: number;
}

export class AbTestResultsReader {
  constructor(
    private readonly db: Queryable,
    private readonly events: AbTestRollupsReader,
  ) {}

  async read(test: StoredAbTest, options: AbTestResultsOptions = {}): Promise<AbTestResults> {
    const id = test.id;
    const settings = test.analysis;
    const startedMs = test.started_at ? Date.parse(test.started_at) : null;
    const cupedWanted = settings.cuped.enabled && startedMs !== null;
    const [rollups, userSums, exposures, cuped, ipw, crossover] = await Promise.all([
      this.events.abTestVariantRollups(id),
      this.events.abTestUserLevelSums(id),
      this.events.abTestExposureCounts(id),
      cupedWanted ? this.cupedSums(id, new Date(startedMs - settings.cuped.pre_period_days * DAY_MS), new Date(startedMs)) : null,
      test.strategy === 'thompson_sampling' ? this.ipwSums(id) : null,
      this.crossover(id),
    ]);
    const rollupOf = new Map(rollups.map((r) => [r.variant_id, r]));
    const usersOf = new Map(userSums.map((u) => [u.variant_id, u]));

    const results: Record<string, VariantResult> = {};
    const stats: AbVariantStats[] = test.variants.map((variant) => {
      const r = rollupOf.get(variant.id);
      const u = usersOf.get(variant.id);
      const n = r?.request_count ?? 0;
      const costSum = nanosToUsd(r?.cost_nanos_sum ?? 0);
      const p95 = r ? estimateLatencyQuantile(r.latency_buckets, 0.95, { min: r.latency_min, max: r.latency_max }) : null;
      results[variant.id] = {
        variant_id: variant.id,
        model_id: variant.model_id,
        request_count: n,
        success_count: r?.success_count ?? 0,
        failure_count: n - (r?.success_count ?? 0),
        avg_latency_ms: n ? r!.latency_sum / n : 0,
        p50_latency_ms: r ? estimateLatencyQuantile(r.latency_buckets, 0.5, { min: r.latency_min, max: r.latency_max }) : null,
        p95_latency_ms: p95,
        total_tokens: (r?.prompt_tokens_sum ?? 0) + (r?.completion_tokens_sum ?? 0),
        total_cost: costSum,
        exposures: exposures[variant.id] ?? 0,
        users: u?.users ?? 0,
      };
      const ratio = (y?: { sum: number; sum_sq: number; cross: number }, scale = 1) => ({
        users: u?.users ?? 0,
        sum_n: u?.n_sum ?? 0,
        sum_n2: u?.n_sum_sq ?? 0,
        sum_y: (y?.sum ?? 0) * scale,
        sum_y2: (y?.sum_sq ?? 0) * scale * scale,
        sum_yn: (y?.cross ?? 0) * scale,
      });
      const s: AbVariantStats = {
        variant_id: variant.id,
        weight: variant.weight,
        exposures: exposures[variant.id] ?? 0,
        latency_ms: { n, sum: r?.latency_sum ?? 0, sum_sq: r?.latency_sum_sq ?? 0 },
        cost_per_request: { n, sum: costSum, sum_sq: (r?.cost_nanos_sum_sq ?? 0) / 1e18 },
        success: { n, successes: r?.success_count ?? 0 },
        user_level: {
          latency_ms: ratio(u?.latency),
          cost_per_request: ratio(u?.cost_nanos, 1e-9),
          success_rate: ratio(u?.success),
        },
        p95_latency_ms: p95,
      };
      if (r) s.latency_histogram = { bounds: LATENCY_BUCKET_BOUNDS_MS, counts: r.latency_buckets };
      if (cuped) s.cuped = cuped.get(variant.id) ?? { latency_ms: emptyCupedSums(), cost_per_request: emptyCupedSums() };
      if (ipw) {
        s.ipw = ipw.get(variant.id) ?? { latency_ms: emptyWeightedRatioSums(), cost_per_request: emptyWeightedRatioSums(), success_rate: emptyWeightedRatioSums() };
      }
      return s;
    });
    const analysis = analyze(stats, {
      alpha: settings.alpha ?? options.alpha,
      method: settings.method,
      planned_users: settings.planned_users,
      cuped: settings.cuped.enabled,
      guardrails: test.guardrails,
      crossover: { users: crossover.crossed_users, total_users: crossover.total_users },
    });
    return { test_id: id, status: test.status, paused_reason: test.paused_reason, results, analysis };
  }

  /** Per variant, the CUPED sums of latency and cost (USD) against the users' usage in [from, to). */
  async cupedSums(abTestId: string, from: Date, to: Date): Promise<Map<string, { latency_ms: CupedSums; cost_per_request: CupedSums }>> {
    const { rows } = await this.db.query(CUPED_SUMS, [abTestId, from, to]);
    return new Map(
      rows.map((row) => {
        const common = { users_with_history: num(row.with_history), sum_m: num(row.m), sum_m2: num(row.m2), sum_nm: num(row.nm) };
        return [
          row.variant_id as string,
          {
            latency_ms: { ...common, sum_x: num(row.lx), sum_x2: num(row.lx2), sum_xm: num(row.lxm), sum_yx: num(row.lyx), sum_ym: num(row.lym), sum_nx: num(row.lnx) },
            cost_per_request: { ...common, sum_x: num(row.cx), sum_x2: num(row.cx2), sum_xm: num(row.cxm), sum_yx: num(row.cyx), sum_ym: num(row.cym), sum_nx: num(row.cnx) },
          },
        ];
      }),
    );
  }

  /** Per variant, the 1/π-weighted user sums of the three metrics (cost in USD). */
  async ipwSums(abTestId: string): Promise<Map<string, { latency_ms: WeightedRatioSums; cost_per_request: WeightedRatioSums; success_rate: WeightedRatioSums }>> {
    const { rows } = await this.db.query(IPW_SUMS, [abTestId]);
    return new Map(
      rows.map((row) => {
        const base = { users: num(row.users), sum_w: num(row.w), sum_wn: num(row.wn), sum_w2n2: num(row.w2n2) };
        return [
          row.variant_id as string,
          {
            latency_ms: { ...base, sum_wy: num(row.wly), sum_w2yn: num(row.w2lyn), sum_w2y2: num(row.w2ly2) },
            cost_per_request: { ...base, sum_wy: num(row.wcy), sum_w2yn: num(row.w2cyn), sum_w2y2: num(row.w2cy2) },
            success_rate: { ...base, sum_wy: num(row.wsy), sum_w2yn: num(row.w2syn), sum_w2y2: num(row.w2sy2) },
          },
        ];
      }),
    );
  }

  async crossover(abTestId: string): Promise<{ total_users: number; crossed_users: number }> {
    const { rows } = await this.db.query(CROSSOVER, [abTestId]);
    return { total_users: num(rows[0]?.total_users), crossed_users: num(rows[0]?.crossed_users) };
  }
}
