import fc from 'fast-check';
import { estimateCost, roundUsd } from '../src/index.js';
import { model, perMillion } from './fixtures.js';

describe('estimateCost', () => {
  it('prices prompt tokens at the input price and max_tokens at the output price (GPT-4o list prices)', () => {
    // $2.50 / M input, $10 / M output: 1000 × 2.5e-6 = 0.0025; 500 × 1e-5 = 0.005.
    const gpt4o = model('gpt-4o', { input_price_per_1k: perMillion(2.5), output_price_per_1k: perMillion(10) });
    expect(estimateCost(gpt4o, 1000, 500)).toEqual({ input_cost: 0.0025, output_cost: 0.005, estimated_cost: 0.0075 });
  });

  it('matches a hand computation with uneven token counts ($3 / $15 per M)', () => {
    // 12,345 × 3e-6 = 0.037035; 678 × 1.5e-5 = 0.01017; sum 0.047205.
    const sonnet = model('sonnet', { input_price_per_1k: 0.003, output_price_per_1k: 0.015 });
    expect(estimateCost(sonnet, 12_345, 678)).toEqual({
      input_cost: 0.037035,
      output_cost: 0.01017,
      estimated_cost: 0.047205,
    });
  });

  it('handles a million-token prompt', () => {
    // 1,000,000 × $1.25/M = 1.25; 100,000 × $10/M = 1.00.
    const m = model('big', { input_price_per_1k: perMillion(1.25), output_price_per_1k: perMillion(10) });
    expect(estimateCost(m, 1_000_000, 100_000)).toEqual({ input_cost: 1.25, output_cost: 1, estimated_cost: 2.25 });
  });

  it('keeps tiny amounts exact to the nano-dollar', () => {
    // 1 × $0.05/M = 5e-8; 1 × $0.40/M = 4e-7; sum 4.5e-7.
    const nano = model('nano', { input_price_per_1k: perMillion(0.05), output_price_per_1k: perMillion(0.4) });
    expect(estimateCost(nano, 1, 1)).toEqual({ input_cost: 5e-8, output_cost: 4e-7, estimated_cost: 4.5e-7 });
  });

  it('charges nothing for zero prompt tokens and for a free model', () => {
    const m = model('m', { input_price_per_1k: perMillion(60), output_price_per_1k: perMillion(240) });
    expect(estimateCost(m, 0, 1000)).toEqual({ input_cost: 0, output_cost: 0.24, estimated_cost: 0.24 });
    const free = model('free', { input_price_per_1k: 0, output_price_per_1k: 0 });
    expect(estimateCost(free, 5000, 5000)).toEqual({ input_cost: 0, output_cost: 0, estimated_cost: 0 });
  });

  it('rounds the total from the unrounded parts', () => {
    // Each part is 4e-10 (rounds to 0 alone) but together they are 8e-10, which rounds to 1e-9.
    const m = model('m', { input_price_per_1k: 4e-7, output_price_per_1k: 4e-7 });
    expect(estimateCost(m, 1, 1)).toEqual({ input_cost: 0, output_cost: 0, estimated_cost: 1e-9 });
  });

  it('is monotone in prompt tokens and max_tokens and equals the sum of its parts to 1e-9', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.integer({ min: 0, max: 2_000_000 }),
        fc.integer({ min: 0, max: 1000 }),
        (inPrice, outPrice, prompt, max, extra) => {
          const m = model('m', { input_price_per_1k: inPrice, output_price_per_1k: outPrice });
          const base = estimateCost(m, prompt, max);
          expect(estimateCost(m, prompt + extra, max).estimated_cost).toBeGreaterThanOrEqual(base.estimated_cost);
          expect(estimateCost(m, prompt, max + extra).estimated_cost).toBeGreaterThanOrEqual(base.estimated_cost);
          expect(Math.abs(base.estimated_cost - (base.input_cost + base.output_cost))).toBeLessThanOrEqual(1.0000001e-9);
          const exact = (prompt * inPrice + max * outPrice) / 1000;
          expect(Math.abs(base.estimated_cost - exact)).toBeLessThanOrEqual(5e-10 + exact * 1e-12);
        },
      ),
    );
  });
});

describe('roundUsd', () => {
  it('removes float noise', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(roundUsd(0.1 + 0.2)).toBe(0.3);
  });

  it('rounds to the nearest 1e-9', () => {
    expect(roundUsd(1.0000000004)).toBe(1);
    expect(roundUsd(1.0000000006)).toBe(1.000000001);
    expect(roundUsd(1.23456789012)).toBe(1.23456789);
    expect(roundUsd(4e-10)).toBe(0);
    expect(roundUsd(6e-10)).toBe(1e-9);
  });
});
