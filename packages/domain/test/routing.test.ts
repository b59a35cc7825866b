import type { Candidate, Exclusion, Model, RouteDecision, RouteQuery, RoutingStrategy } from '../src/index.js';
import {
  DEFAULT_ROUTING_OPTIONS,
  EXCLUSION_REASONS,
  ROUTING_STRATEGIES,
  expectedLatencyMs,
  expectedSuccessRate,
  route,
} from '../src/index.js';
import { model, options, perMillion, query, runtime, snapshot, stats } from './fixtures.js';

type Chosen = Extract<RouteDecision, { ok: true }>;

function mustRoute(...args: Parameters<typeof route>): Chosen {
  const decision = route(...args);
  if (!decision.ok) throw new Error(`expected a decision, got exclusions ${JSON.stringify(decision.excluded)}`);
  return decision;
}

const ids = (cs: readonly Candidate[]): string[] => cs.map((c) => c.model.id);
const exclusionOf = (excluded: readonly Exclusion[], id: string): Exclusion | undefined =>
  excluded.find((e) => e.model_id === id);

/** Input price only, so estimated cost = prompt_tokens × price / 1000 (max_tokens is free). */
const priced = (id: string, inPer1k: number, extra: Partial<Model> = {}): Model =>
  model(id, { input_price_per_1k: inPer1k, output_price_per_1k: 0, ...extra });

