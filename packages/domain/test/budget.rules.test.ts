import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  budgetCovers,
  type BudgetRule,
  budgetState,
  budgetStatus,
  buildBudgetEnforcement,
  budgetsNamed,
  type CostRecord,
  estimateCost,
  NO_BUDGET_ENFORCEMENT,
  nanosToUsd,
  PeriodCalendar,
  periodWindow,
  planRouteBudgets,
  spendDeltas,
  thresholdsCrossed,
  thresholdsReached,
  usdToNanos,
  withBudgetDetails,
} from '../src/index.js';
import { model, perMillion } from './fixtures.js';

const USD = 1_000_000_000;

function rule(id: string, overrides: Partial<BudgetRule> = {}): BudgetRule {
  return {
    id,
    scope: 'global',
    scope_id: null,
    period: 'daily',
    timezone: 'UTC',
    limit_nanos: 10 * USD,
    action: 'block',
    alert_thresholds: [0.5, 0.8, 1.0],
    ...overrides,
  };
}

const NOW = Date.parse('2026-04-02T12:00:00Z');
const statusOf = (r: BudgetRule, spentNanos: number) => budgetStatus(r, periodWindow(r.period, r.timezone, NOW), spentNanos);

describe('money', () => {
  it('is held in integer nano-dollars', () => {
    expect(usdToNanos(0.0075)).toBe(7_500_000);
    expect(usdToNanos(1e-9)).toBe(1);
    expect(nanosToUsd(7_500_000)).toBe(0.0075);
    // 0.1 + 0.2 is not 0.3 in floating point; in nano-dollars it is.
    expect(usdToNanos(0.1) + usdToNanos(0.2)).toBe(usdToNanos(0.3));
  });
});

describe('scope', () => {
  const subject = { model_id: 'gpt-4o', provider: 'openai', user_id: 'alice', key_id: 'key_team' };
  it.each([
    [rule('g'), true],
    [rule('p', { scope: 'provider', scope_id: 'openai' }), true],
    [rule('p2', { scope: 'provider', scope_id: 'anthropic' }), false],
    [rule('m', { scope: 'model', scope_id: 'gpt-4o' }), true],
    [rule('m2', { scope: 'model', scope_id: 'gpt-4o-mini' }), false],
    [rule('u', { scope: 'user', scope_id: 'alice' }), true],
    [rule('u2', { scope: 'user', scope_id: 'bob' }), false],
    [rule('k', { scope: 'key', scope_id: 'key_team' }), true],
    [rule('k2', { scope: 'key', scope_id: 'key_other' }), false],
    // A key budget is not a user budget of the same id, nor the other way round.
    [rule('k3', { scope: 'key', scope_id: 'alice' }), false],
    [rule('u3', { scope: 'user', scope_id: 'key_team' }), false],
  ])('%j covers gpt-4o/openai/alice/key_team: %s', (r, covers) => {
    expect(budgetCovers(r, subject)).toBe(covers);
  });

  it('a user budget never covers spend without a user', () => {
    expect(budgetCovers(rule('u', { scope: 'user', scope_id: 'alice' }), { ...subject, user_id: null })).toBe(false);
  });

  it('a key budget never covers spend without a key', () => {
    expect(budgetCovers(rule('k', { scope: 'key', scope_id: 'key_team' }), { ...subject, key_id: null })).toBe(false);
  });
});

describe('thresholds and state', () => {
  const r = rule('b', { limit_nanos: 3 * USD, alert_thresholds: [0.1, 0.5, 1.0] });

  it('a threshold is reached at exactly its amount (0.1 × $3 is $0.30 to the nano-dollar)', () => {
    expect(thresholdsReached(r, 300_000_000 - 1)).toEqual([]);
    expect(thresholdsReached(r, 300_000_000)).toEqual([0.1]);
    expect(thresholdsReached(r, 3 * USD)).toEqual([0.1, 0.5, 1.0]);
  });

  it('crossing reports each threshold once, however the spend moves between batches', () => {
    expect(thresholdsCrossed(r, 0, 1.6 * USD)).toEqual([0.1, 0.5]);
    expect(thresholdsCrossed(r, 1.6 * USD, 2.9 * USD)).toEqual([]);
    expect(thresholdsCrossed(r, 2.9 * USD, 3.1 * USD)).toEqual([1.0]);
    expect(thresholdsCrossed(r, 3.1 * USD, 9 * USD)).toEqual([]);
  });

  it('ok → warning at the first threshold → exceeded at the limit', () => {
    expect(budgetState(r, 0)).toBe('ok');
    expect(budgetState(r, 299_999_999)).toBe('ok');
    expect(budgetState(r, 300_000_000)).toBe('warning');
    expect(budgetState(r, 3 * USD - 1)).toBe('warning');
    expect(budgetState(r, 3 * USD)).toBe('exceeded');
    expect(statusOf(r, 4 * USD).remaining_nanos).toBe(0);
  });
});

