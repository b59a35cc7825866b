import { checkGuardrails, countAtOrAbove, type GuardrailInputs } from '../src/index.js';

const OPTIONS = { alpha: 0.05, tuning_n: 2000 };

function inputs(over: Partial<GuardrailInputs> = {}): GuardrailInputs {
  return {
    variant_id: 'b',
    users: 2000,
    success_rate: { control: 0.95, diff: 0, se: 0.005 },
    cost_per_request: { control: 0.002, diff: 0, se: 0.00002 },
    latency: { control_p95: 1000, treatment: null },
    ...over,
  };
}

describe('guardrails', () => {
  it('trip on an error rate clearly above the tolerance, not within it', () => {
    // Control error rate 5 %; the treatment's is 10 % (+100 %), tolerance 20 %.
    const bad = checkGuardrails([{ metric: 'error_rate', tolerance: 0.2 }], inputs({ success_rate: { control: 0.95, diff: -0.05, se: 0.005 } }), OPTIONS);
    expect(bad[0]).toMatchObject({ metric: 'error_rate', variant_id: 'b', tripped: true });
    expect(bad[0]!.observed).toBeCloseTo(1, 9);
    const ok = checkGuardrails([{ metric: 'error_rate', tolerance: 0.2 }], inputs({ success_rate: { control: 0.95, diff: -0.005, se: 0.005 } }), OPTIONS);
    expect(ok[0]!.tripped).toBe(false);
    // Better than the control: never tripped.
    const better = checkGuardrails([{ metric: 'error_rate', tolerance: 0 }], inputs({ success_rate: { control: 0.95, diff: 0.04, se: 0.001 } }), OPTIONS);
    expect(better[0]!.tripped).toBe(false);
  });

  it('trip on cost per request only when the whole sequence is past the margin', () => {
    const worse = (diff: number, se: number) =>
      checkGuardrails([{ metric: 'cost_per_request', tolerance: 0.1 }], inputs({ cost_per_request: { control: 0.002, diff, se } }), OPTIONS)[0]!;
    expect(worse(0.001, 0.00005).tripped).toBe(true); // +50 %, precise
    expect(worse(0.001, 0.002).tripped).toBe(false); // +50 %, but far too noisy to say
    expect(worse(0.0001, 0.00001).tripped).toBe(false); // +5 %: within tolerance
  });

  it('count the requests above a latency threshold from a histogram', () => {
    const h = { bounds: [10, 100, 1000], counts: [5, 10, 20, 7] };
    expect(countAtOrAbove(h, 0)).toBe(42);
    expect(countAtOrAbove(h, 100)).toBe(27);
    expect(countAtOrAbove(h, 2000)).toBe(7);
    // Half-way (geometrically) into [100, 1000): half of that bucket.
    expect(countAtOrAbove(h, Math.sqrt(100 * 1000))).toBeCloseTo(7 + 10, 9);
  });

  it('trip on p95 latency when far more than 5 % of treatment requests exceed (1 + tolerance)·control p95', () => {
    const bounds = [100, 500, 1000, 1500, 3000];
    const slow = { bounds, counts: [0, 500, 300, 100, 80, 20] }; // 20 % at or above 1,500 ms
    const fine = { bounds, counts: [0, 700, 280, 18, 2, 0] }; // 0.2 % at or above 1,500 ms
    const g = [{ metric: 'p95_latency_ms' as const, tolerance: 0.5 }];
    expect(checkGuardrails(g, inputs({ latency: { control_p95: 1000, treatment: slow } }), OPTIONS)[0]!.tripped).toBe(true);
    expect(checkGuardrails(g, inputs({ latency: { control_p95: 1000, treatment: fine } }), OPTIONS)[0]!.tripped).toBe(false);
    expect(checkGuardrails(g, inputs({ latency: { control_p95: null, treatment: slow } }), OPTIONS)[0]!.tripped).toBe(false);
  });

  it('never trip without data', () => {
    const none = inputs({ success_rate: { control: null, diff: null, se: null }, cost_per_request: { control: null, diff: null, se: null } });
    const checks = checkGuardrails([{ metric: 'error_rate', tolerance: 0 }, { metric: 'cost_per_request', tolerance: 0 }, { metric: 'p95_latency_ms', tolerance: 0 }], none, OPTIONS);
    expect(checks.map((c) => c.tripped)).toEqual([false, false, false]);
  });
});