describe('route: strategies', () => {
  describe('cheapest', () => {
    const catalog = [
      model('gpt-4o', { input_price_per_1k: perMillion(2.5), output_price_per_1k: perMillion(10) }), // 0.0075
      model('gpt-4o-mini', { input_price_per_1k: perMillion(0.15), output_price_per_1k: perMillion(0.6) }), // 0.00045
      model('sonnet', { input_price_per_1k: perMillion(3), output_price_per_1k: perMillion(15) }), // 0.0105
      model('flash', { input_price_per_1k: perMillion(0.3), output_price_per_1k: perMillion(2.5) }), // 0.00155
    ];

    it('chooses the lowest estimated cost and ranks by cost ascending', () => {
      const d = mustRoute(snapshot(catalog), query({ strategy: 'cheapest' }), options());
      expect(d.chosen.model.id).toBe('gpt-4o-mini');
      expect(ids(d.ranked)).toEqual(['gpt-4o-mini', 'flash', 'gpt-4o', 'sonnet']);
      expect(d.ranked.map((c) => c.estimated_cost)).toEqual([0.00045, 0.00155, 0.0075, 0.0105]);
      expect(d.reason).toBe('Strategy cheapest: lowest estimated cost ($0.00045) among 4 eligible models');
    });

    it('scores each candidate as min_cost / cost', () => {
      const d = mustRoute(snapshot(catalog), query({ strategy: 'cheapest' }), options());
      const byId = new Map(d.ranked.map((c) => [c.model.id, c.score]));
      expect(byId.get('gpt-4o-mini')).toBeCloseTo(1, 9);
      expect(byId.get('flash')).toBeCloseTo(0.00045 / 0.00155, 9);
      expect(byId.get('gpt-4o')).toBeCloseTo(0.06, 9);
      expect(byId.get('sonnet')).toBeCloseTo(0.00045 / 0.0105, 9);
    });

    it('uses max_tokens, not only the prompt, in the estimate', () => {
      // A: cheap input, expensive output. B: the reverse. Which is cheaper depends on the mix.
      const a = model('a', { input_price_per_1k: 0.001, output_price_per_1k: 0.1 });
      const b = model('b', { input_price_per_1k: 0.01, output_price_per_1k: 0.01 });
      const promptHeavy = mustRoute(snapshot([a, b]), query({ prompt_tokens: 10_000, max_tokens: 10 }), options());
      expect(promptHeavy.chosen.model.id).toBe('a'); // a: 0.01 + 0.001 = 0.011; b: 0.1 + 0.0001 = 0.1001
      const outputHeavy = mustRoute(snapshot([a, b]), query({ prompt_tokens: 10, max_tokens: 10_000 }), options());
      expect(outputHeavy.chosen.model.id).toBe('b'); // a: 0.00001 + 1 = 1.00001; b: 0.0001 + 0.1 = 0.1001
      expect(outputHeavy.chosen.estimated_cost).toBe(0.1001);
    });
  });

  describe('fastest', () => {
    it('chooses the lowest nominal latency when nothing is observed', () => {
      const catalog = [model('slow', { latency_ms: 1200 }), model('quick', { latency_ms: 250 }), model('mid', { latency_ms: 600 })];
      const d = mustRoute(snapshot(catalog), query({ strategy: 'fastest' }), options());
      expect(d.chosen.model.id).toBe('quick');
      expect(ids(d.ranked)).toEqual(['quick', 'mid', 'slow']);
      expect(d.chosen.estimated_latency_ms).toBe(250);
      expect(d.ranked.map((c) => c.score)).toEqual([1, expect.closeTo(250 / 600, 9), expect.closeTo(250 / 1200, 9)]);
      expect(d.reason).toBe('Strategy fastest: lowest expected latency (250ms) among 3 eligible models');
    });

    it('prefers the observed p50 over nominal latency once min_samples is reached', () => {
      // Nominally "a" is faster, but 20 observations say its p50 is 900 ms.
      const catalog = [model('a', { latency_ms: 200 }), model('b', { latency_ms: 400 })];
      const snap = snapshot(catalog, { a: runtime({ stats: stats(20, 20, 900) }) });
      const d = mustRoute(snap, query({ strategy: 'fastest' }), options({ min_samples: 20 }));
      expect(d.chosen.model.id).toBe('b');
      expect(d.ranked.find((c) => c.model.id === 'a')?.estimated_latency_ms).toBe(900);
    });

    it('ignores the observed p50 below min_samples', () => {
      const catalog = [model('a', { latency_ms: 200 }), model('b', { latency_ms: 400 })];
      const snap = snapshot(catalog, { a: runtime({ stats: stats(19, 19, 900) }) });
      const d = mustRoute(snap, query({ strategy: 'fastest' }), options({ min_samples: 20 }));
      expect(d.chosen.model.id).toBe('a');
      expect(d.chosen.estimated_latency_ms).toBe(200);
    });
  });

  describe('most_available', () => {
    it('chooses the highest Laplace-smoothed success rate, not the highest raw rate', () => {
      // raw: a 1/1 = 100 %, b 95/100 = 95 %. Smoothed: a 2/3 ≈ 0.667, b 96/102 ≈ 0.941.
      const catalog = [model('a'), model('b'), model('c')];
      const snap = snapshot(catalog, {
        a: runtime({ stats: stats(1, 1, null) }),
        b: runtime({ stats: stats(100, 95, null) }),
        c: runtime({ stats: stats(10, 2, null) }), // 3/12 = 0.25
      });
      const d = mustRoute(snap, query({ strategy: 'most_available' }), options());
      expect(ids(d.ranked)).toEqual(['b', 'a', 'c']);
      expect(d.ranked.map((c) => c.success_rate)).toEqual([96 / 102, 2 / 3, 3 / 12]);
      expect(d.ranked.map((c) => c.score)).toEqual([1, expect.closeTo(2 / 3 / (96 / 102), 9), expect.closeTo(0.25 / (96 / 102), 9)]);
      expect(d.reason).toBe('Strategy most_available: highest expected success rate (0.9412) among 3 eligible models');
    });

    it('puts a model without observations (0.5) above one that mostly fails', () => {
      const snap = snapshot([model('failing'), model('unknown')], {
        failing: runtime({ stats: stats(10, 0, null) }), // 1/12
      });
      const d = mustRoute(snap, query({ strategy: 'most_available' }), options());
      expect(d.chosen.model.id).toBe('unknown');
      expect(d.chosen.success_rate).toBe(0.5);
    });
  });

  describe('balanced', () => {
    // cheap: cost 0.001, 1000 ms; quick: cost 0.002, 500 ms; both success rate 0.5 (no stats).
    const catalog = [
      priced('cheap', 0.001, { latency_ms: 1000 }),
      priced('quick', 0.002, { latency_ms: 500 }),
    ];
    const q = query({ strategy: 'balanced', prompt_tokens: 1000 });

    it('scores w_cost·(min_cost/cost) + w_latency·(min_latency/latency) + w_avail·(rate/max_rate) with default weights', () => {
      // cheap: 0.4·1 + 0.3·0.5 + 0.3·1 = 0.85; quick: 0.4·0.5 + 0.3·1 + 0.3·1 = 0.80.
      const d = mustRoute(snapshot(catalog), q, options());
      expect(d.chosen.model.id).toBe('cheap');
      expect(d.ranked[0]?.score).toBeCloseTo(0.85, 9);
      expect(d.ranked[1]?.score).toBeCloseTo(0.8, 9);
      expect(d.reason).toBe(
        'Strategy balanced: best weighted score of cost, latency and availability (0.8500) among 2 eligible models',
      );
    });

    it('follows the weights: latency-heavy weights pick the faster model', () => {
      // cheap: 0.1·1 + 0.8·0.5 + 0.1·1 = 0.6; quick: 0.1·0.5 + 0.8·1 + 0.1·1 = 0.95.
      const d = mustRoute(snapshot(catalog), q, options({ balanced_weights: { cost: 0.1, latency: 0.8, availability: 0.1 } }));
      expect(d.chosen.model.id).toBe('quick');
      expect(d.chosen.score).toBeCloseTo(0.95, 9);
      expect(d.ranked[1]?.score).toBeCloseTo(0.6, 9);
    });

    it('normalises weights that do not sum to 1', () => {
      const d = mustRoute(snapshot(catalog), q, options({ balanced_weights: { cost: 4, latency: 3, availability: 3 } }));
      expect(d.ranked.map((c) => c.score)).toEqual([expect.closeTo(0.85, 9), expect.closeTo(0.8, 9)]);
    });

    it('counts availability: a much more reliable model can win on balance', () => {
      // cheap: success 1/12; quick: 100/102. cheap: 0.4 + 0.15 + 0.3·(1/12)/(100/102) ≈ 0.5755;
      // quick: 0.2 + 0.3 + 0.3 = 0.8.
      const snap = snapshot(catalog, {
        cheap: runtime({ stats: stats(10, 0, null) }),
        quick: runtime({ stats: stats(100, 99, null) }),
      });
      const d = mustRoute(snap, q, options());
      expect(d.chosen.model.id).toBe('quick');
      expect(d.ranked[1]?.score).toBeCloseTo(0.4 + 0.15 + (0.3 * (1 / 12)) / (100 / 102), 9);
    });
  });

  it.each(ROUTING_STRATEGIES)('%s: the chosen model is ranked first and every score is in (0, 1]', (strategy) => {
    const catalog = [
      priced('a', 0.001, { latency_ms: 300 }),
      priced('b', 0.003, { latency_ms: 100 }),
      priced('c', 0.002, { latency_ms: 200 }),
    ];
    const snap = snapshot(catalog, { b: runtime({ stats: stats(50, 40, null) }) });
    const d = mustRoute(snap, query({ strategy }), options());
    expect(d.ranked[0]).toBe(d.chosen);
    expect(d.ranked).toHaveLength(3);
    for (const c of d.ranked) {
      expect(c.score).toBeGreaterThan(0);
      expect(c.score).toBeLessThanOrEqual(1 + 1e-12);
    }
    expect(d.chosen.score).toBeCloseTo(Math.max(...d.ranked.map((c) => c.score)), 12);
  });
});

