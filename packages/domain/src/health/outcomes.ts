/**
 * Call outcomes summarised over a stretch of time, so one update of a circuit breaker can apply
 * many calls (the shape of the `model.outcomes` event).
 */
export interface OutcomeSummary {
  successes: number;
  failures: number;
  /** Failures after the last success (all of them when there was no success). */
  trailing_failures: number;
  /** Sum of the latencies of every call summarised (successes and failures). */
  latency_ms_sum?: number;
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/**
 * Checks a summary and makes its trailing failures consistent: never more than the failures, and
 * all of them when there was no success. Throws a RangeError for negative or fractional counts.
 */
export function normalizeOutcomes(summary: OutcomeSummary): Required<OutcomeSummary> {
  const { successes, failures, trailing_failures } = summary;
  const latency = summary.latency_ms_sum ?? 0;
  if (!isCount(successes) || !isCount(failures) || !isCount(trailing_failures)) {
    throw new RangeError(`outcome counts must be non-negative integers: ${JSON.stringify(summary)}`);
  }
  if (!Number.isFinite(latency) || latency < 0) {
    throw new RangeError(`latency_ms_sum must be a non-negative number: ${latency}`);
  }
  return {
    successes,
    failures,
    trailing_failures: successes === 0 ? failures : Math.min(trailing_failures, failures),
    latency_ms_sum: latency,
  };
}

/** The summary of one call. */
export function singleOutcome(success: boolean, latencyMs = 0): Required<OutcomeSummary> {
  return success
    ? { successes: 1, failures: 0, trailing_failures: 0, latency_ms_sum: latencyMs }
    : { successes: 0, failures: 1, trailing_failures: 1, latency_ms_sum: latencyMs };
}

/** The summary of `first`'s calls followed by `then`'s. */
export function mergeOutcomes(first: OutcomeSummary, then: OutcomeSummary): Required<OutcomeSummary> {
  const a = normalizeOutcomes(first);
  const b = normalizeOutcomes(then);
  return {
    successes: a.successes + b.successes,
    failures: a.failures + b.failures,
    trailing_failures: b.successes > 0 ? b.trailing_failures : a.trailing_failures + b.failures,
    latency_ms_sum: a.latency_ms_sum + b.latency_ms_sum,
  };
}
