/**
 * The circuit breaker of one model as a pure state machine: plain values in, plain values out, the
 * clock passed in as `now` (ms since the epoch). Where the state lives (Redis, shared by every
 * replica) and how updates are made atomic is the health package's business; every decision is
 * made here.
 *
 * Rules:
 * - closed → open when, after an update that holds failures, either the consecutive failures
 *   reach `consecutive_failures`, or the window holds at least `minimum_volume` calls of which a
 *   share ≥ `failure_rate_threshold` failed. A success never opens a circuit.
 * - open → half_open once `now ≥ retry_at` (`opened_at + cooldown`). Nothing pushes this change:
 *   every read and update evaluates it first (`currentState`).
 * - half_open grants at most `half_open_max_trials` trial requests per round (`acquireTrial`). A
 *   round whose trials are all granted but undecided after `cooldown` (their callers never reported)
 *   is replaced by a fresh one, so a half-open circuit never stays stuck.
 * - half_open → closed after `half_open_successes_to_close` successes (counted from any source,
 *   granted trials and health probes alike); the window starts afresh.
 * - half_open → open on any failure, with a new cooldown.
 * - While open, outcomes (late reports of calls made before it opened) only enter the window.
 *
 * A summary carries no order beyond its trailing failures, so consecutive failures are counted
 * conservatively: failures before a summary's last success never extend an earlier run. The
 * failure-rate rule covers what that misses.
 */
import type { CircuitState } from '../model.js';
import { normalizeOutcomes, type OutcomeSummary } from './outcomes.js';

/** The settings of `circuit_breaker.*` in the config, durations in ms. */
export interface CircuitPolicy {
  consecutive_failures: number;
  failure_rate_threshold: number;
  minimum_volume: number;
  /** Length of the sliding window of the failure rate. */
  window: number;
  /** How long a circuit stays open before it lets trials through. */
  cooldown: number;
  half_open_max_trials: number;
  half_open_successes_to_close: number;
}

export const DEFAULT_CIRCUIT_POLICY: Readonly<CircuitPolicy> = Object.freeze({
  consecutive_failures: 3,
  failure_rate_threshold: 0.5,
  minimum_volume: 10,
  window: 10_000,
  cooldown: 5_000,
  half_open_max_trials: 3,
  half_open_successes_to_close: 2,
});

/** The sliding window is kept as this many buckets, so it slides in steps of a tenth. */
export const WINDOW_BUCKETS = 10;

export interface WindowBucket {
  /** Start of the bucket, a multiple of the bucket width (ms since the epoch). */
  start: number;
  successes: number;
  failures: number;
  latency_ms_sum: number;
}

export interface CircuitBreakerState {
  circuit: CircuitState;
  /** When the circuit last opened; null unless open. */
  opened_at: number | null;
  /** When an open circuit turns half-open (`opened_at + cooldown`); null unless open. */
  retry_at: number | null;
  /** Start of the current round of trials; null unless half-open. */
  half_open_at: number | null;
  consecutive_failures: number;
  /** Trials granted in the current half-open round. */
  half_open_trials: number;
  /** Successes seen since the circuit turned half-open. */
  half_open_successes: number;
  /** Outcomes in the sliding window, oldest first. */
  buckets: readonly WindowBucket[];
  /** When `circuit` last changed; null if never. */
  changed_at: number | null;
}

export const INITIAL_CIRCUIT: Readonly<CircuitBreakerState> = Object.freeze({
  circuit: 'closed',
  opened_at: null,
  retry_at: null,
  half_open_at: null,
  consecutive_failures: 0,
  half_open_trials: 0,
  half_open_successes: 0,
  buckets: Object.freeze([]) as readonly WindowBucket[],
  changed_at: null,
});

export interface WindowTotals {
  successes: number;
  failures: number;
  volume: number;
  /** failures / volume; 0 when the window is empty. */
  failure_rate: number;
  /** Mean latency of the calls in the window; null when the window is empty. */
  mean_latency_ms: number | null;
}

export function bucketWidth(policy: CircuitPolicy): number {
  return Math.max(1, Math.ceil(policy.window / WINDOW_BUCKETS));
}

/** True while a bucket still overlaps the window that ends at `now`. */
function inWindow(bucket: WindowBucket, now: number, policy: CircuitPolicy): boolean {
  return bucket.start + bucketWidth(policy) > now - policy.window;
}

function pruneWindow(buckets: readonly WindowBucket[], now: number, policy: CircuitPolicy): readonly WindowBucket[] {
  return buckets.every((b) => inWindow(b, now, policy)) ? buckets : buckets.filter((b) => inWindow(b, now, policy));
}

function addToWindow(
  buckets: readonly WindowBucket[],
  summary: Required<OutcomeSummary>,
  now: number,
  policy: CircuitPolicy,
): WindowBucket[] {
  const width = bucketWidth(policy);
  const start = Math.floor(now / width) * width;
  const next = buckets.map((b) => ({ ...b }));
  let bucket = next.find((b) => b.start === start);
  if (!bucket) {
    bucket = { start, successes: 0, failures: 0, latency_ms_sum: 0 };
    next.push(bucket);
    // Replicas' clocks differ a little: a bucket may arrive out of order.
    next.sort((a, b) => a.start - b.start);
  }
  bucket.successes += summary.successes;
  bucket.failures += summary.failures;
  bucket.latency_ms_sum += summary.latency_ms_sum;
  return next;
}