describe('route: observed statistics', () => {
  const m = model('m', { latency_ms: 700 });

  it('uses the observed p50 from exactly min_samples samples on', () => {
    const opts = options({ min_samples: 5 });
    expect(expectedLatencyMs(m, runtime({ stats: stats(4, 4, 100) }), opts)).toBe(700);
    expect(expectedLatencyMs(m, runtime({ stats: stats(5, 5, 100) }), opts)).toBe(100);
    expect(expectedLatencyMs(m, runtime({ stats: stats(500, 0, 100) }), opts)).toBe(100);
  });

  it('falls back to nominal latency without stats or without a p50', () => {
    expect(expectedLatencyMs(m, runtime({ stats: null }), options())).toBe(700);
    expect(expectedLatencyMs(m, runtime({ stats: stats(1000, 1000, null) }), options())).toBe(700);
  });

  it('smooths the success rate as (successes + 1) / (samples + 2)', () => {
    expect(expectedSuccessRate(runtime({ stats: null }))).toBe(0.5);
    expect(expectedSuccessRate(runtime({ stats: stats(0, 0, null) }))).toBe(0.5);
    expect(expectedSuccessRate(runtime({ stats: stats(1000, 1000, null) }))).toBe(1001 / 1002);
    expect(expectedSuccessRate(runtime({ stats: stats(1000, 0, null) }))).toBe(1 / 1002);
    expect(expectedSuccessRate(runtime({ stats: stats(8, 6, null) }))).toBe(0.7);
  });

  it('does not apply min_samples to the success rate', () => {
    // A handful of failures already lowers the rate below an unobserved model's 0.5.
    expect(expectedSuccessRate(runtime({ stats: stats(3, 0, null) }))).toBe(0.2);
  });

  it('route reports the expected latency and success rate it used', () => {
    const snap = snapshot([m], { m: runtime({ stats: stats(30, 27, 240) }) });
    const d = mustRoute(snap, query({ strategy: 'fastest' }), options({ min_samples: 20 }));
    expect(d.chosen.estimated_latency_ms).toBe(240);
    expect(d.chosen.success_rate).toBe(28 / 32);
  });

  it('uses the default min_samples of 20', () => {
    expect(DEFAULT_ROUTING_OPTIONS.min_samples).toBe(20);
    expect(expectedLatencyMs(m, runtime({ stats: stats(19, 19, 1) }), DEFAULT_ROUTING_OPTIONS)).toBe(700);
    expect(expectedLatencyMs(m, runtime({ stats: stats(20, 20, 1) }), DEFAULT_ROUTING_OPTIONS)).toBe(1);
  });
});