describe('spendDeltas', () => {
  const records: CostRecord[] = [
    { event_id: 'e1', occurred_at_ms: Date.parse('2026-03-08T04:59:00Z'), model_id: 'gpt-4o', provider: 'openai', user_id: 'alice', key_id: 'key_a', cost_nanos: 100 },
    { event_id: 'e2', occurred_at_ms: Date.parse('2026-03-08T05:01:00Z'), model_id: 'gpt-4o', provider: 'openai', user_id: null, key_id: 'key_b', cost_nanos: 20 },
    { event_id: 'e3', occurred_at_ms: Date.parse('2026-03-08T06:00:00Z'), model_id: 'claude-haiku-4-5', provider: 'anthropic', user_id: 'alice', key_id: 'key_a', cost_nanos: 3 },
  ];

  it('sums each budget per period of its own zone, sorted by budget and period', () => {
    const rules = [
      rule('ny', { timezone: 'America/New_York' }),
      rule('alice', { scope: 'user', scope_id: 'alice' }),
      rule('openai', { scope: 'provider', scope_id: 'openai' }),
      rule('key-b', { scope: 'key', scope_id: 'key_b' }),
    ];
    const deltas = spendDeltas(rules, records, new PeriodCalendar());
    expect(deltas.map((d) => [d.budget_id, d.period_key, d.delta_nanos, d.event_count])).toEqual([
      ['alice', '2026-03-08', 103, 2],
      ['key-b', '2026-03-08', 20, 1],
      // 04:59Z is still March 7th in New York (UTC-5); 05:01Z is March 8th.
      ['ny', '2026-03-07', 100, 1],
      ['ny', '2026-03-08', 23, 2],
      ['openai', '2026-03-08', 120, 2],
    ]);
  });

  it('records that are not fresh touch their periods with nothing added', () => {
    const deltas = spendDeltas([rule('g')], records, new PeriodCalendar(), (r) => r.event_id !== 'e1');
    expect(deltas).toEqual([expect.objectContaining({ budget_id: 'g', period_key: '2026-03-08', delta_nanos: 23, event_count: 2 })]);
  });
});

