import fc from 'fast-check';
import type {
  Candidate,
  ExclusionReason,
  Model,
  ModelRuntime,
  RouteQuery,
  RoutingOptions,
  RoutingSnapshot,
  RoutingStrategy,
} from '../src/index.js';
import { CIRCUIT_STATES, HEALTH_STATES, ROUTING_STRATEGIES, estimateCost, route } from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries: random catalogs (prices, windows, capabilities, providers, enabled flags, circuit
// states, observed stats, budget blocks), random queries and random routing options.
// ---------------------------------------------------------------------------------------------

const PROVIDERS = ['openai', 'anthropic', 'google', 'meta', 'mistral'] as const;
const CAPABILITIES = ['chat', 'vision', 'tools', 'json_mode', 'reasoning'] as const;

// A few list prices recur so that ties happen; the rest are arbitrary.
const priceArb = fc.oneof(
  fc.constantFrom(0, 0.00015, 0.0006, 0.0025, 0.003, 0.01, 0.015),
  fc.double({ min: 0, max: 0.1, noNaN: true, noDefaultInfinity: true }),
);
const latencyArb = fc.oneof(fc.constantFrom(200, 500, 800), fc.integer({ min: 0, max: 5000 }));
const windowArb = fc.oneof(fc.constantFrom(8192, 32_768, 128_000, 200_000, 1_000_000), fc.integer({ min: 1, max: 300_000 }));
const maxOutputArb = fc.oneof(fc.constantFrom(4096, 8192, 16_384, 65_536), fc.integer({ min: 1, max: 100_000 }));

const statsArb = fc.integer({ min: 0, max: 200 }).chain((n) =>
  fc.record({
    sample_count: fc.constant(n),
    success_count: fc.integer({ min: 0, max: n }),
    p50_latency_ms: fc.option(latencyArb, { nil: null }),
  }),
);

const runtimeArb: fc.Arbitrary<ModelRuntime> = fc.record({
  health: fc.constantFrom(...HEALTH_STATES),
  circuit: fc.oneof({ arbitrary: fc.constant('closed' as const), weight: 4 }, fc.constantFrom(...CIRCUIT_STATES)),
  stats: fc.option(statsArb, { nil: null }),
});

interface Entry {
  model: Model;
  /** undefined: the snapshot has no runtime state for the model yet. */
  runtime: ModelRuntime | undefined;
  budgetBlocked: boolean;
}

const entryArb: fc.Arbitrary<Entry> = fc.record({
  model: fc.record({
    id: fc.stringMatching(/^[a-z][a-z0-9.-]{0,7}$/),
    name: fc.string({ maxLength: 10 }),
    provider: fc.constantFrom(...PROVIDERS),
    input_price_per_1k: priceArb,
    output_price_per_1k: priceArb,
    context_window: windowArb,
    max_output_tokens: maxOutputArb,
    capabilities: fc.oneof(fc.constant<string[]>([...CAPABILITIES]), fc.subarray<string>([...CAPABILITIES])),
    enabled: fc.oneof({ arbitrary: fc.constant(true), weight: 5 }, { arbitrary: fc.constant(false), weight: 1 }),
    latency_ms: latencyArb,
    endpoint: fc.constant(null),
  }),
  runtime: fc.option(runtimeArb, { nil: undefined }),
  budgetBlocked: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
});

const entriesArb = fc.uniqueArray(entryArb, { selector: (e) => e.model.id, maxLength: 15, size: 'medium' });

function snapshotOf(entries: readonly Entry[]): RoutingSnapshot {
  const runtime = new Map<string, ModelRuntime>();
  const budget_blocked = new Map<string, string>();
  for (const e of entries) {
    if (e.runtime) runtime.set(e.model.id, e.runtime);
    if (e.budgetBlocked) budget_blocked.set(e.model.id, `budget-${e.model.id}`);
  }
  return { models: entries.map((e) => e.model), runtime, budget_blocked, version: 7 };
}

/** `arb` in a quarter of the cases, else absent: most queries should leave several models eligible. */
const sometimes = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });

