/**
 * A model's health as operators and the API read it, derived from its circuit breaker:
 *
 * - `unhealthy`: the circuit is open.
 * - `degraded`: the circuit is half-open; or it is closed and something went wrong recently — the
 *   last outcomes were failures (`consecutive_failures > 0`), the window's failure rate is at least
 *   `degraded_failure_rate`, or the window's mean latency is at least `slow_latency_ms`.
 * - `unknown`: the circuit is closed and the window holds no outcome (nothing probed or reported
 *   lately).
 * - `healthy`: otherwise.
 */
import type { CircuitState, HealthState } from '../model.js';
import {
  type CircuitBreakerState,
  type CircuitPolicy,
  currentState,
  windowTotals,
  type WindowTotals,
} from './circuit.js';

export interface HealthPolicy {
  /** A closed circuit whose window failure rate reaches this is degraded. */
  degraded_failure_rate: number;
  /** A closed circuit whose window mean latency reaches this is degraded. */
  slow_latency_ms: number;
}

export const DEFAULT_HEALTH_POLICY: Readonly<HealthPolicy> = Object.freeze({
  // Well below the default opening threshold (0.5): the warning comes before the breaker trips.
  degraded_failure_rate: 0.1,
  slow_latency_ms: 10_000,
});

/** Health of a circuit as of `now` (see the file's comment for the rule). */
export function deriveHealth(
  state: CircuitBreakerState,
  now: number,
  policy: CircuitPolicy,
  health: HealthPolicy = DEFAULT_HEALTH_POLICY,
): HealthState {
  const current = currentState(state, now, policy);
  return healthOf(current, windowTotals(current, now, policy), health);
}

function healthOf(state: CircuitBreakerState, totals: WindowTotals, health: HealthPolicy): HealthState {
  if (state.circuit === 'open') return 'unhealthy';
  if (state.circuit === 'half_open') return 'degraded';
  if (totals.volume === 0) return 'unknown';
  if (
    state.consecutive_failures > 0 ||
    totals.failure_rate >= health.degraded_failure_rate ||
    (totals.mean_latency_ms !== null && totals.mean_latency_ms >= health.slow_latency_ms)
  ) {
    return 'degraded';
  }
  return 'healthy';
}

/** What replicas and operators are shown of one model's circuit. */
export interface CircuitView {
  circuit: CircuitState;
  health: HealthState;
  opened_at: number | null;
  /** When an open circuit lets trials through; null unless open. */
  retry_at: number | null;
  consecutive_failures: number;
  /** Trials still available in this half-open round; null unless half-open. */
  trials_left: number | null;
  window: WindowTotals;
  changed_at: number | null;
}

/** The circuit as of `now`, with its health and window, for display and replicas' snapshots. */
export function describeCircuit(
  state: CircuitBreakerState,
  now: number,
  policy: CircuitPolicy,
  health: HealthPolicy = DEFAULT_HEALTH_POLICY,
): CircuitView {
  const current = currentState(state, now, policy);
  const window = windowTotals(current, now, policy);
  return {
    circuit: current.circuit,
    health: healthOf(current, window, health),
    opened_at: current.opened_at,
    retry_at: current.retry_at,
    consecutive_failures: current.consecutive_failures,
    trials_left:
      current.circuit === 'half_open' ? Math.max(0, policy.half_open_max_trials - current.half_open_trials) : null,
    window,
    changed_at: current.changed_at,
  };
}
