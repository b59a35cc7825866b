import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  acquireTrial,
  applyOutcomes,
  type CircuitBreakerState,
  type CircuitPolicy,
  currentState,
  deriveHealth,
  INITIAL_CIRCUIT,
  mergeOutcomes,
  normalizeOutcomes,
  type OutcomeSummary,
  windowTotals,
} from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Random policies and random histories: updates with summaries of many calls, trial requests and
// time passing (sometimes far past the window or the cooldown).
// ---------------------------------------------------------------------------------------------

const policyArb: fc.Arbitrary<CircuitPolicy> = fc.record({
  consecutive_failures: fc.integer({ min: 1, max: 8 }),
  failure_rate_threshold: fc.oneof(fc.constantFrom(0.5, 0.25, 1), fc.double({ min: 0.05, max: 1, noNaN: true })),
  minimum_volume: fc.integer({ min: 1, max: 30 }),
  window: fc.integer({ min: 10, max: 20_000 }),
  cooldown: fc.integer({ min: 1, max: 10_000 }),
  half_open_max_trials: fc.integer({ min: 1, max: 5 }),
  half_open_successes_to_close: fc.integer({ min: 1, max: 5 }),
});

const summaryArb: fc.Arbitrary<OutcomeSummary> = fc
  .record({
    successes: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 50 })),
    failures: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 50 })),
    trailing: fc.integer({ min: 0, max: 60 }),
    latency: fc.integer({ min: 0, max: 100_000 }),
  })
  .map(({ successes, failures, trailing, latency }) => ({
    successes,
    failures,
    trailing_failures: Math.min(trailing, failures),
    latency_ms_sum: latency,
  }));

type Step =
  | { kind: 'outcomes'; summary: OutcomeSummary; after: number }
  | { kind: 'trial'; after: number }
  | { kind: 'read'; after: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('outcomes' as const), summary: summaryArb, after: fc.nat(3_000) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('trial' as const), after: fc.nat(3_000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('read' as const), after: fc.nat(30_000) }) },
);

const historyArb = fc.tuple(policyArb, fc.array(stepArb, { maxLength: 120 }));
const T0 = 1_700_000_000_000;

