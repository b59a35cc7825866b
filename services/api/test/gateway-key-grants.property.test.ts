/**
 * A key's allowed models and providers bind the gateway's choice: for generated catalogs, grants
 * and requests, no model the key may not use is ever the chosen one or a fallback (`router/*`
 * names), and a registry model named explicitly that the key may not use is refused with 403
 * `key_not_allowed` before anything is called; /api/v1/route's decision with an A/B assignment
 * applied keeps to them too, whatever variant was assigned. The router's plan is pure here (no
 * budgets, no A/B assigner), so this runs without Redis or Postgres.
 */
import { describe, expect, it } from '@jest/globals';
import type { StoredAbTest } from '@model-router/database';
import { DEFAULT_ROUTING_OPTIONS, type KeyGrant, keyAllowsModel, type Model, route, ROUTING_STRATEGIES } from '@model-router/domain';
import fc from 'fast-check';
import { OpenAIError } from '../src/gateway/openai-error.js';
import { keyMayJoinTest } from '../src/keys/key-scope.js';
import { applyAssignment } from '../src/abtests/apply-assignment.js';
import { routerFor, snapshotOf } from './gateway-router-fixture.js';

const PROVIDERS = ['openai', 'anthropic', 'google', 'mistral'];

const modelArb = (id: string): fc.Arbitrary<Model> =>
  fc.record({
    provider: fc.constantFrom(...PROVIDERS),
    input: fc.integer({ min: 0, max: 20_000 }),
    output: fc.integer({ min: 0, max: 60_000 }),
    latency: fc.integer({ min: 50, max: 3000 }),
    enabled: fc.constantFrom(true, true, true, false),
    tools: fc.boolean(),
  }).map((m) => ({
    id,
    name: id,
    provider: m.provider,
    input_price_per_1k: m.input / 1e6,
    output_price_per_1k: m.output / 1e6,
    context_window: 128_000,
    max_output_tokens: 16_000,
    capabilities: m.tools ? ['chat', 'tools'] : ['chat'],
    enabled: m.enabled,
    latency_ms: m.latency,
    endpoint: null,
  }));

const catalogArb = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => modelArb(`m${i}`))));

/** A grant naming some of the catalog's models (and ids it does not have) and some providers. */
const grantArb = (models: readonly Model[]): fc.Arbitrary<KeyGrant> =>
  fc
    .record({
      allowed_models: fc.subarray([...models.map((m) => m.id), 'not-in-catalog']),
      allowed_providers: fc.subarray([...PROVIDERS, 'nobody']),
    })
    .map((lists) => ({ id: 'key_generated0000000', name: 'generated', enabled: true, expires_at: null, rpm: null, tpm: null, ...lists }));

const body = (model: string, tools: boolean) => ({
  model,
  messages: [{ role: 'user' as const, content: 'hello there' }],
  max_tokens: 64,
  ...(tools ? { router: { required_capabilities: ['tools'] } } : {}),
});