/** Counts of the calls in the window that ends at `now`. */
export function windowTotals(state: CircuitBreakerState, now: number, policy: CircuitPolicy): WindowTotals {
  let successes = 0;
  let failures = 0;
  let latency = 0;
  for (const b of state.buckets) {
    if (!inWindow(b, now, policy)) continue;
    successes += b.successes;
    failures += b.failures;
    latency += b.latency_ms_sum;
  }
  const volume = successes + failures;
  return {
    successes,
    failures,
    volume,
    failure_rate: volume === 0 ? 0 : failures / volume,
    mean_latency_ms: volume === 0 ? null : latency / volume,
  };
}

function opened(state: CircuitBreakerState, now: number, policy: CircuitPolicy): CircuitBreakerState {
  return {
    ...state,
    circuit: 'open',
    opened_at: now,
    retry_at: now + policy.cooldown,
    half_open_at: null,
    half_open_trials: 0,
    half_open_successes: 0,
    changed_at: now,
  };
}

/**
 * The state as of `now`: the window slid forward, an open circuit whose cooldown is over turned
 * half-open, and a stale round of trials renewed. Every other function starts with it.
 */
export function currentState(state: CircuitBreakerState, now: number, policy: CircuitPolicy): CircuitBreakerState {
  let next = state;
  const buckets = pruneWindow(state.buckets, now, policy);
  if (buckets !== state.buckets) next = { ...next, buckets };
  if (next.circuit === 'open' && next.retry_at !== null && now >= next.retry_at) {
    next = {
      ...next,
      circuit: 'half_open',
      opened_at: null,
      retry_at: null,
      half_open_at: now,
      half_open_trials: 0,
      half_open_successes: 0,
      changed_at: now,
    };
  } else if (
    next.circuit === 'half_open' &&
    next.half_open_trials >= policy.half_open_max_trials &&
    next.half_open_at !== null &&
    now >= next.half_open_at + policy.cooldown
  ) {
    // Every trial was granted and none reported back in a whole cooldown: they are lost.
    next = { ...next, half_open_at: now, half_open_trials: 0 };
  }
  return next;
}

/** Applies the outcomes of calls summarised in `summary`, seen at `now`. */
export function applyOutcomes(
  state: CircuitBreakerState,
  summary: OutcomeSummary,
  now: number,
  policy: CircuitPolicy,
): CircuitBreakerState {
  const outcomes = normalizeOutcomes(summary);
  const current = currentState(state, now, policy);
  if (outcomes.successes + outcomes.failures === 0) return current;
  const buckets = addToWindow(current.buckets, outcomes, now, policy);
  const consecutive =
    outcomes.successes > 0 ? outcomes.trailing_failures : current.consecutive_failures + outcomes.failures;

  switch (current.circuit) {
    case 'open':
      return { ...current, buckets };
    case 'half_open': {
      if (outcomes.failures > 0) return opened({ ...current, buckets, consecutive_failures: consecutive }, now, policy);
      const successes = current.half_open_successes + outcomes.successes;
      if (successes < policy.half_open_successes_to_close) {
        return { ...current, buckets, consecutive_failures: consecutive, half_open_successes: successes };
      }
      // Closed again: the failures that opened it are history, so the window starts with this update.
      return {
        ...INITIAL_CIRCUIT,
        buckets: addToWindow([], outcomes, now, policy),
        changed_at: now,
      };
    }
    case 'closed': {
      const next = { ...current, buckets, consecutive_failures: consecutive };
      if (outcomes.failures > 0 && shouldTrip(next, now, policy)) return opened(next, now, policy);
      return next;
    }
  }
}

/** The opening rule of a closed circuit (see the file's comment). */
export function shouldTrip(state: CircuitBreakerState, now: number, policy: CircuitPolicy): boolean {
  if (state.consecutive_failures >= policy.consecutive_failures) return true;
  const totals = windowTotals(state, now, policy);
  return totals.volume >= policy.minimum_volume && totals.failure_rate >= policy.failure_rate_threshold;
}

export interface TrialDecision {
  /** Whether a request may go to the model now. */
  granted: boolean;
  /** True when the request is a half-open trial (its outcome decides the circuit). */
  trial: boolean;
  state: CircuitBreakerState;
}

/**
 * Asks to send one request to the model: always yes when closed, never when open, and in
 * half-open yes for at most `half_open_max_trials` requests per round.
 */
export function acquireTrial(state: CircuitBreakerState, now: number, policy: CircuitPolicy): TrialDecision {
  const current = currentState(state, now, policy);
  switch (current.circuit) {
    case 'closed':
      return { granted: true, trial: false, state: current };
    case 'open':
      return { granted: false, trial: false, state: current };
    case 'half_open':
      if (current.half_open_trials >= policy.half_open_max_trials) return { granted: false, trial: true, state: current };
      return { granted: true, trial: true, state: { ...current, half_open_trials: current.half_open_trials + 1 } };
  }
}