const queryArb: fc.Arbitrary<RouteQuery> = fc.record({
  prompt_tokens: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 4000 }), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 250_000 }), weight: 1 },
  ),
  max_tokens: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 4000 }), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 80_000 }), weight: 1 },
  ),
  strategy: fc.constantFrom(...ROUTING_STRATEGIES),
  required_capabilities: sometimes(fc.subarray([...CAPABILITIES], { maxLength: 2 })),
  providers: sometimes(fc.subarray([...PROVIDERS])),
  // The calling key's allow-lists; model ids are drawn from a small alphabet, so some match.
  key: sometimes(
    fc.record({
      allowed_models: fc.oneof(fc.constant<string[]>([]), fc.array(fc.stringMatching(/^[a-z][a-z0-9.-]{0,1}$/), { maxLength: 12 })),
      allowed_providers: fc.oneof(fc.constant<string[]>([]), fc.subarray([...PROVIDERS])),
    }),
  ),
  max_cost_usd: sometimes(fc.oneof(fc.constantFrom(0, 0.001, 0.01), fc.double({ min: 0, max: 5, noNaN: true }))),
  max_latency_ms: sometimes(fc.integer({ min: 0, max: 5000 })),
});

const weightArb = fc.double({ min: 0.01, max: 1, noNaN: true });
const optionsArb: fc.Arbitrary<RoutingOptions> = fc.record({
  min_samples: fc.integer({ min: 0, max: 50 }),
  max_fallbacks: fc.integer({ min: 0, max: 6 }),
  balanced_weights: fc.record({ cost: weightArb, latency: weightArb, availability: weightArb }),
});

const scenarioArb = fc.record({ entries: entriesArb, query: queryArb, opts: optionsArb });
const withStrategy = (strategy: RoutingStrategy) =>
  scenarioArb.map((s) => ({ ...s, query: { ...s.query, strategy } }));

const RUNS = { numRuns: 300 };

// ---------------------------------------------------------------------------------------------
// The spec's rules, re-derived here independently of src/routing/filters.ts.
// ---------------------------------------------------------------------------------------------

/** Expected latency: the observed p50 once there are min_samples samples, else the nominal latency. */
function latencyOf(e: Entry, opts: RoutingOptions): number {
  const s = e.runtime?.stats;
  return s && s.sample_count >= opts.min_samples && s.p50_latency_ms !== null ? s.p50_latency_ms : e.model.latency_ms;
}

/** Laplace-smoothed success rate; 0.5 without observations. */
function successRateOf(e: Entry): number {
  const s = e.runtime?.stats;
  return s ? (s.success_count + 1) / (s.sample_count + 2) : 0.5;
}

const costOf = (e: Entry, q: RouteQuery): number => estimateCost(e.model, q.prompt_tokens, q.max_tokens).estimated_cost;

/** Every rule of SPEC.md "Routing and models" a model breaks, in the documented order. */
function brokenRules(e: Entry, q: RouteQuery, opts: RoutingOptions): ExclusionReason[] {
  const m = e.model;
  const broken: ExclusionReason[] = [];
  if (!m.enabled) broken.push('disabled');
  const key = q.key;
  if (
    key !== undefined &&
    ((key.allowed_models.length > 0 && !key.allowed_models.includes(m.id)) ||
      (key.allowed_providers.length > 0 && !key.allowed_providers.includes(m.provider)))
  ) {
    broken.push('key_not_allowed');
  }
  if (q.providers !== undefined && q.providers.length > 0 && !q.providers.includes(m.provider)) {
    broken.push('provider_not_allowed');
  }
  if ((q.required_capabilities ?? []).some((c) => !m.capabilities.includes(c))) broken.push('missing_capabilities');
  if (m.context_window < q.prompt_tokens + q.max_tokens) broken.push('context_window_exceeded');
  if (m.max_output_tokens < q.max_tokens) broken.push('max_output_tokens_exceeded');
  if (e.runtime?.circuit === 'open') broken.push('circuit_open'); // half_open lets trials through
  if (e.budgetBlocked) broken.push('budget_exceeded');
  if (q.max_cost_usd !== undefined && costOf(e, q) > q.max_cost_usd) broken.push('max_cost_exceeded');
  if (q.max_latency_ms !== undefined && latencyOf(e, opts) > q.max_latency_ms) broken.push('max_latency_exceeded');
  return broken;
}

function eligibleEntries(entries: readonly Entry[], q: RouteQuery, opts: RoutingOptions): Entry[] {
  return entries.filter((e) => brokenRules(e, q, opts).length === 0);
}

