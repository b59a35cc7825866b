import { describe, expect, it } from '@jest/globals';
import {
  acquireTrial,
  applyOutcomes,
  type CircuitBreakerState,
  type CircuitPolicy,
  currentState,
  DEFAULT_CIRCUIT_POLICY,
  deriveHealth,
  describeCircuit,
  INITIAL_CIRCUIT,
  mergeOutcomes,
  normalizeOutcomes,
  type OutcomeSummary,
  singleOutcome,
  windowTotals,
} from '../src/index.js';

const policy: CircuitPolicy = { ...DEFAULT_CIRCUIT_POLICY }; // 3 in a row, 50 % of ≥ 10, 10 s window, 5 s cooldown
const T0 = 1_700_000_000_000;
const ok = singleOutcome(true, 100);
const fail = singleOutcome(false, 100);

/** Applies `outcomes` one call at a time, one millisecond apart, from `start`. */
function run(outcomes: OutcomeSummary[], state: CircuitBreakerState = INITIAL_CIRCUIT, start = T0): CircuitBreakerState {
  return outcomes.reduce((s, o, i) => applyOutcomes(s, o, start + i, policy), state);
}

function openAt(now: number): CircuitBreakerState {
  const state = run([fail, fail, fail], INITIAL_CIRCUIT, now - 2);
  expect(state.circuit).toBe('open');
  return state;
}

function halfOpen(): { state: CircuitBreakerState; at: number } {
  const opened = openAt(T0);
  const at = opened.retry_at!;
  const state = currentState(opened, at, policy);
  expect(state.circuit).toBe('half_open');
  return { state, at };
}

describe('closed → open', () => {
  it('opens at the third consecutive failure, not before', () => {
    const two = run([fail, fail]);
    expect(two.circuit).toBe('closed');
    expect(two.consecutive_failures).toBe(2);
    const three = applyOutcomes(two, fail, T0 + 2, policy);
    expect(three).toMatchObject({ circuit: 'open', opened_at: T0 + 2, retry_at: T0 + 2 + policy.cooldown, changed_at: T0 + 2 });
  });

  it('a success resets the run of failures', () => {
    const state = run([fail, fail, ok, fail, fail]);
    expect(state.circuit).toBe('closed');
    expect(state.consecutive_failures).toBe(2);
  });

  it('counts one summary of many calls: its trailing failures extend the run only when it had no success', () => {
    expect(run([{ successes: 0, failures: 3, trailing_failures: 3 }]).circuit).toBe('open');
    // Two failures, a success, one failure: the run is 1, whatever came before.
    const mixed = run([fail, fail, { successes: 1, failures: 3, trailing_failures: 1 }]);
    expect(mixed).toMatchObject({ circuit: 'closed', consecutive_failures: 1 });
    expect(run([{ successes: 4, failures: 3, trailing_failures: 3 }]).circuit).toBe('open');
  });

  it('opens on the failure rate over the window once the minimum volume is reached', () => {
    // Never two failures in a row; the 10th call makes 5 failures out of 10.
    const nine = run([fail, ok, fail, ok, fail, ok, fail, ok, ok]);
    expect(nine.circuit).toBe('closed');
    expect(windowTotals(nine, T0 + 8, policy)).toMatchObject({ successes: 5, failures: 4, volume: 9 });
    expect(applyOutcomes(nine, fail, T0 + 9, policy).circuit).toBe('open');
  });

  it('does not open on the failure rate below the minimum volume', () => {
    const state = run([fail, ok, fail, ok, fail, ok, fail]); // 4 of 7 failed, 57 %
    expect(state.circuit).toBe('closed');
  });

  it('a success never opens a circuit, even when it brings the volume to the minimum', () => {
    const high: CircuitPolicy = { ...policy, consecutive_failures: 100, failure_rate_threshold: 0.3 };
    let state: CircuitBreakerState = INITIAL_CIRCUIT;
    for (const o of [fail, ok, fail, ok, fail, ok, fail, ok, ok]) state = applyOutcomes(state, o, T0, high);
    expect(state.circuit).toBe('closed');
    expect(applyOutcomes(state, ok, T0, high).circuit).toBe('closed'); // 4 of 10 failed ≥ 30 %, but a success
    expect(applyOutcomes(state, fail, T0, high).circuit).toBe('open');
  });

  it('forgets failures that slid out of the window', () => {
    const early = run([fail, ok, fail, ok, fail, ok, fail, ok]); // 4 of 8 failed
    const later = T0 + policy.window + 2000;
    expect(windowTotals(early, later, policy).volume).toBe(0);
    const state = run([fail, ok], early, later);
    expect(state.circuit).toBe('closed');
    expect(currentState(state, later + 1, policy).buckets.length).toBe(1);
  });
});

