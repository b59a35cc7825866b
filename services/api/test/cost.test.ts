import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const estimate = (body: object) => request(h.api.app).post('/api/v1/cost/estimate').send(body);

describe('POST /api/v1/cost/estimate', () => {
  it('prices a known prompt by the catalog: o200k tokens × input price + max_tokens × output price', async () => {
    // "What is the capital of France?" is 7 o200k_base tokens.
    const res = await estimate({ prompt: 'What is the capital of France?', max_tokens: 100, model_ids: ['gpt-4o', 'claude-haiku-4-5', 'gpt-5-nano'] }).expect(200);
    expect(res.body.prompt_tokens).toBe(7);
    expect(res.body.max_tokens).toBe(100);
    // gpt-5-nano  $0.05/M, $0.40/M: 7 × 5e-8 = 3.5e-7;  100 × 4e-7 = 4e-5   → 4.035e-5
    // haiku-4-5   $1/M,    $5/M:    7 × 1e-6 = 7e-6;    100 × 5e-6 = 5e-4   → 5.07e-4
    // gpt-4o      $2.50/M, $10/M:   7 × 2.5e-6 = 1.75e-5; 100 × 1e-5 = 1e-3 → 1.0175e-3
    expect(res.body.estimates.map((e: Record<string, unknown>) => [e.model_id, e.input_cost, e.output_cost, e.estimated_cost])).toEqual([
      ['gpt-5-nano', 3.5e-7, 4e-5, 4.035e-5],
      ['claude-haiku-4-5', 7e-6, 5e-4, 5.07e-4],
      ['gpt-4o', 1.75e-5, 1e-3, 1.0175e-3],
    ]);
    expect(res.body.estimates[2]).toMatchObject({ provider: 'openai', input_price_per_1k: 0.0025, output_price_per_1k: 0.01 });
  });

  it('takes prompt_tokens instead of a prompt (12,345 in, 678 out on Claude Sonnet 4.5 at $3/$15 per M)', async () => {
    const res = await estimate({ prompt_tokens: 12_345, max_tokens: 678, model_ids: ['claude-sonnet-4-5'] }).expect(200);
    // 12,345 × 3e-6 = 0.037035; 678 × 1.5e-5 = 0.01017.
    expect(res.body.estimates).toEqual([expect.objectContaining({ model_id: 'claude-sonnet-4-5', input_cost: 0.037035, output_cost: 0.01017, estimated_cost: 0.047205 })]);
  });

  it('lists every eligible model cheapest first, and says why the others are left out', async () => {
    // "用户的问题" is 2 tokens; Mistral Small ($0.10/$0.30 per M): 2e-7 + 1000 × 3e-7 = 0.0003002.
    const res = await estimate({ prompt: '用户的问题', max_tokens: 1000 }).expect(200);
    const costs = res.body.estimates.map((e: { estimated_cost: number }) => e.estimated_cost);
    expect(costs).toEqual([...costs].sort((a, b) => a - b));
    expect(res.body.estimates[0]).toMatchObject({ model_id: 'mistral-small-latest', estimated_cost: 0.0003002 });
    expect(res.body.estimates).toHaveLength(22);

    // 10,000 output tokens is more than gpt-4-turbo-preview (4,096) and claude-3-opus (4,096) can write.
    const big = await estimate({ prompt_tokens: 10, max_tokens: 10_000 }).expect(200);
    expect(big.body.excluded).toEqual(
      expect.arrayContaining([
        { model_id: 'gpt-4-turbo-preview', reason: 'max_output_tokens_exceeded' },
        { model_id: 'claude-3-opus-20240229', reason: 'max_output_tokens_exceeded' },
      ]),
    );
    expect(big.body.estimates.some((e: { model_id: string }) => e.model_id === 'gpt-4-turbo-preview')).toBe(false);
  });

  it('is the estimate /route reports', async () => {
    const prompt = 'Summarize the following text in three bullet points.';
    const route = await request(h.api.app).post('/api/v1/route?explain=true').send({ prompt, max_tokens: 300, strategy: 'cheapest' }).expect(200);
    const est = await estimate({ prompt, max_tokens: 300 }).expect(200);
    expect(route.body.prompt_tokens).toBe(est.body.prompt_tokens);
    expect(route.body.estimated_cost).toBe(est.body.estimates.find((e: { model_id: string }) => e.model_id === route.body.model_id).estimated_cost);
    for (const c of route.body.candidates as Array<{ model_id: string; estimated_cost: number }>) {
      expect(c.estimated_cost).toBe(est.body.estimates.find((e: { model_id: string }) => e.model_id === c.model_id).estimated_cost);
    }
  });

  it('leaves a disabled model out', async () => {
    await request(h.api.app).patch('/api/v1/models/deepseek-chat').set(ADMIN).send({ enabled: false }).expect(200);
    const res = await estimate({ prompt_tokens: 5, max_tokens: 5, model_ids: ['deepseek-chat', 'gpt-4o'] }).expect(200);
    expect(res.body.estimates.map((e: { model_id: string }) => e.model_id)).toEqual(['gpt-4o']);
    expect(res.body.excluded).toEqual([{ model_id: 'deepseek-chat', reason: 'disabled' }]);
  });

  const bad: Array<[string, unknown, number, string]> = [
    ['neither prompt nor prompt_tokens', { max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['both prompt and prompt_tokens', { prompt: 'hi', prompt_tokens: 1, max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['negative prompt_tokens', { prompt_tokens: -1, max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['fractional prompt_tokens', { prompt_tokens: 1.5, max_tokens: 10 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens 0', { prompt: 'hi', max_tokens: 0 }, 400, 'VALIDATION_ERROR'],
    ['max_tokens over 2,000,000', { prompt: 'hi', max_tokens: 2_000_001 }, 400, 'VALIDATION_ERROR'],
    ['empty model_ids', { prompt: 'hi', model_ids: [] }, 400, 'VALIDATION_ERROR'],
    ['unknown model', { prompt: 'hi', model_ids: ['gpt-4o', 'no-such-model'] }, 404, 'MODEL_NOT_FOUND'],
    ['unknown field', { prompt: 'hi', colour: 'red' }, 400, 'VALIDATION_ERROR'],
  ];
  it.each(bad)('%s → %i %s', async (_name, body, status, code) => {
    const res = await estimate(body as object).expect(status);
    expect(res.body.error.code).toBe(code);
  });
});
