/**
 * The metrics endpoints publish the events `toEvents` builds without a second schema check
 * (`trusted`), because the consumer would reject an invalid one and with it a whole accepted batch.
 * This checks the premise: for any metric the endpoint's schema accepts and any model the registry
 * can hold, the events satisfy the catalog's schemas, or the request is refused as a whole.
 */
import { describe, expect, it } from '@jest/globals';
import type { Model } from '@model-router/domain';
import { ApiError } from '@model-router/http';
import { costRecordedEvent, metricRecordedEvent } from '@model-router/queue';
import fc from 'fast-check';
import { metricInputSchema, type MetricInput } from '../src/ingestion/metric.schema.js';
import { costEventsOf, toEvents } from '../src/ingestion/metric-events.js';
import { createModelSchema } from '../src/models/model.schema.js';

const idArb = fc.oneof(
  fc.string({ minLength: 1, maxLength: 256 }),
  // Any UTF-16 code units, lone surrogates and NUL included: the schema must refuse what Postgres cannot store.
  fc.string({ minLength: 1, maxLength: 256, unit: 'binary' }),
  fc.constantFrom('x', 'user-1', 'é'.repeat(256), '€'.repeat(171), ' ', '\u{1F600}', 'a\u0000b', '\ud800'),
);
const tokensArb = fc.oneof(fc.integer({ min: 0, max: 100_000_000 }), fc.constantFrom(0, 100_000_000));
const isoArb = fc
  .oneof(
    fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2999-12-31T23:59:59Z'), noInvalidDate: true }),
    // Around now, where the ingestion window (7 days back, 5 minutes ahead) has its edges.
    fc.integer({ min: -8 * 86_400_000, max: 600_000 }).map((offset) => new Date(Date.now() + offset)),
  )
  .chain((d) =>
    fc.constantFrom(d.toISOString(), d.toISOString().replace('Z', '+08:00'), d.toISOString().replace(/\.\d{3}Z$/, 'Z')),
  );

/** Metrics the endpoint accepts: every optional field present or not, values up to each bound. */
const metricArb = fc
  .record(
    {
      model_id: fc.constantFrom('m-cheap', 'm-free', 'm-dear'),
      success: fc.boolean(),
      latency_ms: fc.oneof(fc.double({ min: 0, max: 3_600_000, noNaN: true }), fc.constantFrom(0, 3_600_000)),
      prompt_tokens: tokensArb,
      completion_tokens: tokensArb,
      tokens: tokensArb,
      cost: fc.oneof(fc.double({ min: 0, max: 1_000, noNaN: true }), fc.constantFrom(0, 1_000)),
      user_id: idArb,
      request_id: idArb,
      ab_test_id: idArb,
      variant_id: idArb,
      event_id: idArb,
      timestamp: isoArb,
    },
    { requiredKeys: ['model_id', 'success', 'latency_ms'] },
  )
  .filter((m) => metricInputSchema.safeParse(m).success) as fc.Arbitrary<MetricInput>;

const model = (id: string, provider: string, input: number, output: number): Model => {
  const parsed = createModelSchema.parse({
    id,
    name: id,
    provider,
    input_price_per_1k: input,
    output_price_per_1k: output,
    context_window: 128_000,
    max_output_tokens: 4096,
    capabilities: [],
    enabled: true,
    latency_ms: 500,
    endpoint: null,
  });
  return parsed as Model;
};

const modelsArb = fc
  .record({
    provider: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,63}$/),
    cheap: fc.double({ min: 0, max: 1, noNaN: true }),
    dear: fc.double({ min: 0, max: 10_000, noNaN: true }),
  })
  .map(
    ({ provider, cheap, dear }) =>
      new Map([
        ['m-cheap', model('m-cheap', provider, cheap, cheap * 3)],
        ['m-free', model('m-free', provider, 0, 0)],
        ['m-dear', model('m-dear', provider, dear, 10_000)],
      ]),
  );

describe('toEvents', () => {
  it('builds events the catalog accepts, or refuses the whole request with a 400', () => {
    let refused = 0;
    let built = 0;
    fc.assert(
      fc.property(fc.array(metricArb, { minLength: 1, maxLength: 5 }), modelsArb, (metrics, models) => {
        let events;
        const now = new Date();
        try {
          events = toEvents(metrics, models, now);
        } catch (error) {
          expect(error).toBeInstanceOf(ApiError);
          expect((error as ApiError).status).toBe(400);
          refused++;
          return;
        }
        built++;
        expect(events).toHaveLength(metrics.length);
        for (const event of events) {
          expect(metricRecordedEvent.safeParse(event).error).toBeUndefined();
          // Inside the window around now, in UTC.
          expect(Date.parse(event.occurred_at)).toBeGreaterThanOrEqual(now.getTime() - 7 * 86_400_000);
          expect(Date.parse(event.occurred_at)).toBeLessThanOrEqual(now.getTime() + 300_000);
          expect(event.occurred_at).toBe(new Date(Date.parse(event.occurred_at)).toISOString());
        }
        for (const cost of costEventsOf(events)) expect(costRecordedEvent.safeParse(cost).error).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
    // Both outcomes really happen: the property is not vacuous.
    expect(built).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(0);
  });

  it('refuses a cost above the per-call bound ($1,000, so that sums stay exact in nano-dollars), naming the metric', () => {
    const models = new Map([['m-dear', model('m-dear', 'p', 10_000, 10_000)]]);
    const metrics: MetricInput[] = [
      { model_id: 'm-dear', success: true, latency_ms: 1, prompt_tokens: 1 },
      { model_id: 'm-dear', success: true, latency_ms: 1, prompt_tokens: 100_000_000, completion_tokens: 100_000_000 },
    ];
    expect(() => toEvents(metrics, models, new Date())).toThrow(
      expect.objectContaining({ code: 'VALIDATION_ERROR', details: [expect.objectContaining({ path: 'metrics.1.prompt_tokens' })] }),
    );
  });

  it('gives the budget enforcer one cost event per event that cost something, with the same id', () => {
    const models = new Map([
      ['m-free', model('m-free', 'p', 0, 0)],
      ['m-cheap', model('m-cheap', 'p', 0.001, 0.002)],
    ]);
    const events = toEvents(
      [
        { model_id: 'm-free', success: true, latency_ms: 1, prompt_tokens: 10, event_id: 'a' },
        { model_id: 'm-cheap', success: true, latency_ms: 1, prompt_tokens: 1000, completion_tokens: 500, event_id: 'b' },
      ],
      models,
      new Date(),
    );
    expect(costEventsOf(events)).toEqual([expect.objectContaining({ event_id: 'b', cost_nanos: 2_000_000 })]);
  });
});