describe('routing enforcement', () => {
  // Estimates for 1,000 prompt tokens and max_tokens 1,000:
  //   cheap  $0.10/M in, $0.40/M out → $0.0001 + $0.0004 = $0.0005
  //   mid    $1/M, $4/M              → $0.001 + $0.004   = $0.005
  //   pricey $10/M, $40/M            → $0.01 + $0.04     = $0.05
  const cheap = model('cheap', { provider: 'acme', input_price_per_1k: perMillion(0.1), output_price_per_1k: perMillion(0.4) });
  const mid = model('mid', { provider: 'acme', input_price_per_1k: perMillion(1), output_price_per_1k: perMillion(4) });
  const pricey = model('pricey', { provider: 'bigco', input_price_per_1k: perMillion(10), output_price_per_1k: perMillion(40) });
  const models = [cheap, mid, pricey];
  const request = { prompt_tokens: 1000, max_tokens: 1000 };

  it('the estimates used are those of estimateCost', () => {
    expect(models.map((m) => estimateCost(m, 1000, 1000).estimated_cost)).toEqual([0.0005, 0.005, 0.05]);
  });

  it('no budgets: nothing is blocked and nothing is allocated', () => {
    const plan = planRouteBudgets(NO_BUDGET_ENFORCEMENT, models, request);
    expect(plan.blocked).toBe(NO_BUDGET_ENFORCEMENT.model_blocked);
    expect(plan.downgraded_by).toBeNull();
  });

  it('an exceeded block budget removes the models in its scope for everyone', () => {
    const bigco = rule('bigco-daily', { scope: 'provider', scope_id: 'bigco', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(bigco, USD)], models);
    expect([...e.model_blocked]).toEqual([['pricey', 'bigco-daily']]);
    expect(planRouteBudgets(e, models, request).blocked).toBe(e.model_blocked);
  });

  it('a block budget that is not exceeded, and an alert_only budget that is, change nothing', () => {
    const e = buildBudgetEnforcement(
      [statusOf(rule('warn', { limit_nanos: USD }), 0.99 * USD), statusOf(rule('alerts', { action: 'alert_only', limit_nanos: USD }), 5 * USD)],
      models,
    );
    expect(planRouteBudgets(e, models, request)).toEqual({ blocked: new Map(), downgraded_by: null });
  });

  it("an exceeded user block budget removes every model for that user only", () => {
    const alice = rule('alice-daily', { scope: 'user', scope_id: 'alice', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(alice, 2 * USD)], models);
    expect([...planRouteBudgets(e, models, { ...request, user_id: 'alice' }).blocked.values()]).toEqual(['alice-daily', 'alice-daily', 'alice-daily']);
    expect(planRouteBudgets(e, models, { ...request, user_id: 'bob' }).blocked.size).toBe(0);
    expect(planRouteBudgets(e, models, request).blocked.size).toBe(0);
  });

  it('downgrade keeps only models whose estimate fits what is left, and ranks cheapest first past a threshold', () => {
    // $1 limit, $0.994 spent: $0.006 left fits cheap ($0.0005) and mid ($0.005), not pricey ($0.05).
    const d = rule('team', { action: 'downgrade', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(d, 994_000_000)], models);
    const plan = planRouteBudgets(e, models, request);
    expect([...plan.blocked]).toEqual([['pricey', 'team']]);
    expect(plan.downgraded_by).toBe('team');

    // Exactly the estimate left still fits.
    const exact = planRouteBudgets(buildBudgetEnforcement([statusOf(d, USD - 5_000_000)], models), models, request);
    expect([...exact.blocked.keys()]).toEqual(['pricey']);
  });

  it('a downgrade budget in state ok removes only what does not fit and keeps the strategy', () => {
    const d = rule('small', { action: 'downgrade', limit_nanos: 10_000_000 }); // $0.01: pricey never fits
    const plan = planRouteBudgets(buildBudgetEnforcement([statusOf(d, 0)], models), models, request);
    expect([...plan.blocked.keys()]).toEqual(['pricey']);
    expect(plan.downgraded_by).toBeNull();
  });

  it('an exceeded downgrade budget leaves nothing that fits', () => {
    const d = rule('team', { action: 'downgrade', limit_nanos: USD });
    const plan = planRouteBudgets(buildBudgetEnforcement([statusOf(d, USD)], models), models, request);
    expect(plan.blocked.size).toBe(3);
  });

  it('a downgrade budget of a model scope leaves the other models alone', () => {
    const d = rule('pricey-cap', { action: 'downgrade', scope: 'model', scope_id: 'pricey', limit_nanos: USD });
    const plan = planRouteBudgets(buildBudgetEnforcement([statusOf(d, USD)], models), models, request);
    expect([...plan.blocked]).toEqual([['pricey', 'pricey-cap']]);
  });

  it('a user downgrade budget applies to that user only', () => {
    const d = rule('bob-cap', { action: 'downgrade', scope: 'user', scope_id: 'bob', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(d, 0.999 * USD)], models);
    expect([...planRouteBudgets(e, models, { ...request, user_id: 'bob' }).blocked.keys()]).toEqual(['mid', 'pricey']);
    expect(planRouteBudgets(e, models, { ...request, user_id: 'carol' }).blocked.size).toBe(0);
  });

  it('an exceeded key block budget removes every model for that key only', () => {
    const team = rule('team-key-daily', { scope: 'key', scope_id: 'key_team', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(team, USD)], models);
    expect(e.model_blocked.size).toBe(0);
    expect([...planRouteBudgets(e, models, { ...request, key_id: 'key_team' }).blocked.values()]).toEqual(['team-key-daily', 'team-key-daily', 'team-key-daily']);
    expect(planRouteBudgets(e, models, { ...request, key_id: 'key_other' }).blocked.size).toBe(0);
    // A user who happens to have the key's id as user id is not that key.
    expect(planRouteBudgets(e, models, { ...request, user_id: 'key_team', key_id: 'key_other' }).blocked.size).toBe(0);
    expect(planRouteBudgets(e, models, request).blocked.size).toBe(0);
  });

  it('a key downgrade budget applies to that key only, and names itself when it ranks cheapest first', () => {
    const d = rule('team-cap', { action: 'downgrade', scope: 'key', scope_id: 'key_team', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(d, 0.999 * USD)], models);
    const mine = planRouteBudgets(e, models, { ...request, key_id: 'key_team' });
    expect([...mine.blocked.keys()]).toEqual(['mid', 'pricey']);
    expect(mine.downgraded_by).toBe('team-cap');
    expect(planRouteBudgets(e, models, { ...request, key_id: 'key_other' })).toEqual({ blocked: e.model_blocked, downgraded_by: null });
  });

  it('a user and a key budget both apply to a request of that user with that key', () => {
    const userCap = rule('bob-cap', { action: 'downgrade', scope: 'user', scope_id: 'bob', limit_nanos: USD });
    const keyBlock = rule('key-block', { scope: 'key', scope_id: 'key_team', limit_nanos: USD });
    const e = buildBudgetEnforcement([statusOf(userCap, 0.999 * USD), statusOf(keyBlock, 0)], models);
    expect([...planRouteBudgets(e, models, { ...request, user_id: 'bob', key_id: 'key_team' }).blocked.keys()]).toEqual(['mid', 'pricey']);
    const blocked = buildBudgetEnforcement([statusOf(userCap, 0), statusOf(keyBlock, USD)], models);
    expect(new Set(planRouteBudgets(blocked, models, { ...request, user_id: 'bob', key_id: 'key_team' }).blocked.values())).toEqual(new Set(['key-block']));
  });

  it('the enforcement is valid until the earliest period end', () => {
    const tokyo = rule('tokyo', { timezone: 'Asia/Tokyo' });
    const e = buildBudgetEnforcement([statusOf(rule('utc'), 0), statusOf(tokyo, 0)], models);
    expect(new Date(e.valid_until_ms).toISOString()).toBe('2026-04-02T15:00:00.000Z');
  });

  it('exclusions name the budget that removed each model', () => {
    const blocked = new Map([['pricey', 'team']]);
    const excluded = withBudgetDetails(
      [
        { model_id: 'pricey', reason: 'budget_exceeded' },
        { model_id: 'old', reason: 'disabled' },
      ],
      blocked,
    );
    expect(excluded).toEqual([
      { model_id: 'pricey', reason: 'budget_exceeded', detail: 'team' },
      { model_id: 'old', reason: 'disabled' },
    ]);
    expect(budgetsNamed(excluded)).toEqual(['team']);
  });
});

