/**
 * Guardrails: metrics a treatment must not make worse by more than a relative tolerance. They are
 * judged by the sequential test (confidence sequences, ./sequential.ts) whatever the test's
 * analysis method, because a guardrail is checked on every look — every minute — and a
 * fixed-horizon test checked that often would pause healthy tests.
 *
 * A guardrail trips for a treatment when the whole confidence sequence of "treatment − control −
 * tolerance·control" lies above 0, i.e. the treatment is worse than the tolerance allows at the
 * chosen α, at any of the looks:
 * - error_rate: the user-level error rate (1 − success rate), margin tolerance·control error rate;
 * - cost_per_request: the user-level cost per request, margin tolerance·control cost per request;
 * - p95_latency_ms: the share of the treatment's requests slower than (1 + tolerance)·the control's
 *   p95; with the treatment's p95 within tolerance that share is at most 5 %, so the guardrail trips
 *   when the sequence of (share − 0.05) lies above 0. (Request level, from the latency histograms:
 *   no per-user quantiles are kept.)
 */
import type { LatencyHistogram } from '../latency-histogram.js';
import { confidenceSequence, type SequentialResult } from './sequential.js';
import type { MaybeNumber } from './statistics.js';

export type GuardrailMetric = 'error_rate' | 'p95_latency_ms' | 'cost_per_request';
export const GUARDRAIL_METRICS: readonly GuardrailMetric[] = ['error_rate', 'p95_latency_ms', 'cost_per_request'];

export interface Guardrail {
  metric: GuardrailMetric;
  /** Relative worsening allowed: 0.1 lets the treatment be up to 10 % worse than the control. */
  tolerance: number;
}

/**
 * Requests of a histogram at or above `threshold`: whole buckets above it, plus the part of the
 * bucket holding it, interpolated geometrically inside the bucket (as the quantile estimate is).
 */
export function countAtOrAbove(h: LatencyHistogram, threshold: number): number {
  let above = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const count = h.counts[i] ?? 0;
    if (count === 0) continue;
    const lo = i === 0 ? 0 : (h.bounds[i - 1] as number);
    const hi = i < h.bounds.length ? (h.bounds[i] as number) : Infinity;
    if (lo >= threshold) above += count;
    else if (hi > threshold) {
      const fraction = i === 0 ? (hi - threshold) / hi : hi === Infinity ? 1 : Math.log(hi / threshold) / Math.log(hi / lo);
      above += count * Math.min(1, Math.max(0, fraction));
    }
  }
  return above;
}

/** The user-level figures a guardrail judges by (diff = treatment − control, with its standard error). */
export interface GuardrailInputs {
  variant_id: string;
  /** Users of control and treatment together (the sequence's n). */
  users: number;
  /** User-level success rate: control value, diff, se. */
  success_rate: { control: MaybeNumber; diff: MaybeNumber; se: MaybeNumber };
  cost_per_request: { control: MaybeNumber; diff: MaybeNumber; se: MaybeNumber };
  /** The control's p95 latency and the treatment's histogram. */
  latency: { control_p95: MaybeNumber; treatment: LatencyHistogram | null };
}

export interface GuardrailCheck {
  variant_id: string;
  metric: GuardrailMetric;
  tolerance: number;
  /** Relative change of the treatment against the control (for p95: of the p95 estimates, when given). */
  observed: MaybeNumber;
  /** The sequence of (treatment − control − margin), or for p95 of (share above − 0.05). */
  sequential: SequentialResult;
  tripped: boolean;
}

export interface GuardrailOptions {
  alpha: number;
  /** The tuning value N of the sequences (users of both arms planned). */
  tuning_n: number;
}

/** Every guardrail of a test for one treatment. */
export function checkGuardrails(
  guardrails: readonly Guardrail[],
  inputs: GuardrailInputs,
  options: GuardrailOptions & { treatment_p95?: MaybeNumber },
): GuardrailCheck[] {
  return guardrails.map((g): GuardrailCheck => {
    const base = { variant_id: inputs.variant_id, metric: g.metric, tolerance: g.tolerance };
    if (g.metric === 'error_rate' || g.metric === 'cost_per_request') {
      const m = g.metric === 'error_rate' ? errorRateOf(inputs.success_rate) : inputs.cost_per_request;
      if (m.control === null || m.diff === null) return { ...base, observed: null, sequential: confidenceSequence(null, null, 0, options.alpha, options.tuning_n), tripped: false };
      const margin = g.tolerance * m.control;
      const sequential = confidenceSequence(m.diff - margin, m.se, inputs.users, options.alpha, options.tuning_n);
      const observed = m.control !== 0 ? m.diff / m.control : null;
      return { ...base, observed, sequential, tripped: sequential.ci_low !== null && sequential.ci_low > 0 };
    }
    const { control_p95, treatment } = inputs.latency;
    const total = treatment ? treatment.counts.reduce((s, c) => s + c, 0) : 0;
    const treatmentP95 = options.treatment_p95 ?? null;
    const observed = control_p95 && treatmentP95 !== null ? treatmentP95 / control_p95 - 1 : null;
    if (control_p95 === null || !treatment || total < 2) {
      return { ...base, observed, sequential: confidenceSequence(null, null, 0, options.alpha, options.tuning_n), tripped: false };
    }
    const share = countAtOrAbove(treatment, (1 + g.tolerance) * control_p95) / total;
    // The standard error at the boundary share (0.05), so a run of zero slow requests is not "certain".
    const se = Math.sqrt((0.05 * 0.95) / total);
    const sequential = confidenceSequence(share - 0.05, se, total, options.alpha, options.tuning_n);
    return { ...base, observed, sequential, tripped: sequential.ci_low !== null && sequential.ci_low > 0 };
  });
}

function errorRateOf(s: { control: MaybeNumber; diff: MaybeNumber; se: MaybeNumber }): { control: MaybeNumber; diff: MaybeNumber; se: MaybeNumber } {
  return { control: s.control === null ? null : 1 - s.control, diff: s.diff === null ? null : -s.diff, se: s.se };
}
