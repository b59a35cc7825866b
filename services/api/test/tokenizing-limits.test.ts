import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { countPromptTokens, tokenizerWorkTotals, type TokenizerWork } from '@model-router/domain';
import request from 'supertest';
import { ADMIN, type Harness, startHarness } from './harness.js';

// Worst-case prompts just under the 1 MB body limit, over real HTTP, to the two endpoints that
// tokenize. The library alone needs minutes for the first of them; here each answers with the
// exact count, and the tokenizer's counted steps (not the clock) stay linear in the prompt.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});

const BODY_LIMIT = 1024 * 1024;
/** Prompts of at most this many UTF-8 bytes leave room for the JSON around them. */
const PROMPT_BYTES = BODY_LIMIT - 200;

function fill(unit: string): string {
  const bytes = Buffer.byteLength(JSON.stringify(unit).slice(1, -1), 'utf8');
  return unit.repeat(Math.floor(PROMPT_BYTES / bytes));
}

function randomOf(alphabet: string, seed: number): string {
  const chars = [...alphabet];
  const parts: string[] = [];
  let s = seed;
  let bytes = 0; // counted as we go: measuring the growing string each time would be quadratic
  while (bytes < PROMPT_BYTES - 8) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const c = chars[(s >> 8) % chars.length]!;
    parts.push(c);
    bytes += Buffer.byteLength(c, 'utf8');
  }
  return parts.join('');
}

const WORST_CASES: [string, () => string][] = [
  ['one letter, no whitespace (the reported stall)', () => fill('a')],
  ['one two-byte letter', () => fill('é')],
  ['spaces', () => fill(' ')],
  ['uppercase then one lowercase (regex backtracking)', () => fill('A').slice(0, -1) + 'a'],
  ['combining marks', () => fill('\u0301')],
  ['random lowercase letters', () => randomOf('abcdefghijklmnopqrstuvwxyz', 1)],
  ['random punctuation', () => randomOf('!#$%&()*+,-.:;<=>?@[]^_`{|}~', 2)],
  ['emoji ZWJ sequences', () => fill('👨‍👩‍👧')],
];

function workSince(before: Readonly<TokenizerWork>): number {
  const after = tokenizerWorkTotals();
  return (
    after.codePointsExamined - before.codePointsExamined +
    (after.bpeBytes - before.bpeBytes) +
    (after.merges - before.merges) +
    (after.heapOperations - before.heapOperations) +
    (after.pairLookups - before.pairLookups)
  );
}

describe('tokenizing endpoints at the body limit', () => {
  it.each(WORST_CASES)('POST /api/v1/cost/estimate and /api/v1/route count %s exactly, in linear work', async (_name, make) => {
    const prompt = make();
    expect(Buffer.byteLength(JSON.stringify({ prompt, max_tokens: 1 }), 'utf8')).toBeLessThan(BODY_LIMIT);
    const expected = countPromptTokens(prompt);

    let before = tokenizerWorkTotals();
    const estimate = await request(h.api.app).post('/api/v1/cost/estimate').send({ prompt, max_tokens: 1 }).expect(200);
    expect(estimate.body.prompt_tokens).toBe(expected);
    // Same bound as the domain property test: at most 60 counted steps per UTF-16 unit.
    expect(workSince(before)).toBeLessThanOrEqual(60 * prompt.length);

    before = tokenizerWorkTotals();
    const route = await request(h.api.app).post('/api/v1/route').send({ prompt, max_tokens: 1 });
    expect(workSince(before)).toBeLessThanOrEqual(60 * prompt.length);
    if (route.status === 200) {
      expect(route.body.prompt_tokens).toBe(expected);
    } else {
      // No model's context window holds this many tokens: a clear JSON refusal, not a stall.
      expect(route.status).toBeGreaterThanOrEqual(400);
      expect(route.status).toBeLessThan(600);
      expect(route.body.error.code).toEqual(expect.any(String));
    }
  });

  it('counts the reported case exactly: a run of "a" is one o200k token per 8 letters', async () => {
    const prompt = 'a'.repeat(1_000_000);
    const res = await request(h.api.app).post('/api/v1/cost/estimate').send({ prompt, max_tokens: 1 }).expect(200);
    expect(res.body.prompt_tokens).toBe(125_000);
  });

  it('refuses a body over the limit with 413 and a JSON error, without tokenizing it', async () => {
    const before = tokenizerWorkTotals();
    const res = await request(h.api.app).post('/api/v1/route').send({ prompt: 'a'.repeat(BODY_LIMIT) });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toEqual(expect.any(String));
    expect(workSince(before)).toBe(0);
  });

  it('still answers a small route request normally after the large ones', async () => {
    const res = await request(h.api.app).post('/api/v1/route').send({ prompt: 'Hello, world!', max_tokens: 10 }).expect(200);
    expect(res.body.prompt_tokens).toBe(4);
  });
});

describe('other endpoints with hostile bodies near the limit', () => {
  // A model endpoint of dots: the host check once stripped trailing dots with /\.+$/, quadratic in
  // the run (tried from every dot), and zod runs refinements even after .max(2048) failed, so the
  // whole 1 MB string reached it. Now refused by length alone (a stall would fail on jest's timeout).
  it('refuses a 1 MB model endpoint by its length, and creates nothing', async () => {
    const endpoint = `http://a${'.'.repeat(PROMPT_BYTES - 1000)}b/`;
    const model = {
      id: 'hostile-endpoint',
      name: 'Hostile',
      provider: 'acme',
      input_price_per_1k: 0.001,
      output_price_per_1k: 0.002,
      context_window: 32_000,
      max_output_tokens: 4_000,
      capabilities: ['chat'],
      latency_ms: 300,
      endpoint,
    };
    const res = await request(h.api.app).post('/api/v1/models').set(ADMIN).send(model).expect(400);
    expect(JSON.stringify(res.body.error)).toContain('endpoint');
    await request(h.api.app).get('/api/v1/models/hostile-endpoint').expect(404);

    // Just under the length limit, the host check itself runs: a run of dots is refused or
    // accepted by its rules, not stalled on.
    const dots = await request(h.api.app).post('/api/v1/models').set(ADMIN).send({ ...model, endpoint: `http://a${'.'.repeat(2000)}b/` });
    expect([201, 400]).toContain(dots.status);
  });
});