/** The fewest failures since a circuit was last closed that can open it under `policy`. */
function fewestFailuresToOpen(policy: CircuitPolicy): number {
  return Math.min(policy.consecutive_failures, Math.ceil(policy.failure_rate_threshold * policy.minimum_volume - 1e-9));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

interface Observer {
  failuresSinceClosed: number;
  successesSinceHalfOpen: number;
  grantsThisRound: number;
}

/**
 * Runs a history and checks, after every step, what must hold whatever the history: the thresholds
 * are respected, the cooldown is respected, half-open grants at most its trials per round, and no
 * function changes the state it was given.
 */
function check(policy: CircuitPolicy, steps: Step[]): void {
  let state: CircuitBreakerState = deepFreeze({ ...INITIAL_CIRCUIT });
  let now = T0;
  const seen: Observer = { failuresSinceClosed: 0, successesSinceHalfOpen: 0, grantsThisRound: 0 };

  for (const step of steps) {
    now += step.after;
    const before = state;
    const current = currentState(before, now, policy);

    // Open never turns half-open before its cooldown is over, and always once it is.
    if (before.circuit === 'open') {
      expect(current.circuit).toBe(now >= before.retry_at! ? 'half_open' : 'open');
      expect(before.retry_at).toBe(before.opened_at! + policy.cooldown);
    }
    if (current.circuit === 'half_open' && (before.circuit !== 'half_open' || current.half_open_at !== before.half_open_at)) {
      seen.grantsThisRound = 0;
      if (before.circuit !== 'half_open') seen.successesSinceHalfOpen = 0;
    }

    let next: CircuitBreakerState;
    if (step.kind === 'outcomes') {
      const summary = normalizeOutcomes(step.summary);
      next = applyOutcomes(before, step.summary, now, policy);
      if (current.circuit === 'closed') {
        seen.failuresSinceClosed += summary.failures;
        if (next.circuit === 'open') {
          expect(summary.failures).toBeGreaterThan(0); // a success never opens
          expect(seen.failuresSinceClosed).toBeGreaterThanOrEqual(fewestFailuresToOpen(policy));
          const totals = windowTotals(next, now, policy);
          const byRate = totals.volume >= policy.minimum_volume && totals.failure_rate >= policy.failure_rate_threshold;
          expect(next.consecutive_failures >= policy.consecutive_failures || byRate).toBe(true);
        } else {
          expect(next.circuit).toBe('closed');
        }
      }
      if (current.circuit === 'half_open') {
        if (summary.failures > 0) expect(next.circuit).toBe('open');
        else {
          seen.successesSinceHalfOpen += summary.successes;
          const closes = seen.successesSinceHalfOpen >= policy.half_open_successes_to_close;
          expect(next.circuit).toBe(closes ? 'closed' : 'half_open');
        }
      }
      if (current.circuit === 'open') expect(next.circuit).toBe('open');
      if (next.circuit === 'closed' && current.circuit !== 'closed') seen.failuresSinceClosed = 0;
    } else if (step.kind === 'trial') {
      const decision = acquireTrial(before, now, policy);
      next = decision.state;
      expect(decision.granted).toBe(
        current.circuit === 'closed' || (current.circuit === 'half_open' && current.half_open_trials < policy.half_open_max_trials),
      );
      if (current.circuit === 'half_open' && decision.granted) seen.grantsThisRound++;
      expect(next.circuit).toBe(current.circuit);
    } else {
      next = current;
    }

    expect(seen.grantsThisRound).toBeLessThanOrEqual(policy.half_open_max_trials);
    if (next.circuit === 'half_open') expect(next.half_open_trials).toBeLessThanOrEqual(policy.half_open_max_trials);
    expect(next.buckets.length).toBeLessThanOrEqual(11);
    const health = deriveHealth(next, now, policy);
    if (next.circuit === 'open') expect(health).toBe('unhealthy');
    if (next.circuit === 'half_open') expect(health).toBe('degraded');
    state = deepFreeze(next); // a function that wrote to its input would throw here next time
  }
}

describe('circuit breaker properties', () => {
  it('respects thresholds, cooldowns and trial limits whatever the history', () => {
    fc.assert(
      fc.property(historyArb, ([policy, steps]) => check(policy, steps)),
      { numRuns: 400 },
    );
  });

  it('single failures in a row open exactly at consecutive_failures when the rate rule cannot fire', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 5 }), (threshold, gapMs) => {
        const policy: CircuitPolicy = {
          consecutive_failures: threshold,
          failure_rate_threshold: 1,
          minimum_volume: 1000,
          window: 60_000,
          cooldown: 1000,
          half_open_max_trials: 1,
          half_open_successes_to_close: 1,
        };
        let state: CircuitBreakerState = INITIAL_CIRCUIT;
        for (let i = 1; i <= threshold; i++) {
          state = applyOutcomes(state, { successes: 0, failures: 1, trailing_failures: 1 }, T0 + i * gapMs, policy);
          expect(state.circuit).toBe(i < threshold ? 'closed' : 'open');
        }
      }),
    );
  });

  it('the window counts every outcome of the last `window` ms while the circuit stays closed', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(summaryArb, fc.nat(50)), { maxLength: 40 }), (updates) => {
        const policy: CircuitPolicy = {
          consecutive_failures: 1_000_000,
          failure_rate_threshold: 1,
          minimum_volume: 1_000_000,
          window: 10_000,
          cooldown: 1000,
          half_open_max_trials: 1,
          half_open_successes_to_close: 1,
        };
        let state: CircuitBreakerState = INITIAL_CIRCUIT;
        let now = T0;
        let successes = 0;
        let failures = 0;
        for (const [summary, after] of updates) {
          now += after; // at most 2 s in all: nothing leaves the 10 s window
          state = applyOutcomes(state, summary, now, policy);
          successes += summary.successes;
          failures += summary.failures;
        }
        expect(state.circuit).toBe('closed');
        expect(windowTotals(state, now, policy)).toMatchObject({ successes, failures, volume: successes + failures });
      }),
    );
  });

  it('merging summaries is associative and keeps counts', () => {
    fc.assert(
      fc.property(summaryArb, summaryArb, summaryArb, (a, b, c) => {
        const left = mergeOutcomes(mergeOutcomes(a, b), c);
        const right = mergeOutcomes(a, mergeOutcomes(b, c));
        expect(left).toEqual({ ...right, latency_ms_sum: left.latency_ms_sum });
        expect(left.latency_ms_sum).toBeCloseTo(right.latency_ms_sum, 6);
        expect(left.trailing_failures).toBeLessThanOrEqual(left.failures);
      }),
    );
  });
});