const idsOf = (cs: readonly Candidate[]): string[] => cs.map((c) => c.model.id);

/** Fisher–Yates with fast-check-chosen swap indices, so a failing order shrinks and replays. */
function permute<T>(items: readonly T[], picks: readonly number[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = (picks[i] ?? 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('routing properties', () => {
  it('(1) cheapest never returns a model whose estimate is above another eligible model’s', () => {
    fc.assert(
      fc.property(withStrategy('cheapest'), ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        const eligible = eligibleEntries(entries, query, opts);
        expect(d.ok).toBe(eligible.length > 0);
        if (!d.ok) return;
        const chosen = d.chosen.model.id;
        const chosenCost = costOf(entries.find((e) => e.model.id === chosen)!, query);
        expect(d.chosen.estimated_cost).toBe(chosenCost);
        for (const e of eligible) expect(chosenCost).toBeLessThanOrEqual(costOf(e, query));
        // And the whole ranking is cheapest-first, as are the fallbacks.
        for (let i = 1; i < d.ranked.length; i++) {
          expect(d.ranked[i - 1]!.estimated_cost).toBeLessThanOrEqual(d.ranked[i]!.estimated_cost);
        }
      }),
      RUNS,
    );
  });

  it('(2) no strategy ever returns a model that a filter excludes, and every eligible model is ranked', () => {
    fc.assert(
      fc.property(scenarioArb, ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        const eligible = new Set(eligibleEntries(entries, query, opts).map((e) => e.model.id));
        if (!d.ok) {
          expect(eligible.size).toBe(0);
        } else {
          expect(eligible.has(d.chosen.model.id)).toBe(true);
          for (const id of d.fallbacks) expect(eligible.has(id)).toBe(true);
          expect(new Set(idsOf(d.ranked))).toEqual(eligible);
        }
        // Each exclusion names the first rule the model breaks, in the documented order.
        for (const x of d.excluded) {
          const e = entries.find((en) => en.model.id === x.model_id)!;
          expect(x.reason).toBe(brokenRules(e, query, opts)[0]);
        }
      }),
      RUNS,
    );
  });

  it('(3a) the same input and snapshot give the same answer', () => {
    fc.assert(
      fc.property(scenarioArb, ({ entries, query, opts }) => {
        const first = route(snapshotOf(entries), query, opts);
        // A structurally equal copy of everything, so no identity or hidden state can matter.
        const copy = structuredClone({ entries, query, opts });
        const second = route(snapshotOf(copy.entries), copy.query, copy.opts);
        expect(second).toEqual(first);
        // Routing twice on the very same snapshot also agrees, and leaves the snapshot unchanged.
        const snap = snapshotOf(entries);
        const before = structuredClone(snap);
        expect(route(snap, query, opts)).toEqual(first);
        expect(snap).toEqual(before);
      }),
      RUNS,
    );
  });

  it('(3b) shuffling the models in the snapshot changes neither the choice nor the ranking', () => {
    fc.assert(
      fc.property(scenarioArb, fc.array(fc.nat(), { minLength: 15, maxLength: 15 }), ({ entries, query, opts }, picks) => {
        const a = route(snapshotOf(entries), query, opts);
        const b = route(snapshotOf(permute(entries, picks)), query, opts);
        expect(b.ok).toBe(a.ok);
        if (a.ok && b.ok) {
          expect(b.chosen.model.id).toBe(a.chosen.model.id);
          expect(b.chosen.score).toBe(a.chosen.score);
          expect(idsOf(b.ranked)).toEqual(idsOf(a.ranked));
          expect(b.fallbacks).toEqual(a.fallbacks);
          expect(b.reason).toBe(a.reason);
        }
        const byId = (x: { model_id: string }, y: { model_id: string }) => (x.model_id < y.model_id ? -1 : 1);
        expect([...b.excluded].sort(byId)).toEqual([...a.excluded].sort(byId));
      }),
      RUNS,
    );
  });

  it('(4) fastest never returns a model with expected latency above another eligible one', () => {
    fc.assert(
      fc.property(withStrategy('fastest'), ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        if (!d.ok) return;
        const chosen = entries.find((e) => e.model.id === d.chosen.model.id)!;
        const chosenLatency = latencyOf(chosen, opts);
        expect(d.chosen.estimated_latency_ms).toBe(chosenLatency);
        for (const e of eligibleEntries(entries, query, opts)) {
          expect(chosenLatency).toBeLessThanOrEqual(latencyOf(e, opts));
        }
      }),
      RUNS,
    );
  });

  it('(5) every model appears exactly once, either ranked or excluded', () => {
    fc.assert(
      fc.property(scenarioArb, ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        const seen = [...(d.ok ? idsOf(d.ranked) : []), ...d.excluded.map((x) => x.model_id)];
        expect(seen.sort()).toEqual(entries.map((e) => e.model.id).sort());
      }),
      RUNS,
    );
  });

  it('most_available never returns a model with a lower smoothed success rate than another eligible one', () => {
    fc.assert(
      fc.property(withStrategy('most_available'), ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        if (!d.ok) return;
        const chosen = entries.find((e) => e.model.id === d.chosen.model.id)!;
        expect(d.chosen.success_rate).toBe(successRateOf(chosen));
        for (const e of eligibleEntries(entries, query, opts)) {
          expect(successRateOf(chosen)).toBeGreaterThanOrEqual(successRateOf(e));
        }
      }),
      RUNS,
    );
  });

  it('balanced chooses the best weighted score, computed here from the documented formula', () => {
    fc.assert(
      fc.property(withStrategy('balanced'), ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        if (!d.ok) return;
        const eligible = eligibleEntries(entries, query, opts);
        const minCost = Math.min(...eligible.map((e) => costOf(e, query)));
        const minLatency = Math.min(...eligible.map((e) => latencyOf(e, opts)));
        const maxRate = Math.max(...eligible.map(successRateOf));
        const rel = (best: number, x: number) => (x === best ? 1 : best / x);
        const w = opts.balanced_weights;
        const expected = new Map(
          eligible.map((e) => [
            e.model.id,
            (w.cost * rel(minCost, costOf(e, query)) +
              w.latency * rel(minLatency, latencyOf(e, opts)) +
              (w.availability * successRateOf(e)) / maxRate) /
              (w.cost + w.latency + w.availability),
          ]),
        );
        // Scores agree with the formula (the implementation adds 1e-12 to avoid 0/0, hence 2 digits).
        for (const c of d.ranked) expect(c.score).toBeCloseTo(expected.get(c.model.id)!, 2);
        // The ranking is by score, best first.
        for (let i = 1; i < d.ranked.length; i++) expect(d.ranked[i - 1]!.score).toBeGreaterThanOrEqual(d.ranked[i]!.score);
        expect(expected.get(d.chosen.model.id)!).toBeGreaterThanOrEqual(Math.max(...expected.values()) - 2e-3);
      }),
      RUNS,
    );
  });

  it('the chosen model heads the ranking and the fallbacks are the next max_fallbacks ranked models', () => {
    fc.assert(
      fc.property(scenarioArb, ({ entries, query, opts }) => {
        const d = route(snapshotOf(entries), query, opts);
        if (!d.ok) return;
        expect(d.ranked[0]).toBe(d.chosen);
        expect(d.fallbacks).toEqual(idsOf(d.ranked).slice(1, 1 + opts.max_fallbacks));
        expect(d.fallbacks).not.toContain(d.chosen.model.id);
        expect(new Set(d.fallbacks).size).toBe(d.fallbacks.length);
      }),
      RUNS,
    );
  });
  it('ranking only the top (the hot path) gives the same choice, fallbacks and exclusions as ranking all', () => {
    fc.assert(
      fc.property(scenarioArb, ({ entries, query, opts }) => {
        const full = route(snapshotOf(entries), query, opts, { rankAll: true });
        const top = route(snapshotOf(entries), query, opts, { rankAll: false });
        expect(top.ok).toBe(full.ok);
        expect(top.excluded).toEqual(full.excluded);
        if (!full.ok || !top.ok) return;
        expect(top.chosen).toEqual(full.chosen);
        expect(top.fallbacks).toEqual(full.fallbacks);
        expect(top.reason).toBe(full.reason);
        expect(top.ranked).toEqual(full.ranked.slice(0, 1 + opts.max_fallbacks));
        expect(idsOf(top.candidates).sort()).toEqual(idsOf(full.ranked).sort());
      }),
      RUNS,
    );
  });
});