describe('open → half_open → closed or open', () => {
  it('stays open during the cooldown and turns half-open lazily when it is over', () => {
    const opened = openAt(T0);
    expect(currentState(opened, opened.retry_at! - 1, policy).circuit).toBe('open');
    expect(currentState(opened, opened.retry_at!, policy)).toMatchObject({
      circuit: 'half_open',
      half_open_at: opened.retry_at,
      half_open_trials: 0,
      changed_at: opened.retry_at,
    });
  });

  it('while open, outcomes enter the window but do not move the circuit', () => {
    const opened = openAt(T0);
    const after = run([ok, ok, ok, fail], opened, T0 + 10);
    expect(after).toMatchObject({ circuit: 'open', opened_at: opened.opened_at, retry_at: opened.retry_at });
    expect(windowTotals(after, T0 + 20, policy)).toMatchObject({ successes: 3, failures: 4 });
  });

  it('grants at most half_open_max_trials trials; closed always grants, open never', () => {
    expect(acquireTrial(INITIAL_CIRCUIT, T0, policy)).toMatchObject({ granted: true, trial: false });
    expect(acquireTrial(openAt(T0), T0 + 1, policy).granted).toBe(false);

    let { state } = halfOpen();
    const grants: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      const decision = acquireTrial(state, T0 + 5_100 + i, policy);
      grants.push(decision.granted);
      state = decision.state;
    }
    expect(grants).toEqual([true, true, true, false, false]);
    expect(describeCircuit(state, T0 + 5_200, policy).trials_left).toBe(0);
  });

  it('an open circuit past its cooldown grants a trial (the transition happens on the read)', () => {
    const opened = openAt(T0);
    const decision = acquireTrial(opened, opened.retry_at!, policy);
    expect(decision).toMatchObject({ granted: true, trial: true });
    expect(decision.state).toMatchObject({ circuit: 'half_open', half_open_trials: 1 });
  });

  it('closes after half_open_successes_to_close successes and starts a fresh window', () => {
    const { state, at } = halfOpen();
    const one = applyOutcomes(state, ok, at + 1, policy);
    expect(one).toMatchObject({ circuit: 'half_open', half_open_successes: 1 });
    const two = applyOutcomes(one, ok, at + 2, policy);
    expect(two).toMatchObject({ circuit: 'closed', opened_at: null, retry_at: null, consecutive_failures: 0, changed_at: at + 2 });
    expect(windowTotals(two, at + 2, policy)).toMatchObject({ successes: 1, failures: 0 });
    expect(deriveHealth(two, at + 2, policy)).toBe('healthy');
  });

  it('reopens on any failure, with a new cooldown', () => {
    const { state, at } = halfOpen();
    const one = applyOutcomes(state, ok, at + 1, policy);
    const reopened = applyOutcomes(one, { successes: 3, failures: 1, trailing_failures: 0 }, at + 2, policy);
    expect(reopened).toMatchObject({ circuit: 'open', opened_at: at + 2, retry_at: at + 2 + policy.cooldown, half_open_successes: 0 });
  });

  it('renews a round whose trials were all granted but never reported within a cooldown', () => {
    let { state, at } = halfOpen();
    for (let i = 0; i < policy.half_open_max_trials; i++) state = acquireTrial(state, at, policy).state;
    expect(acquireTrial(state, at + policy.cooldown - 1, policy).granted).toBe(false);
    const renewed = acquireTrial(state, at + policy.cooldown, policy);
    expect(renewed.granted).toBe(true);
    expect(renewed.state).toMatchObject({ circuit: 'half_open', half_open_at: at + policy.cooldown, half_open_trials: 1 });
  });
});