describe('the gateway keeps to the key\'s allowed models (generated catalogs and grants)', () => {
  it('router/* never chooses nor falls back to a disallowed model, and finds one whenever routing without the key would among the allowed', async () => {
    await fc.assert(
      fc.asyncProperty(
        catalogArb.chain((models) => fc.tuple(fc.constant(models), grantArb(models))),
        fc.constantFrom(...ROUTING_STRATEGIES),
        fc.boolean(),
        async ([models, grant], strategy, tools) => {
          const router = routerFor(snapshotOf(models));
          const request = body(`router/${strategy}`, tools);
          const eligibleAllowed = models.filter((m) => m.enabled && keyAllowsModel(grant, m) && (!tools || m.capabilities.includes('tools')));
          let plan;
          try {
            plan = await router.plan(request as never, { keyId: grant.id, grant });
          } catch (error) {
            expect(error).toBeInstanceOf(OpenAIError);
            expect((error as OpenAIError).code).toBe('no_eligible_model');
            expect(eligibleAllowed).toEqual([]);
            return;
          }
          expect(plan.candidates.length).toBeGreaterThan(0);
          for (const c of plan.candidates) expect(keyAllowsModel(grant, c.model)).toBe(true);
          // Without the key, every eligible model may be chosen; with it, only the allowed ones:
          // the fallbacks come from them, as many as they allow.
          expect(plan.candidates.length).toBe(Math.min(eligibleAllowed.length, 4));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an explicit model the key may not use is refused with 403 key_not_allowed; an allowed one is planned alone', async () => {
    await fc.assert(
      fc.asyncProperty(
        catalogArb.chain((models) => fc.tuple(fc.constant(models), grantArb(models), fc.integer({ min: 0, max: models.length - 1 }))),
        async ([models, grant, index]) => {
          const model = models[index]!;
          const router = routerFor(snapshotOf(models));
          let outcome: { status: number; code: string | null } | { planned: string[] };
          try {
            const plan = await router.plan(body(model.id, false) as never, { keyId: grant.id, grant });
            outcome = { planned: plan.candidates.map((c) => c.model.id) };
          } catch (error) {
            expect(error).toBeInstanceOf(OpenAIError);
            outcome = { status: (error as OpenAIError).status, code: (error as OpenAIError).code };
          }
          if (!model.enabled) expect(outcome).toEqual({ status: 404, code: 'model_not_found' });
          else if (!keyAllowsModel(grant, model)) expect(outcome).toEqual({ status: 403, code: 'key_not_allowed' });
          else expect(outcome).toEqual({ planned: [model.id] });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a key joins an A/B test only when it may use every variant\'s model', () => {
    fc.assert(
      fc.property(
        catalogArb.chain((models) => fc.tuple(fc.constant(models), grantArb(models), fc.subarray(models.map((m) => m.id), { minLength: Math.min(2, models.length) }))),
        ([models, grant, variantModels]) => {
          const test = { id: 't', variants: variantModels.map((model_id, i) => ({ id: `v${i}`, model_id, weight: 1 / variantModels.length })) } as unknown as StoredAbTest;
          const byId = new Map(models.map((m) => [m.id, m]));
          expect(keyMayJoinTest(grant, test, byId)).toBe(variantModels.every((id) => keyAllowsModel(grant, byId.get(id)!)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("/route's decision with any A/B assignment applied never answers nor falls back to a disallowed model", () => {
    fc.assert(
      fc.property(
        catalogArb.chain((models) => fc.tuple(fc.constant(models), grantArb(models), fc.integer({ min: 0, max: models.length - 1 }))),
        fc.constantFrom(...ROUTING_STRATEGIES),
        ([models, grant, variantIndex], strategy) => {
          const snapshot = snapshotOf(models);
          const decision = route(snapshot, { prompt_tokens: 20, max_tokens: 64, strategy, key: grant }, DEFAULT_ROUTING_OPTIONS, { rankAll: false });
          if (!decision.ok) {
            expect(models.filter((m) => m.enabled && keyAllowsModel(grant, m))).toEqual([]);
            return;
          }
          // Whatever variant the user was put in (allowed or not), the answer keeps to the grant.
          const variant = { id: 'v', model_id: models[variantIndex]!.id, weight: 1 };
          const answer = applyAssignment(decision, { test: { id: 't', variants: [variant] } as unknown as StoredAbTest, variant }, 3);
          expect(keyAllowsModel(grant, answer.chosen.model)).toBe(true);
          for (const id of answer.fallbacks) expect(keyAllowsModel(grant, models.find((m) => m.id === id)!)).toBe(true);
          // And it is not safe by ignoring the assignment: an allowed, enabled variant model wins;
          // an enabled one the key may not use is passed over, saying so.
          const variantModel = models[variantIndex]!;
          if (variantModel.enabled && keyAllowsModel(grant, variantModel)) expect(answer.chosen.model.id).toBe(variantModel.id);
          if (variantModel.enabled && !keyAllowsModel(grant, variantModel)) expect(answer.reason).toContain('key_not_allowed');
        },
      ),
      { numRuns: 500 },
    );
  });
});