describe('key budgets are the key\'s own (generated budgets)', () => {
  const models = [
    model('cheap', { provider: 'acme', input_price_per_1k: perMillion(0.1), output_price_per_1k: perMillion(0.4) }),
    model('mid', { provider: 'acme', input_price_per_1k: perMillion(1), output_price_per_1k: perMillion(4) }),
    model('pricey', { provider: 'bigco', input_price_per_1k: perMillion(10), output_price_per_1k: perMillion(40) }),
  ];
  const keys = ['key_a', 'key_b', 'key_c'];
  const budgetArb = fc.record({
    scope: fc.constantFrom('global' as const, 'provider' as const, 'model' as const, 'user' as const, 'key' as const),
    target: fc.integer({ min: 0, max: 2 }),
    action: fc.constantFrom('block' as const, 'downgrade' as const, 'alert_only' as const),
    limit: fc.integer({ min: 1, max: 2 * USD }),
    spentShare: fc.double({ min: 0, max: 1.5, noNaN: true }),
  });

  it("another key's budgets never change a request's plan", () => {
    fc.assert(
      fc.property(fc.array(budgetArb, { maxLength: 6 }), fc.constantFrom(...keys), fc.option(fc.constantFrom('u1', 'u2'), { nil: undefined }), (specs, caller, user) => {
        const statuses = specs.map((b, i) => {
          const scopeId =
            b.scope === 'global' ? null : b.scope === 'provider' ? ['acme', 'bigco', 'other'][b.target]! : b.scope === 'model' ? models[b.target]!.id : b.scope === 'user' ? `u${b.target}` : keys[b.target]!;
          return statusOf(rule(`b${i}`, { scope: b.scope, scope_id: scopeId, action: b.action, limit_nanos: b.limit }), Math.round(b.limit * b.spentShare));
        });
        const request = { prompt_tokens: 1000, max_tokens: 1000, user_id: user, key_id: caller };
        const withAll = planRouteBudgets(buildBudgetEnforcement(statuses, models), models, request);
        // Only the caller's own key budgets (and the non-key ones) may matter.
        const without = statuses.filter((s) => s.rule.scope !== 'key' || s.rule.scope_id === caller);
        const withOwn = planRouteBudgets(buildBudgetEnforcement(without, models), models, request);
        expect(new Map(withAll.blocked)).toEqual(new Map(withOwn.blocked));
        expect(withAll.downgraded_by).toBe(withOwn.downgraded_by);
        // And a budget of the caller's key that is exceeded with action block removes every model.
        const ownBlock = statuses.find((s) => s.rule.scope === 'key' && s.rule.scope_id === caller && s.rule.action === 'block' && s.state === 'exceeded');
        if (ownBlock) expect(withAll.blocked.size).toBe(models.length);
      }),
      { numRuns: 500 },
    );
  });
});