describe('deriveHealth', () => {
  it('is unknown with nothing in the window, healthy with successes', () => {
    expect(deriveHealth(INITIAL_CIRCUIT, T0, policy)).toBe('unknown');
    expect(deriveHealth(run([ok, ok]), T0 + 5, policy)).toBe('healthy');
    expect(deriveHealth(run([ok, ok]), T0 + policy.window + 2000, policy)).toBe('unknown');
  });

  it('is degraded after a recent failure, a high failure rate or slow calls, while closed', () => {
    expect(deriveHealth(run([ok, fail]), T0 + 5, policy)).toBe('degraded'); // trailing failure
    const rate = run([...Array(8).fill(ok), fail, ok]); // 10 % failed, last call fine
    expect(deriveHealth(rate, T0 + 10, policy)).toBe('degraded');
    const fine = run([...Array(10).fill(ok), fail, ok]); // 8 %
    expect(deriveHealth(fine, T0 + 12, policy)).toBe('healthy');
    const slow = run([singleOutcome(true, 12_000)]);
    expect(deriveHealth(slow, T0 + 1, policy)).toBe('degraded');
    expect(deriveHealth(slow, T0 + 1, policy, { degraded_failure_rate: 0.1, slow_latency_ms: 20_000 })).toBe('healthy');
  });

  it('is unhealthy when open and degraded when half-open', () => {
    const opened = openAt(T0);
    expect(deriveHealth(opened, T0 + 1, policy)).toBe('unhealthy');
    expect(deriveHealth(opened, opened.retry_at!, policy)).toBe('degraded');
  });

  it('describeCircuit shows the window with its mean latency', () => {
    const view = describeCircuit(run([singleOutcome(true, 100), singleOutcome(false, 300)]), T0 + 2, policy);
    expect(view).toMatchObject({
      circuit: 'closed',
      health: 'degraded',
      consecutive_failures: 1,
      trials_left: null,
      window: { successes: 1, failures: 1, volume: 2, failure_rate: 0.5, mean_latency_ms: 200 },
    });
  });
});

describe('outcome summaries', () => {
  it('normalizes trailing failures and rejects impossible counts', () => {
    expect(normalizeOutcomes({ successes: 0, failures: 4, trailing_failures: 1 }).trailing_failures).toBe(4);
    expect(normalizeOutcomes({ successes: 2, failures: 4, trailing_failures: 9 }).trailing_failures).toBe(4);
    expect(() => normalizeOutcomes({ successes: -1, failures: 0, trailing_failures: 0 })).toThrow(RangeError);
    expect(() => normalizeOutcomes({ successes: 1.5, failures: 0, trailing_failures: 0 })).toThrow(RangeError);
    expect(() => normalizeOutcomes({ successes: 1, failures: 0, trailing_failures: 0, latency_ms_sum: Number.NaN })).toThrow(RangeError);
  });

  it('merges in order: the later summary decides the trailing failures when it has a success', () => {
    expect(mergeOutcomes(fail, fail)).toEqual({ successes: 0, failures: 2, trailing_failures: 2, latency_ms_sum: 200 });
    expect(mergeOutcomes(fail, ok)).toEqual({ successes: 1, failures: 1, trailing_failures: 0, latency_ms_sum: 200 });
    expect(mergeOutcomes(ok, fail)).toEqual({ successes: 1, failures: 1, trailing_failures: 1, latency_ms_sum: 200 });
  });

  it('an empty summary changes nothing but the lazy transitions', () => {
    const opened = openAt(T0);
    const empty = { successes: 0, failures: 0, trailing_failures: 0 };
    expect(applyOutcomes(opened, empty, T0 + 1, policy)).toEqual(opened);
    expect(applyOutcomes(opened, empty, opened.retry_at!, policy).circuit).toBe('half_open');
  });
});
