/** Sums of metric events: what a rollup row holds and what a range of raw rows adds up to. */
export interface MetricTotals {
  request_count: number;
  success_count: number;
  latency_sum: number;
  latency_sum_sq: number;
  cost_nanos_sum: number;
  cost_nanos_sum_sq: number;
  prompt_tokens_sum: number;
  completion_tokens_sum: number;
}

/** A numeric column of a sum or count (null over no rows) as a number. */
export const numberOrZero = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export function toMetricTotals(row: Record<string, unknown>): MetricTotals {
  return {
    request_count: numberOrZero(row.request_count),
    success_count: numberOrZero(row.success_count),
    latency_sum: numberOrZero(row.latency_sum),
    latency_sum_sq: numberOrZero(row.latency_sum_sq),
    cost_nanos_sum: numberOrZero(row.cost_nanos_sum),
    cost_nanos_sum_sq: numberOrZero(row.cost_nanos_sum_sq),
    prompt_tokens_sum: numberOrZero(row.prompt_tokens_sum),
    completion_tokens_sum: numberOrZero(row.completion_tokens_sum),
  };
}