describe('route: filters', () => {
  // "ok" is always eligible, so a decision exists and "x" must be listed as excluded.
  const ok = model('ok');

  function expectExcluded(x: Model, q: RouteQuery, reason: string, snapOverrides?: Parameters<typeof snapshot>): void {
    const snap = snapOverrides ? snapshot(...snapOverrides) : snapshot([ok, x]);
    for (const strategy of ROUTING_STRATEGIES) {
      const d = mustRoute(snap, { ...q, strategy }, options());
      expect(ids(d.ranked)).toEqual(['ok']);
      expect(d.fallbacks).toEqual([]);
      expect(d.excluded).toEqual([{ model_id: x.id, reason, ...(reason === 'budget_exceeded' ? { detail: 'budget-monthly-openai' } : {}) }]);
    }
  }

  function expectEligible(x: Model, q: RouteQuery, snapOverrides?: Parameters<typeof snapshot>): void {
    const snap = snapOverrides ? snapshot(...snapOverrides) : snapshot([ok, x]);
    for (const strategy of ROUTING_STRATEGIES) {
      const d = mustRoute(snap, { ...q, strategy }, options());
      expect(ids(d.ranked).sort()).toEqual(['ok', x.id].sort());
      expect(d.excluded).toEqual([]);
    }
  }

  it('disabled: a disabled model is excluded', () => {
    expectExcluded(model('x', { enabled: false }), query(), 'disabled');
  });

  it("key_not_allowed: the calling key's allowed models and providers (empty lists allow all)", () => {
    const x = model('x', { provider: 'anthropic' });
    expectExcluded(x, query({ key: { allowed_models: ['ok', 'y'], allowed_providers: [] } }), 'key_not_allowed');
    expectExcluded(x, query({ key: { allowed_models: [], allowed_providers: ['openai'] } }), 'key_not_allowed');
    // Both lists apply: an allowed model of a provider the key may not use stays out.
    expectExcluded(x, query({ key: { allowed_models: ['ok', 'x'], allowed_providers: ['openai'] } }), 'key_not_allowed');
    expectEligible(x, query({ key: { allowed_models: ['ok', 'x'], allowed_providers: ['anthropic', 'openai'] } }));
    expectEligible(x, query({ key: { allowed_models: [], allowed_providers: [] } }));
    expectEligible(x, query({ key: undefined }));
  });

  it('provider_not_allowed: only providers in the allow-list pass', () => {
    const x = model('x', { provider: 'anthropic' });
    expectExcluded(x, query({ providers: ['openai', 'google'] }), 'provider_not_allowed');
    expectEligible(x, query({ providers: ['anthropic', 'openai'] }));
    // No allow-list (absent or empty) restricts nothing.
    expectEligible(x, query({ providers: undefined }));
    expectEligible(x, query({ providers: [] }));
  });

  it('missing_capabilities: every required capability must be present', () => {
    const x = model('x', { capabilities: ['chat', 'vision'] });
    const withAll = model('ok', { capabilities: ['chat', 'vision', 'tools', 'json_mode'] });
    expectExcluded(x, query({ required_capabilities: ['vision', 'tools'] }), 'missing_capabilities', [[withAll, x]]);
    expectEligible(x, query({ required_capabilities: ['vision'] }), [[withAll, x]]);
    expectEligible(x, query({ required_capabilities: [] }), [[withAll, x]]);
  });

  it('context_window_exceeded: prompt tokens + max_tokens must fit the window (boundary inclusive)', () => {
    const x = model('x', { context_window: 8192 });
    expectEligible(x, query({ prompt_tokens: 7192, max_tokens: 1000 })); // exactly 8192
    expectExcluded(x, query({ prompt_tokens: 7193, max_tokens: 1000 }), 'context_window_exceeded');
    expectExcluded(x, query({ prompt_tokens: 0, max_tokens: 8193 }), 'context_window_exceeded');
  });

  it('max_output_tokens_exceeded: max_tokens must not exceed the model output limit (boundary inclusive)', () => {
    const x = model('x', { max_output_tokens: 4096 });
    expectEligible(x, query({ prompt_tokens: 10, max_tokens: 4096 }));
    expectExcluded(x, query({ prompt_tokens: 10, max_tokens: 4097 }), 'max_output_tokens_exceeded');
  });

  it('circuit_open: an open circuit excludes; half_open and closed do not', () => {
    const x = model('x');
    expectExcluded(x, query(), 'circuit_open', [[ok, x], { x: runtime({ circuit: 'open', health: 'unhealthy' }) }]);
    expectEligible(x, query(), [[ok, x], { x: runtime({ circuit: 'half_open', health: 'degraded' }) }]);
    expectEligible(x, query(), [[ok, x], { x: runtime({ circuit: 'closed' }) }]);
    // A model without runtime state yet is treated as unknown health with a closed circuit.
    expectEligible(x, query(), [[ok, x], {}]);
  });

  it('budget_exceeded: a model a budget blocks is excluded', () => {
    const x = model('x');
    expectExcluded(x, query(), 'budget_exceeded', [[ok, x], {}, { x: 'budget-monthly-openai' }]);
    expectEligible(x, query(), [[ok, x], {}, { other: 'budget-1' }]);
  });

  it('max_cost_exceeded: the estimate must not exceed max_cost_usd (boundary inclusive)', () => {
    // x costs exactly 0.0075 (1000 × $2.50/M + 500 × $10/M); ok costs 1000 × $1/M + 500 × $2/M = 0.002.
    const x = model('x', { input_price_per_1k: perMillion(2.5), output_price_per_1k: perMillion(10) });
    expectEligible(x, query({ max_cost_usd: 0.0075 }));
    expectExcluded(x, query({ max_cost_usd: 0.0074 }), 'max_cost_exceeded');
    expectExcluded(x, query({ max_cost_usd: 0.002 }), 'max_cost_exceeded');
  });

  it('max_latency_exceeded: the expected latency (observed p50 when known) must not exceed max_latency_ms', () => {
    const x = model('x', { latency_ms: 800 });
    expectEligible(x, query({ max_latency_ms: 800 }));
    expectExcluded(x, query({ max_latency_ms: 799 }), 'max_latency_exceeded');
    // Observed p50 (enough samples) replaces the nominal value in both directions.
    expectEligible(x, query({ max_latency_ms: 500 }), [[ok, x], { x: runtime({ stats: stats(25, 25, 300) }) }]);
    const nominallyFast = model('x', { latency_ms: 100 });
    expectExcluded(nominallyFast, query({ max_latency_ms: 500 }), 'max_latency_exceeded', [
      [ok, nominallyFast],
      { x: runtime({ stats: stats(25, 25, 900) }) },
    ]);
  });

  it('reports the first failing filter, in the documented order', () => {
    // One model per reason; each also fails every later filter, so only the order decides the reason.
    const failsFrom = (i: number): Model => {
      const r = EXCLUSION_REASONS.slice(i);
      return model(`fails-${EXCLUSION_REASONS[i]}`, {
        enabled: !r.includes('disabled'),
        provider: r.includes('key_not_allowed') ? 'keyless' : r.includes('provider_not_allowed') ? 'other' : 'openai',
        capabilities: r.includes('missing_capabilities') ? [] : ['vision'],
        context_window: r.includes('context_window_exceeded') ? 1000 : 100_000,
        max_output_tokens: r.includes('max_output_tokens_exceeded') ? 100 : 10_000,
        input_price_per_1k: r.includes('max_cost_exceeded') ? 1 : 0,
        output_price_per_1k: 0,
        latency_ms: r.includes('max_latency_exceeded') ? 10_000 : 100,
      });
    };
    const catalog = EXCLUSION_REASONS.map((_, i) => failsFrom(i));
    const runtimes = Object.fromEntries(
      catalog.map((m, i) => [m.id, runtime({ circuit: EXCLUSION_REASONS.slice(i).includes('circuit_open') ? 'open' : 'closed' })]),
    );
    const blocked = Object.fromEntries(
      catalog.filter((_, i) => EXCLUSION_REASONS.slice(i).includes('budget_exceeded')).map((m) => [m.id, 'b1']),
    );
    const q = query({
      prompt_tokens: 1000,
      max_tokens: 500,
      providers: ['openai'],
      key: { allowed_models: [], allowed_providers: ['openai', 'other'] },
      required_capabilities: ['vision'],
      max_cost_usd: 0.5,
      max_latency_ms: 1000,
    });
    const limited = Object.fromEntries(
      catalog.filter((_, i) => EXCLUSION_REASONS.slice(i).includes('rate_limited')).map((m) => [m.id, 1]),
    );
    const d = route(snapshot(catalog, runtimes, blocked, limited), q, options());
    expect(d.ok).toBe(false);
    // A budget exclusion names the budget that removed the model.
    expect(d.excluded).toEqual(
      EXCLUSION_REASONS.map((reason) => ({ model_id: `fails-${reason}`, reason, ...(reason === 'budget_exceeded' ? { detail: 'b1' } : {}) })),
    );
  });
});

describe('route: fallbacks', () => {
  // Costs 0.001 .. 0.006 in id order, so cheapest ranks a, b, c, d, e, f.
  const catalog = ['d', 'f', 'a', 'c', 'e', 'b'].map((id) => priced(id, ('abcdef'.indexOf(id) + 1) / 1000));

  it('lists the next-best models in rank order, without the chosen one, capped by max_fallbacks', () => {
    const d = mustRoute(snapshot(catalog), query({ prompt_tokens: 1000 }), options({ max_fallbacks: 3 }));
    expect(d.chosen.model.id).toBe('a');
    expect(d.fallbacks).toEqual(['b', 'c', 'd']);
    expect(d.fallbacks).not.toContain('a');
    expect(ids(d.ranked)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it.each([
    [0, []],
    [1, ['b']],
    [5, ['b', 'c', 'd', 'e', 'f']],
    [50, ['b', 'c', 'd', 'e', 'f']],
  ])('max_fallbacks %i gives %j', (max, expected) => {
    const d = mustRoute(snapshot(catalog), query({ prompt_tokens: 1000 }), options({ max_fallbacks: max }));
    expect(d.fallbacks).toEqual(expected);
  });

  it('never offers an excluded model as a fallback', () => {
    const snap = snapshot(catalog, { b: runtime({ circuit: 'open' }) }, { d: 'budget-1' });
    const d = mustRoute(snap, query({ prompt_tokens: 1000 }), options({ max_fallbacks: 10 }));
    expect(d.fallbacks).toEqual(['c', 'e', 'f']);
  });

  it('is empty when only one model is eligible', () => {
    const d = mustRoute(snapshot([priced('solo', 0.001)]), query(), options());
    expect(d.chosen.model.id).toBe('solo');
    expect(d.fallbacks).toEqual([]);
    expect(d.reason).toBe('Strategy cheapest: lowest estimated cost ($0.001) among 1 eligible model');
  });
});

describe('route: no eligible model', () => {
  it('returns ok: false with every model and its reason', () => {
    const catalog = [model('a', { enabled: false }), model('b', { provider: 'google' }), model('c', { context_window: 100 })];
    const d = route(snapshot(catalog), query({ providers: ['openai'] }), options());
    expect(d).toEqual({
      ok: false,
      excluded: [
        { model_id: 'a', reason: 'disabled' },
        { model_id: 'b', reason: 'provider_not_allowed' },
        { model_id: 'c', reason: 'context_window_exceeded' },
      ],
    });
  });

  it('returns ok: false with no exclusions for an empty catalog', () => {
    for (const strategy of ROUTING_STRATEGIES) {
      expect(route(snapshot([]), query({ strategy }), options())).toEqual({ ok: false, excluded: [] });
    }
  });
});

describe('route: deterministic tie-breaking', () => {
  const twins = (order: string[]): Model[] => order.map((id) => model(id));

  it.each(ROUTING_STRATEGIES)('%s: identical models are ordered by id whatever the catalog order', (strategy) => {
    const forward = mustRoute(snapshot(twins(['m-c', 'm-a', 'm-b'])), query({ strategy }), options());
    const backward = mustRoute(snapshot(twins(['m-b', 'm-a', 'm-c'])), query({ strategy }), options());
    expect(ids(forward.ranked)).toEqual(['m-a', 'm-b', 'm-c']);
    expect(ids(backward.ranked)).toEqual(['m-a', 'm-b', 'm-c']);
    expect(forward.fallbacks).toEqual(['m-b', 'm-c']);
  });

  const cases: [RoutingStrategy, Model[], Record<string, ReturnType<typeof runtime>>, string][] = [
    // Same cost: the lower latency wins (id order would pick "a").
    ['cheapest', [priced('a', 0.001, { latency_ms: 900 }), priced('b', 0.001, { latency_ms: 300 })], {}, 'b'],
    // Same latency: the lower cost wins.
    ['fastest', [priced('a', 0.002, { latency_ms: 300 }), priced('b', 0.001, { latency_ms: 300 })], {}, 'b'],
    // Same success rate: the lower cost wins.
    [
      'most_available',
      [priced('a', 0.002), priced('b', 0.001)],
      { a: runtime({ stats: stats(8, 6, null) }), b: runtime({ stats: stats(8, 6, null) }) },
      'b',
    ],
  ];

  it.each(cases)('%s: ties on the strategy measure are broken by the next criterion', (strategy, catalog, runtimes, winner) => {
    const d = mustRoute(snapshot(catalog, runtimes), query({ strategy, prompt_tokens: 1000 }), options());
    expect(d.chosen.model.id).toBe(winner);
    const reversed = mustRoute(snapshot([...catalog].reverse(), runtimes), query({ strategy, prompt_tokens: 1000 }), options());
    expect(reversed.chosen.model.id).toBe(winner);
  });
});

describe('route: purity', () => {
  it('does not modify the snapshot or the query', () => {
    const catalog = [priced('a', 0.002), priced('b', 0.001, { enabled: false }), priced('c', 0.003)];
    const snap = snapshot(catalog, { a: runtime({ stats: stats(30, 20, 100) }) }, { c: 'b1' });
    const q = query({ strategy: 'balanced', required_capabilities: ['chat'], providers: ['openai'] });
    const before = structuredClone({ snap, q });
    route(snap, q, options());
    expect({ snap, q }).toEqual(before);
    expect(snap.models.map((m) => m.id)).toEqual(['a', 'b', 'c']);
  });
});

